"""`Limiter`: a container's side of SPEC §13, between the request path and a `LimitsStore`.

Per request of a key (keys mode):
- `admit(principal, ctx)` before any upstream call. A key without limits returns at once, with
  no store call. A limited key: its view of the other regions (their minute items, every
  region's month item) is re-read when older than `health.sync_interval_s` (one `BatchGetItem`),
  then `windows.verdict` decides, then — for `rpm`/`tpm` — one conditional `ADD` on this
  region's minute item makes the count exact within the region. Refusals raise
  `KeyRateLimitExceeded` / `InsufficientQuota`; the `x-ratelimit-*` headers go in `ctx`.
- `account(ctx)` once the answer is done (its usage known, streams included): the request, its
  tokens and cost go into pending usage, written by the next flush (every `sync_interval_s`, like
  §6's counters: one `ADD` per (key, day, model), per budgeted month, per tpm minute). Pending
  minute tokens also ride on the key's next conditional `ADD`.

The store is advisory here too: every call the request waits on is bounded by `timeout_s`; on
a failure the request is served (logged, metric `LimitsUnavailable`) and no store call is made
until the next interval. A flush cut by the bound may still land, so its counts are not retried
(`ADD` is not idempotent); a flush the store refused is.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from .. import errors
from ..clock import Clock
from ..observability import LIMITS_UNAVAILABLE, Metrics
from . import windows as w
from .store import Add, LimitsStore, LimitsStoreError, WindowFull

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import RequestContext

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Keys whose windows a container remembers (least recently used ones are forgotten).
MAX_KEYS = 10_000
#: Distinct (key, day, model) usage rows held between flushes; past it new models count as
#: `other`, so made-up model names cannot grow memory.
MAX_PENDING_ROWS = 5_000
MAX_MODEL_CHARS = 64
OTHER_MODEL = "other"


@dataclass(slots=True)
class _KeyState:
    """What this container knows of one limited key's current windows."""

    limits: w.KeyLimits
    minute: str = ""
    own_requests: int = 0  # this region's minute item as the last conditional ADD returned it
    own_tokens: int = 0
    others_requests: int = 0  # the other regions' minute items, as last read
    others_tokens: int = 0
    month: str = ""
    month_spent: Decimal = w.ZERO_USD  # every region's month item, as last read
    unread_usd: Decimal = w.ZERO_USD  # cost recorded here since that read
    read_at: float = float("-inf")
    pending_tokens: int = 0  # tokens of `pending_minute` not yet written
    pending_minute: str = ""

    def roll(self, minute: str, month: str) -> None:
        if minute != self.minute:
            self.minute = minute
            self.own_requests = self.own_tokens = self.others_requests = self.others_tokens = 0
            self.read_at = float("-inf")
        if month != self.month:
            self.month, self.month_spent, self.unread_usd = month, w.ZERO_USD, w.ZERO_USD
            self.read_at = float("-inf")

    def usage(self) -> w.Usage:
        return w.Usage(
            requests=self.own_requests + self.others_requests,
            tokens=self.own_tokens + self.others_tokens
            + (self.pending_tokens if self.pending_minute == self.minute else 0),
            spent_usd=self.month_spent + self.unread_usd,
        )


@dataclass(slots=True)
class _Row:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = w.ZERO_USD


@dataclass(slots=True)
class _Pending:
    days: dict[tuple[str, str, str], _Row] = field(default_factory=dict)  # key, day, model
    months: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # key, month

    def __bool__(self) -> bool:
        return bool(self.days or self.months)


