"""The `LimitsStore` port (SPEC §13) that the memory and DynamoDB stores implement.

Items live under `pk = "usage#<key id>"` (a key id is the first 16 hex digits of the key's
SHA-256: enough to be unique, and no secret); sort keys are built by `limits/windows.py`. Every
write adds numbers (`ADD`): writers in one region merge, and no two regions write one item.

A store raises `LimitsStoreError` when it cannot answer and `WindowFull` when a conditional
admit finds the minute window full. It does not bound calls in time nor fail open: the
`Limiter` (`limits/limiter.py`) does both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

USAGE_PREFIX = "usage#"
#: Attributes a window or usage item may carry (all numbers, all written with `ADD`).
COUNTERS = ("requests", "tokens", "prompt_tokens", "completion_tokens", "cost_usd")


class LimitsStoreError(Exception):
    """The store could not be read or written."""


@dataclass(frozen=True, slots=True)
class Counts:
    """One item's counters (absent attributes read as 0)."""

    requests: int = 0
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


class WindowFull(Exception):
    """The conditional admit was refused: the minute item already holds `counts`."""

    def __init__(self, counts: Counts) -> None:
        super().__init__("the minute window is full")
        self.counts = counts


@dataclass(frozen=True, slots=True)
class Add:
    """`ADD` these counters to item (`usage#<key_id>`, `sk`) and set its `expires_at`."""

    key_id: str
    sk: str
    counts: Mapping[str, int | Decimal]
    expires_at: int


def usage_pk(key_id: str) -> str:
    return USAGE_PREFIX + key_id


class LimitsStore(Protocol):
    region: str

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
        """`ADD requests 1, tokens add_tokens` to this region's minute item if it holds fewer
        than `request_cap` requests and `token_cap` tokens (None: no condition); the item's new
        counts, or `WindowFull` with its current ones."""
        ...

    async def read(self, key_id: str, sks: Sequence[str]) -> dict[str, Counts]:
        """The live items among `sks` (by sort key); missing or expired ones are left out."""
        ...

    async def add(self, adds: Sequence[Add]) -> None:
        """Apply every `Add` (one write each); the first failure is raised once all end."""
        ...

    async def query(self, key_id: str, first: str, last: str) -> list[tuple[str, Counts]]:
        """Every live item of the key with `first <= sk <= last`, in sort-key order (a `Query`:
        the usage report; never a Scan)."""
        ...

    async def close(self) -> None:
        """Release clients."""
        ...
