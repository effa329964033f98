"""`KeysAuth`: 401s, principals, the lookup cache and failing stores (no I/O: a fake store)."""

from __future__ import annotations

import pytest

from edge_router import errors
from edge_router.clock import FakeClock
from edge_router.keys.auth import AuthUnavailable, KeysAuth
from edge_router.keys.store import KeyStoreError
from edge_router.keys.tokens import KeyRecord, hash_key

KEY = "sk-edge-" + "a" * 43


class FakeStore:
    """Counts lookups; `fail` makes the next lookups raise."""

    def __init__(self, *records: KeyRecord) -> None:
        self.records = {r.key_hash: r for r in records}
        self.calls: list[str] = []
        self.fail = False

    async def find(self, key_hash: str) -> KeyRecord | None:
        self.calls.append(key_hash)
        if self.fail:
            raise KeyStoreError("table unreachable")
        return self.records.get(key_hash)


def alice(models: tuple[str, ...] = ()) -> KeyRecord:
    return KeyRecord("alice", hash_key(KEY), 1.0, models)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "bearer "])
async def test_no_credential_is_missing_api_key(header: str | None) -> None:
    store = FakeStore(alice())
    with pytest.raises(errors.MissingApiKey):
        await KeysAuth(store, clock=FakeClock()).authenticate(header)
    assert store.calls == []


@pytest.mark.parametrize("token", ["sk-wrong", "not-a-key", "sk-edge-" + "x" * 300])
async def test_tokens_that_cannot_be_router_keys_are_refused_without_a_lookup(token: str) -> None:
    store = FakeStore(alice())
    with pytest.raises(errors.InvalidApiKey):
        await KeysAuth(store, clock=FakeClock()).authenticate(f"Bearer {token}")
    assert store.calls == []


async def test_valid_key_gives_its_name_and_models() -> None:
    auth = KeysAuth(FakeStore(alice(("gpt-4.1",))), clock=FakeClock())
    principal = await auth.authenticate(f"Bearer {KEY}")
    assert principal.name == "alice"
    assert principal.allows("gpt-4.1") and not principal.allows("claude-sonnet-4.5")
    assert principal.forward_authorization is None  # the client's key never goes upstream


async def test_unknown_key_is_invalid_and_looked_up_by_hash_only() -> None:
    store = FakeStore(alice())
    other = "sk-edge-" + "b" * 43
    with pytest.raises(errors.InvalidApiKey):
        await KeysAuth(store, clock=FakeClock()).authenticate(f"Bearer {other}")
    assert store.calls == [hash_key(other)]


async def test_hits_and_misses_are_cached_for_cache_s() -> None:
    clock = FakeClock()
    store = FakeStore(alice())
    auth = KeysAuth(store, clock=clock, cache_s=60)
    unknown = "sk-edge-" + "b" * 43
    for _ in range(3):
        await auth.authenticate(f"Bearer {KEY}")
        with pytest.raises(errors.InvalidApiKey):
            await auth.authenticate(f"Bearer {unknown}")
    assert len(store.calls) == 2
    clock.advance(61)
    await auth.authenticate(f"Bearer {KEY}")
    assert len(store.calls) == 3


async def test_revocation_reaches_a_warm_cache_after_cache_s() -> None:
    clock = FakeClock()
    store = FakeStore(alice())
    auth = KeysAuth(store, clock=clock, cache_s=60)
    await auth.authenticate(f"Bearer {KEY}")
    store.records.clear()  # revoked in the store
    await auth.authenticate(f"Bearer {KEY}")  # still cached
    clock.advance(60.5)
    with pytest.raises(errors.InvalidApiKey):
        await auth.authenticate(f"Bearer {KEY}")


async def test_without_cache_every_request_asks_the_store() -> None:
    store = FakeStore(alice())
    auth = KeysAuth(store, clock=FakeClock(), cache_s=0)
    for _ in range(3):
        await auth.authenticate(f"Bearer {KEY}")
    assert len(store.calls) == 3


async def test_store_failure_without_a_cached_answer_is_503_never_a_pass() -> None:
    store = FakeStore(alice())
    store.fail = True
    with pytest.raises(AuthUnavailable) as info:
        await KeysAuth(store, clock=FakeClock()).authenticate(f"Bearer {KEY}")
    assert info.value.status_code == 503
    assert info.value.headers() == {"retry-after": "1"}
    assert KEY not in info.value.message


async def test_store_failure_uses_a_stale_answer_for_a_bounded_time() -> None:
    clock = FakeClock()
    store = FakeStore(alice())
    auth = KeysAuth(store, clock=clock, cache_s=60, stale_s=300)
    await auth.authenticate(f"Bearer {KEY}")
    store.fail = True
    clock.advance(100)
    assert (await auth.authenticate(f"Bearer {KEY}")).name == "alice"
    clock.advance(261)  # over 300 s after the entry expired (at 60 s): no longer usable
    with pytest.raises(AuthUnavailable):
        await auth.authenticate(f"Bearer {KEY}")


async def test_cache_is_bounded() -> None:
    auth = KeysAuth(FakeStore(), clock=FakeClock(), max_entries=5)
    for i in range(20):
        with pytest.raises(errors.InvalidApiKey):
            await auth.authenticate(f"Bearer sk-edge-{i:043d}")
    assert len(auth._cache) == 5
