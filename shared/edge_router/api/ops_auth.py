"""Who may read the operator endpoints `/status`, `/dashboard` and `/metrics` (SPEC §15).

    guard = OpsGuard(config, auth=authenticator, token=ops_token(config, os.environ))
    await guard.check(request)        # raises NotFound / MissingApiKey / InvalidApiKey

In order:
1. `ops.endpoints: private` (the template's `OpsEndpoints` default, via
   `EDGE_ROUTER_OPS_ENDPOINTS`): 404, exactly as for an unknown path, so the public API does
   not even say they exist. `/health` and `/ready` are not ops endpoints and always answer.
2. `ops.token_env` set: `Authorization: Bearer <that token>`, compared in constant time; in
   keys mode a router key is *not* enough (a client's key must not show the fleet's health).
3. otherwise as before: open in passthrough mode, a router key in keys mode.

`/dashboard` itself is a static page holding no data (everything it shows comes from
`/status`), so only rules 1 and 3 apply to it with a token set: a browser cannot send a bearer
token when it navigates, and the page's key field takes the ops token for its `/status` calls.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from starlette.requests import Request

from .. import errors
from ..auth import Authenticator, bearer_token
from ..config import Config, ConfigError
from ..config.loader import env_source
from ..redaction import Redactor, default_redactor


def ops_token(
    config: Config, environ: Mapping[str, str], *, redactor: Redactor = default_redactor
) -> str | None:
    """The token `ops.token_env` names, read once at start (`ConfigError` if it is unset);
    registered with the log redactor like every other secret."""
    name = config.ops.token_env
    if not name:
        return None
    token = (environ.get(name) or "").strip()
    if not token:
        raise ConfigError("ops.token_env names it, but it is not set", source=env_source(name))
    if len(token) < 16:
        raise ConfigError(
            "ops.token_env names it, but its token is shorter than 16 characters",
            source=env_source(name),
        )
    redactor.add(token)
    return token


class OpsGuard:
    def __init__(self, config: Config, *, auth: Authenticator, token: str | None) -> None:
        self.private = config.ops.endpoints == "private"
        self.auth = auth
        self._token = token.encode() if token else None

    def visible(self, path: str) -> None:
        """Rule 1: raise the unknown-path 404 when ops endpoints are private."""
        if self.private:
            raise errors.NotFound(f"Unknown path: {path}")

    async def check(self, request: Request) -> None:
        """Every rule, for the data endpoints (`/status`, `/metrics`)."""
        self.visible(request.url.path)
        authorization = request.headers.get("authorization")
        if self._token is not None:
            token = bearer_token(authorization)
            if token is None:
                raise errors.MissingApiKey(
                    "This endpoint needs the operator token: send 'Authorization: Bearer <token>'."
                )
            if not hmac.compare_digest(token.encode(), self._token):
                raise errors.InvalidApiKey("Incorrect operator token provided.")
        elif self.auth.mode != "passthrough":
            await self.auth.authenticate(authorization)
