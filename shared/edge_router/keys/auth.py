"""`KeysAuth`: the `Authenticator` for keys mode (SPEC §7).

A request's bearer token is hashed and looked up; the record's model list becomes the
`Principal`'s. Unknown and revoked keys follow one path: the stores never return a revoked
record, and a miss still costs one constant-time comparison. Tokens that cannot be router keys
(no `sk-edge-` prefix, absurdly long) are refused before any lookup, which tells a caller nothing
it did not know: the format is public.

Lookups are cached for `cache_s` (60 s for the DynamoDB store; the file store needs none), hits and
misses alike, so neither a busy key nor a spray of made-up ones reads the table per request; the
price is that a revocation reaches a warm container within `cache_s`. If the store fails, a
cached answer up to `stale_s` past its expiry is used ("fail static"); with none, the request
gets 503 `auth_unavailable`: the router never lets a request through unchecked.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from .. import errors
from ..auth import Principal, bearer_token
from ..clock import Clock
from .store import KeyLookup, KeyStoreError
from .tokens import MAX_TOKEN_CHARS, PREFIX, KeyRecord, hash_key, key_id

log = logging.getLogger(__name__)

CACHE_S = 60.0
STALE_S = 300.0
MAX_ENTRIES = 10_000


class AuthUnavailable(errors.RouterError):
    """503: the key store cannot be read and no recent answer is cached."""

    status_code, error_type, code = 503, "server_error", "auth_unavailable"
    default_message = "The router cannot check API keys right now; retry shortly."


class KeysAuth:
    mode = "keys"

    def __init__(
        self,
        store: KeyLookup,
        *,
        clock: Clock,
        cache_s: float = CACHE_S,
        stale_s: float = STALE_S,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.store = store
        self.clock = clock
        self.cache_s = cache_s
        self.stale_s = stale_s
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, KeyRecord | None]] = OrderedDict()

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise errors.MissingApiKey()
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
            raise errors.InvalidApiKey()
        record = await self.lookup(hash_key(token))
        if record is None:
            log.debug("refused an unknown or revoked router key")
            raise errors.InvalidApiKey()
        return Principal(
            name=record.name, models=frozenset(record.models), key_id=key_id(record.key_hash),
            limits=record.limits if record.limits.any else None,
        )

    async def lookup(self, key_hash: str) -> KeyRecord | None:
        now = self.clock.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            record = await self.store.find(key_hash)
        except KeyStoreError as exc:
            # A stale answer is not re-cached: its expiry stays, so staleness is bounded.
            if cached is not None and cached[0] + self.stale_s > now:
                log.warning("key store failed (%s); using a cached answer", exc)
                return cached[1]
            log.error("key store failed (%s); refusing the request", exc)
            raise AuthUnavailable(retry_after_s=1) from exc
        if self.cache_s > 0:
            self._remember(key_hash, now + self.cache_s, record)
        return record

    def _remember(self, key_hash: str, expires: float, record: KeyRecord | None) -> None:
        self._cache[key_hash] = (expires, record)
        self._cache.move_to_end(key_hash)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
