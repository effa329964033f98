"""Client credentials (SPEC §7). `PassthroughAuth` forwards the client's Authorization upstream;
keys mode (`keys/`, built by `keys.build.build_auth`) checks router keys and supplies the
upstream keys itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .errors import MissingApiKey
from .limits.windows import KeyLimits


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. `forward_authorization` is sent upstream as is (passthrough mode)."""

    name: str
    models: frozenset[str] = frozenset()  # empty = every model
    forward_authorization: str | None = None
    key_id: str | None = None  # keys mode: the key's id (first 16 hex digits of its hash)
    limits: KeyLimits | None = None  # keys mode: rpm, tpm, budget_usd (SPEC §13)

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models


class Authenticator(Protocol):
    mode: str

    async def authenticate(self, authorization: str | None) -> Principal: ...


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <token>`; None when absent or empty (an empty Bearer counts as none)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return authorization.strip() or None
    return token.strip() or None


class PassthroughAuth:
    mode = "passthrough"

    async def authenticate(self, authorization: str | None) -> Principal:
        if bearer_token(authorization) is None:
            raise MissingApiKey()
        return Principal(name="client", forward_authorization=authorization)
