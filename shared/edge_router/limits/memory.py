"""The in-memory limits store: `serve`'s default, and the reference for the contract tests.

Stores built on one `MemoryLimitsTable` share items, as two regions share one global table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from decimal import Decimal

from .store import Add, Counts, WindowFull, usage_pk

_NUMBERS = tuple(f.name for f in fields(Counts))


class MemoryLimitsTable:
    """Items keyed by (pk, sk), each with its `expires_at`."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[Counts, int]] = {}


class MemoryLimitsStore:
    def __init__(
        self,
        region: str,
        *,
        table: MemoryLimitsTable | None = None,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.region = region
        self.table = table or MemoryLimitsTable()
        self._wall = wall or time.time

    def _get(self, key_id: str, sk: str) -> Counts | None:
        found = self.table.items.get((usage_pk(key_id), sk))
        if found is None or found[1] <= self._wall():
            return None
        return found[0]

    def _add(self, key_id: str, sk: str, counts: dict[str, int | Decimal], expires_at: int) -> Counts:
        old = self._get(key_id, sk) or Counts()
        changes = {name: getattr(old, name) + value for name, value in counts.items()}
        new = replace(old, **changes)
        self.table.items[(usage_pk(key_id), sk)] = (new, expires_at)
        return new

    async def admit(
        self,
        key_id: str,
        sk: str,
        *,
        request_cap: int | None,
        token_cap: int | None,
        add_tokens: int,
        expires_at: int,
    ) -> Counts:
        old = self._get(key_id, sk) or Counts()
        if (request_cap is not None and old.requests >= request_cap) or (
            token_cap is not None and old.tokens >= token_cap
        ):
            raise WindowFull(old)
        return self._add(key_id, sk, {"requests": 1, "tokens": add_tokens}, expires_at)

    async def read(self, key_id: str, sks: Sequence[str]) -> dict[str, Counts]:
        return {sk: found for sk in sks if (found := self._get(key_id, sk)) is not None}

    async def add(self, adds: Sequence[Add]) -> None:
        for add in adds:
            unknown = set(add.counts) - set(_NUMBERS)
            if unknown:
                raise ValueError(f"unknown counters {sorted(unknown)}")
            self._add(add.key_id, add.sk, dict(add.counts), add.expires_at)

    async def query(self, key_id: str, first: str, last: str) -> list[tuple[str, Counts]]:
        pk = usage_pk(key_id)
        keys = sorted(sk for (p, sk) in self.table.items if p == pk and first <= sk <= last)
        return [(sk, found) for sk in keys if (found := self._get(key_id, sk)) is not None]

    async def close(self) -> None:
        return None
