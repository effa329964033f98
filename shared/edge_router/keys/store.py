"""The `KeyStore` port and the local JSON file store that `edge-router serve` uses.

Both stores answer `find(key_hash)` with the active record or None, and a revoked key is simply
absent from what `find` searches: unknown and revoked keys take one code path and one time.
Administration (`create`, `records`, `revoke`) is synchronous: only the CLI calls it.

The file (`auth.keys_file`, mode 0600) holds names, hashes, creation times and model lists,
never a key. It is rewritten whole through a temporary file and `os.replace`, so a reader sees the
old or the new version, never half of one; the router re-reads it when it changes, so
`keys create` and `keys revoke` take effect on a running `serve` at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from ..limits.windows import KeyLimits
from .tokens import KeyRecord, check_name, is_hash, same_hash

FILE_VERSION = 1


class KeyStoreError(Exception):
    """The store cannot be read or written. Messages never carry a key."""


class KeyExists(KeyStoreError):
    pass


class KeyNotFound(KeyStoreError):
    pass


class KeyLookup(Protocol):
    """What the router needs of a store: `KeysAuth` takes one."""

    async def find(self, key_hash: str) -> KeyRecord | None:
        """The active record whose hash is `key_hash`, or None (unknown and revoked alike)."""
        ...


class KeyStore(KeyLookup, Protocol):
    """A `KeyLookup` that the CLI can administer."""

    def create(self, record: KeyRecord) -> None:
        """Add a key; `KeyExists` if an active key has this name."""
        ...

    def records(self) -> list[KeyRecord]:
        """Every key, revoked ones included, oldest first."""
        ...

    def revoke(self, name: str, *, at: float) -> KeyRecord:
        """Revoke the active key called `name`; `KeyNotFound` if there is none."""
        ...

    def update_limits(self, name: str, limits: KeyLimits) -> KeyRecord:
        """Set the active key `name`'s rpm, tpm and budget; `KeyNotFound` if there is none."""
        ...


def parse_limits(rpm: object, tpm: object, budget_usd: object) -> KeyLimits:
    """`KeyLimits` from stored values (absent = 0); `ValueError` for a negative or odd one."""
    try:
        limits = KeyLimits(
            rpm=int(str(rpm or 0)), tpm=int(str(tpm or 0)),
            budget_usd=Decimal(str(budget_usd or 0)),
        )
    except (InvalidOperation, ValueError) as exc:
        raise ValueError("rpm, tpm and budget_usd must be numbers") from exc
    if limits.rpm < 0 or limits.tpm < 0 or not limits.budget_usd.is_finite() or (
        limits.budget_usd < 0
    ):
        raise ValueError("rpm, tpm and budget_usd must not be negative")
    return limits


def _record(raw: Any, where: str) -> KeyRecord:
    if not isinstance(raw, dict):
        raise KeyStoreError(f"{where}: not an object")
    try:
        record = KeyRecord(
            name=check_name(str(raw["name"])),
            key_hash=str(raw["sha256"]),
            created_at=float(raw["created_at"]),
            models=tuple(str(m) for m in raw.get("models") or ()),
            revoked_at=None if raw.get("revoked_at") is None else float(raw["revoked_at"]),
            limits=parse_limits(raw.get("rpm"), raw.get("tpm"), raw.get("budget_usd")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyStoreError(f"{where}: malformed entry ({type(exc).__name__})") from exc
    if not is_hash(record.key_hash):
        raise KeyStoreError(f"{where}.sha256: not a SHA-256 hex digest")
    return record


def _raw(record: KeyRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "sha256": record.key_hash,
        "created_at": record.created_at,
        "models": list(record.models),
        "revoked_at": record.revoked_at,
        "rpm": record.limits.rpm,
        "tpm": record.limits.tpm,
        "budget_usd": str(record.limits.budget_usd),  # a string: exact, no float rounding
    }


class FileKeyStore:
    """Router keys in a local JSON file (`auth.keys_file`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._all: list[KeyRecord] = []
        self._active: list[KeyRecord] = []

    def exists(self) -> bool:
        return self.path.is_file()

    def _load(self) -> list[KeyRecord]:
        """The file's records, re-read only when its inode, size or mtime changed."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._all, self._active = None, [], []
            return self._all
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot read ({exc.strerror})") from exc
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return self._all
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot read ({exc.strerror})") from exc
        except ValueError as exc:
            raise KeyStoreError(f"{self.path}: not valid JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise KeyStoreError(f"{self.path}: expected an object with a 'keys' list")
        records = [_record(raw, f"{self.path}: keys[{i}]") for i, raw in enumerate(data["keys"])]
        self._stamp, self._all = stamp, records
        self._active = [r for r in records if r.active]
        return records

    async def find(self, key_hash: str) -> KeyRecord | None:
        self._load()
        found: KeyRecord | None = None
        # Every active hash is compared, in constant time, whichever one matches.
        for record in self._active:
            if same_hash(record.key_hash, key_hash):
                found = record
        return found

    def records(self) -> list[KeyRecord]:
        return sorted(self._load(), key=lambda r: r.created_at)

    def create(self, record: KeyRecord) -> None:
        records = self._load()
        if any(r.name == record.name and r.active for r in records):
            raise KeyExists(f"an active key named {record.name!r} exists; revoke it first")
        self._write([*records, record])

    def revoke(self, name: str, *, at: float) -> KeyRecord:
        return self._change(name, revoked_at=at)

    def update_limits(self, name: str, limits: KeyLimits) -> KeyRecord:
        return self._change(name, limits=limits)

    def _change(self, name: str, **changes: object) -> KeyRecord:
        records = self._load()
        for i, record in enumerate(records):
            if record.name == name and record.active:
                changed = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
                self._write([*records[:i], changed, *records[i + 1:]])
                return changed
        raise KeyNotFound(f"no active key named {name!r}")

    def _write(self, records: list[KeyRecord]) -> None:
        body = json.dumps(
            {"version": FILE_VERSION, "hash": "sha256", "keys": [_raw(r) for r in records]},
            indent=2,
        )
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
                    out.write(body + "\n")
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot write ({exc.strerror})") from exc
        self._stamp = None
