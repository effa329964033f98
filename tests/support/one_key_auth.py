"""`OneKeyAuth`: keys mode with a single valid router key, for tests of what a key opens."""

from __future__ import annotations

from edge_router.auth import Principal, bearer_token
from edge_router.errors import InvalidApiKey, MissingApiKey


class OneKeyAuth:
    mode = "keys"

    def __init__(self, key: str) -> None:
        self.key = key

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise MissingApiKey()
        if token != self.key:
            raise InvalidApiKey()
        return Principal(name="client")