class Limiter:
    def __init__(
        self,
        store: LimitsStore,
        *,
        regions: tuple[str, ...],
        interval_s: float,
        timeout_s: float,
        clock: Clock,
        metrics: Metrics,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.store = store
        self.region = store.region
        self.others = tuple(r for r in dict.fromkeys(regions) if r != store.region)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.metrics = metrics
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()
        self._pending = _Pending()
        self._failed_until = float("-inf")
        self._next_flush = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures = 0

    # -- the request path ------------------------------------------------------------------
    async def admit(self, principal: Principal, ctx: RequestContext) -> None:
        """Refuse (raise) or admit one request of `principal`; sets `ctx.rate_headers` for a
        limited key. No store call, and nothing awaited, for a key without limits."""
        key_id, limits = principal.key_id, principal.limits
        ctx.key_id = key_id
        if key_id is None or limits is None or not limits.any:
            return
        now = self.clock.wall()
        state = self._state(key_id, limits)
        state.roll(w.minute_id(now), w.month_id(now))
        if now - state.read_at >= self.interval_s and self._available(now):
            await self._bounded(self._read(key_id, state, now))
        refusal = w.verdict(limits, state.usage())
        if refusal is None and limits.windowed:
            refusal = await self._count(key_id, state, now)
        ctx.rate_headers = w.rate_headers(limits, state.usage(), now)
        if refusal is w.Refusal.BUDGET:
            raise errors.InsufficientQuota()
        if refusal is w.Refusal.REQUESTS:
            raise errors.KeyRequestsExceeded(
                f"Rate limit reached for this API key: {limits.rpm} requests per minute.",
                retry_after_s=w.reset_s(now))
        if refusal is w.Refusal.TOKENS:
            raise errors.KeyTokensExceeded(
                f"Rate limit reached for this API key: {limits.tpm} tokens per minute.",
                retry_after_s=w.reset_s(now))

    async def _read(self, key_id: str, state: _KeyState, now: float) -> None:
        minutes = {r: w.minute_sk(state.minute, r) for r in self.others} if (
            state.limits.windowed) else {}
        months = [w.month_sk(state.month, r) for r in (self.region, *self.others)] if (
            state.limits.budget_usd > 0) else []
        unread_before = self._unwritten_usd(key_id, state.month)
        found = await self.store.read(key_id, [*minutes.values(), *months])
        seen = [found[sk] for sk in minutes.values() if sk in found]
        state.others_requests = sum(c.requests for c in seen)
        state.others_tokens = sum(c.tokens for c in seen)
        state.month_spent = sum((found[sk].cost_usd for sk in months if sk in found), w.ZERO_USD)
        state.unread_usd = unread_before
        state.read_at = now

    async def _count(self, key_id: str, state: _KeyState, now: float) -> w.Refusal | None:
        """The conditional ADD; without the store the request goes through (fail open: an outage
        never refuses traffic, so nothing is counted against the key meanwhile)."""
        limits = state.limits
        carried = state.pending_tokens if state.pending_minute == state.minute else 0
        if not self._available(now):
            return None
        request_cap = w.request_cap(limits, state.others_requests)
        token_cap = w.token_cap(limits, state.others_tokens)
        try:
            counts = await self._bounded(self.store.admit(
                key_id, w.minute_sk(state.minute, self.region),
                request_cap=request_cap, token_cap=token_cap, add_tokens=carried,
                expires_at=w.minute_expires_at(now),
            ), raise_full=True)
        except WindowFull as full:
            state.own_requests = max(state.own_requests, full.counts.requests)
            state.own_tokens = max(state.own_tokens, full.counts.tokens)
            if request_cap is not None and (request_cap <= 0
                                            or full.counts.requests >= request_cap):
                state.own_requests = max(state.own_requests, limits.rpm - state.others_requests)
                return w.Refusal.REQUESTS
            state.own_tokens = max(state.own_tokens, limits.tpm - state.others_tokens)
            return w.Refusal.TOKENS
        if counts is None:  # the store failed: served
            return None
        if carried and state.pending_minute == state.minute:
            state.pending_tokens -= carried
        state.own_requests, state.own_tokens = counts.requests, counts.tokens
        return None

    def account(self, ctx: RequestContext) -> None:
        """Add one finished request's usage (its tokens and cost as far as they are known).
        The one accounting call: `ctx` carries what the answer's dialect reported."""
        key_id = ctx.key_id
        if key_id is None or not ctx.admitted:
            return
        ctx.admitted = False  # accounted once, whichever way the request ended
        now = self.clock.wall()
        model = ctx.answered_model or ctx.usage_model or OTHER_MODEL  # after a model fallback
        if len(model) > MAX_MODEL_CHARS:
            model = OTHER_MODEL
        row_key = (key_id, w.day_id(now), model)
        days = self._pending.days
        if row_key not in days and len(days) >= MAX_PENDING_ROWS:
            row_key = (key_id, row_key[1], OTHER_MODEL)
        row = days.get(row_key)
        if row is None:
            row = days[row_key] = _Row()
        cost = ctx.cost_usd or w.ZERO_USD
        tokens = ctx.prompt_tokens + ctx.completion_tokens
        row.requests += 1
        row.prompt_tokens += ctx.prompt_tokens
        row.completion_tokens += ctx.completion_tokens
        row.cost_usd += cost
        state = self._keys.get(key_id)
        if state is not None:
            limits = state.limits
            if limits.tpm and tokens:
                minute = w.minute_id(now)
                if state.pending_minute != minute:
                    state.pending_minute, state.pending_tokens = minute, 0
                state.pending_tokens += tokens
            if limits.budget_usd > 0 and cost:
                month_key = (key_id, w.month_id(now))
                self._pending.months[month_key] = self._pending.months.get(
                    month_key, w.ZERO_USD) + cost
                state.unread_usd += cost
        self._schedule(now)

    # -- flushing ------------------------------------------------------------------------------
    def _schedule(self, now: float) -> None:
        if now >= self._next_flush:
            self._start_flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._next_flush - now, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        now = self.clock.wall()
        self._next_flush = now + self.interval_s
        adds = self._take(now)
        if not adds:
            return
        task = asyncio.get_running_loop().create_task(self._flush(adds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self, now: float) -> list[Add]:
        pending, self._pending = self._pending, _Pending()
        adds = [
            Add(key_id, w.day_sk(day, model, self.region), {
                "requests": row.requests, "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens, "cost_usd": row.cost_usd,
            }, w.day_expires_at(now))
            for (key_id, day, model), row in pending.days.items()
        ]
        adds += [
            Add(key_id, w.month_sk(month, self.region), {"cost_usd": cost},
                w.month_expires_at(now))
            for (key_id, month), cost in pending.months.items()
        ]
        for key_id, state in self._keys.items():
            if state.pending_tokens:
                adds.append(Add(key_id, w.minute_sk(state.pending_minute, self.region),
                                {"tokens": state.pending_tokens}, w.minute_expires_at(now)))
                if state.pending_minute == state.minute:  # on their way into our own item
                    state.own_tokens += state.pending_tokens
                state.pending_tokens = 0
        return adds

    async def _flush(self, adds: list[Add]) -> None:
        if not self._available(self.clock.wall()):
            self._restore(adds)
            return
        try:
            await asyncio.wait_for(self.store.add(adds), self.timeout_s)
        except LimitsStoreError as exc:
            self._restore(adds)
            self._fail(exc)
        except TimeoutError as exc:  # the writes may still land: never send them twice
            self._fail(exc)

    def _restore(self, adds: list[Add]) -> None:
        for add in adds:
            kind, _, rest = add.sk.partition("#")
            if kind == "day":
                parsed = w.parse_day_sk(add.sk)
                assert parsed is not None
                row = self._pending.days.setdefault((add.key_id, parsed[0], parsed[1]), _Row())
                row.requests += int(add.counts["requests"])
                row.prompt_tokens += int(add.counts["prompt_tokens"])
                row.completion_tokens += int(add.counts["completion_tokens"])
                row.cost_usd += Decimal(add.counts["cost_usd"])
            elif kind == "month":
                month_key = (add.key_id, rest.rpartition("#")[0])
                self._pending.months[month_key] = self._pending.months.get(
                    month_key, w.ZERO_USD) + Decimal(add.counts["cost_usd"])
            elif (state := self._keys.get(add.key_id)) is not None:
                minute = rest.rpartition("#")[0]
                if state.pending_minute == minute or not state.pending_tokens:
                    state.pending_minute = minute
                    state.pending_tokens += int(add.counts["tokens"])
                    if minute == state.minute:
                        state.own_tokens -= int(add.counts["tokens"])
        if self._timer is None:  # try again next interval even if no request comes
            self._timer = asyncio.get_running_loop().call_later(self.interval_s,
                                                                self._start_flush)

    def _unwritten_usd(self, key_id: str, month: str) -> Decimal:
        return self._pending.months.get((key_id, month), w.ZERO_USD)

    async def drain(self) -> None:
        """Wait for flushes under way (Lambda, before the invocation returns; tests)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def flush_now(self) -> None:
        """Write everything pending now (shutdown, tests)."""
        if self._timer is not None:
            self._timer.cancel()
        self._next_flush = float("-inf")
        self._start_flush()
        await self.drain()

    async def close(self) -> None:
        """Write what is pending (bounded), then release the store."""
        await self.flush_now()
        await self.store.close()

    # -- helpers -------------------------------------------------------------------------------
    def _state(self, key_id: str, limits: w.KeyLimits) -> _KeyState:
        state = self._keys.get(key_id)
        if state is None:
            state = self._keys[key_id] = _KeyState(limits)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            state.limits = limits
            self._keys.move_to_end(key_id)
        return state

    def _available(self, now: float) -> bool:
        return now >= self._failed_until

    async def _bounded(self, call: Awaitable[T], *, raise_full: bool = False) -> T | None:
        """`call` within `timeout_s`; None (and fail open) if the store fails or is slow."""
        try:
            return await asyncio.wait_for(call, self.timeout_s)
        except WindowFull:
            if raise_full:
                raise
            return None
        except (LimitsStoreError, TimeoutError) as exc:
            self._fail(exc)
            return None

    def _fail(self, exc: Exception) -> None:
        self.failures += 1
        self._failed_until = self.clock.wall() + self.interval_s
        self.metrics.event(LIMITS_UNAVAILABLE)
        log.warning("limits store unavailable (%s); serving without limits until the next "
                    "interval", exc if isinstance(exc, LimitsStoreError) else type(exc).__name__)
