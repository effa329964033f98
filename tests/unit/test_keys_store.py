"""Router keys: generation, hashing, and the local JSON file store."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from edge_router.keys.store import FileKeyStore, KeyExists, KeyNotFound, KeyStoreError
from edge_router.keys.tokens import (
    PREFIX,
    KeyRecord,
    check_name,
    generate_key,
    hash_key,
    same_hash,
)


def record(name: str, key: str, *, models: tuple[str, ...] = (), at: float = 1.0) -> KeyRecord:
    return KeyRecord(name, hash_key(key), at, models)


def test_keys_are_prefixed_random_and_long() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(PREFIX)
        assert len(key) == len(PREFIX) + 43  # 32 random bytes, URL-safe base64


def test_hash_is_sha256_hex_of_the_key() -> None:
    assert hash_key("sk-edge-abc") == hashlib.sha256(b"sk-edge-abc").hexdigest()


def test_same_hash_needs_a_stored_hash() -> None:
    h = hash_key("sk-edge-a")
    assert same_hash(h, h)
    assert not same_hash(hash_key("sk-edge-b"), h)
    assert not same_hash(None, "0" * 64)  # the dummy never matches


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "ä", "a/b"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name)


async def test_file_store_finds_active_keys_by_hash(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys.json")
    store.create(record("alice", "sk-edge-alice", models=("gpt-4.1",)))
    store.create(record("bob", "sk-edge-bob", at=2.0))
    found = await store.find(hash_key("sk-edge-alice"))
    assert found is not None and found.name == "alice" and found.models == ("gpt-4.1",)
    assert (await store.find(hash_key("sk-edge-bob"))) is not None
    assert (await store.find(hash_key("sk-edge-carol"))) is None
    assert [r.name for r in store.records()] == ["alice", "bob"]


async def test_file_holds_no_plaintext_key_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = generate_key()
    FileKeyStore(path).create(record("alice", key))
    text = path.read_text()
    assert key not in text and key[len(PREFIX):] not in text
    assert json.loads(text)["keys"][0]["sha256"] == hash_key(key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_revoked_key_is_as_absent_as_an_unknown_one(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys.json")
    store.create(record("alice", "sk-edge-alice"))
    revoked = store.revoke("alice", at=5.0)
    assert revoked.revoked_at == 5.0
    assert (await store.find(hash_key("sk-edge-alice"))) is None
    assert store.records()[0].revoked_at == 5.0
    with pytest.raises(KeyNotFound):
        store.revoke("alice", at=6.0)
    store.create(record("alice", "sk-edge-alice-2"))  # the name is free again
    assert (await store.find(hash_key("sk-edge-alice-2"))) is not None


def test_duplicate_active_name_is_refused(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys.json")
    store.create(record("alice", "sk-edge-1"))
    with pytest.raises(KeyExists):
        store.create(record("alice", "sk-edge-2"))


async def test_a_running_reader_sees_changes_by_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    reader, writer = FileKeyStore(path), FileKeyStore(path)
    assert (await reader.find(hash_key("sk-edge-a"))) is None  # no file yet: nothing found
    writer.create(record("a", "sk-edge-a"))
    assert (await reader.find(hash_key("sk-edge-a"))) is not None
    writer.revoke("a", at=2.0)
    assert (await reader.find(hash_key("sk-edge-a"))) is None


@pytest.mark.parametrize("text", [
    "not json",
    "[]",
    '{"keys": [{"name": "a"}]}',
    '{"keys": [{"name": "a", "sha256": "sk-edge-plaintext", "created_at": 1}]}',
])
async def test_corrupt_file_is_a_store_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(text)
    with pytest.raises(KeyStoreError) as info:
        await FileKeyStore(path).find(hash_key("sk-edge-a"))
    assert "sk-edge-plaintext" not in str(info.value)
