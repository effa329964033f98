"""`RouterService`: where the pure routing core meets I/O.

For each request it walks the model chain (`routing.chain`: the model, then its fallbacks), and
for each model ranks the upstreams that serve it and sends attempts through the
`UpstreamClient`; `AnswerReader` (`answers.py`) classifies each answer with `routing.outcome`
and feeds the breaker in the `UpstreamRegistry`. It returns a `Reply` or raises a `RouterError`
(SPEC §5, §12).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable

from . import errors
from .answers import AnswerReader, Call, Tally, attempt_failure
from .clock import Clock
from .config import Config
from .context import RequestContext
from .health.sync import HealthSync
from .observability import RETRY_BUDGET_EXHAUSTED, Metrics
from .pricing import PriceBook
from .registry import UpstreamRegistry, UpstreamState
from .reply import Reply
from .routing import breaker as br
from .routing.chain import Ending, model_chain, next_model
from .routing.ranking import next_choice, order
from .routing.retry import RetryBudget, full_jitter
from .upstream.client import UpstreamClient
from .upstream.errors import AttemptError, DeadlineCut


class _AllRateLimited(errors.RateLimited):
    """Every attempt for one model was rate-limited. `reply` is the last upstream's own 429
    (with a JSON body) if there was one: the answer, unless a fallback model answers."""

    def __init__(self, reply: Reply | None, wait_s: float) -> None:
        super().__init__(retry_after_s=max(wait_s, 1.0))
        self.reply = reply
        self.wait_s = wait_s


#: How a router error ends one model's attempts, for the fallback decision.
_ENDINGS: dict[type[errors.RouterError], Ending] = {
    errors.AllUpstreamsFailed: Ending.FAILED,
    errors.NoUpstreamAvailable: Ending.UNAVAILABLE,
    errors.RateLimited: Ending.RATE_LIMITED,
    _AllRateLimited: Ending.RATE_LIMITED,
    errors.ModelNotFound: Ending.NOT_SERVED,
    errors.DeadlineExceeded: Ending.DEADLINE,
}


class RouterService(AnswerReader):
    def __init__(
        self,
        config: Config,
        *,
        client: UpstreamClient,
        registry: UpstreamRegistry,
        clock: Clock,
        metrics: Metrics,
        prices: PriceBook,
        sync: HealthSync | None = None,
        rng: random.Random | None = None,
        upstream_auth: Callable[[str], str | None] | None = None,
        buffered_streams: bool = False,
    ) -> None:
        self.config = config
        self.routing = config.routing
        self.client = client
        self.registry = registry
        self.clock = clock
        self.metrics = metrics
        self.prices = prices
        self.sync = sync
        self.rng = rng or random.Random()
        self.upstream_auth = upstream_auth
        self.buffered_streams = buffered_streams
        self.budget = RetryBudget(
            ratio=self.routing.retry_budget, min_per_s=self.routing.retry_budget_min_per_s
        )
        if sync is not None:  # the region's requests and retries, from the table's counters
            sync.on_region_counts = self.budget.record_region

    # -- the model chain and the attempt loop --------------------------------------------------
    async def forward(self, call: Call, ctx: RequestContext) -> Reply:
        if self.sync is not None and self.sync.due(self.clock.wall()):
            before = self.clock.monotonic()
            await self.sync.maybe_sync()
            ctx.waited_s += self.clock.monotonic() - before
        if call.model is not None and not self.registry.serving(call.model):
            raise errors.ModelNotFound(
                f"No upstream serves the model '{call.model}'.", param="model"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.routing.deadline_s
        self.budget.record_request(self.clock.wall())
        if call.model is None:
            try:
                return await self._forward_model(call, None, ctx, deadline)
            except _AllRateLimited as exc:
                return self._rate_limited(ctx, exc)
        chain = model_chain(call.model, self.config.model_fallbacks,
                            max_fallbacks=self.routing.max_model_fallbacks)
        if call.allowed_models:  # a key limited to some models never falls back to others
            chain = tuple(m for m in chain if m in call.allowed_models)
        position = 0
        failure: errors.RouterError | None = None  # the last model's error that moved on
        while True:
            try:
                return await self._forward_model(call, chain[position], ctx, deadline)
            except errors.RouterError as exc:
                ending = _ENDINGS.get(type(exc), Ending.ANSWERED)
                following = next_model(chain, position, ending, now=loop.time(),
                                       deadline=deadline)
                if ending is Ending.NOT_SERVED and failure is not None:
                    exc = failure  # a fallback nobody serves: the earlier failure stands
                if following is None:
                    return self._give_up(ctx, exc)
                if ending is not Ending.NOT_SERVED:
                    # one retry budget for the whole chain: moving on to a model is a retry
                    if not self.budget.try_spend(self.clock.wall()):
                        self._budget_exhausted(ctx)
                        return self._give_up(ctx, exc)
                    failure = exc
                position = following

    async def _forward_model(
        self, call: Call, model: str | None, ctx: RequestContext, deadline: float
    ) -> Reply:
        """Up to `max_attempts` attempts for one model of the chain (None: a stateful call)."""
        serving = self.registry.serving(model) if model is not None else self.registry.every
        if not serving:
            raise errors.ModelNotFound(f"No upstream serves the model '{model}'.", param="model")
        loop = asyncio.get_running_loop()
        tried: dict[str, int] = {}
        tally = Tally()
        attempts = 0
        while attempts - len(tally.not_found_ids) < self.routing.max_attempts:
            now = self.clock.wall()
            candidates = self.registry.candidates(serving, now, scope=call.rate_scope)
            if tally.not_found_ids:
                candidates = [c for c in candidates if c.id not in tally.not_found_ids]
            first = None
            if self.routing.strategy == "weighted" and not tried:
                first = self.registry.weighted_pick(candidates, now)
            ranked = order(
                self.routing.strategy, candidates, now=now,
                failover=self.registry.failover, weighted_first=first,
            )
            if not ranked:
                limited = [c.rate_limited_until for c in candidates if c.usable
                           and c.rate_limited_until > now]
                if not limited:
                    if attempts == 0:
                        raise self._all_open(serving, now)
                    break
                wait = min(limited) - now
                if wait > self.routing.retry_after_max_s or loop.time() + wait >= deadline:
                    raise _AllRateLimited(tally.limited_reply, wait)
                await self._sleep(wait, ctx)
                continue
            upstream_id, repeat = next_choice(ranked, tried)
            if attempts and not tally.moved_on_404 and not self._may_retry(tally, now):
                self._budget_exhausted(ctx)
                break
            if repeat:
                delay = full_jitter(repeat - 1, base_s=self.routing.backoff_base_s,
                                    cap_s=self.routing.backoff_cap_s, rng=self.rng)
                if loop.time() + delay >= deadline:
                    break
                await self._sleep(delay, ctx)
            token = self.registry.begin(upstream_id, self.clock.wall())
            tried[upstream_id] = repeat + 1
            if token is None:
                continue  # its half-open trial slot was taken meanwhile
            ctx.attempts += 1
            attempts += 1
            if ctx.attempts > 1:  # a retry or a failover: the region's budget counts it (§14)
                self.registry.count_retry(upstream_id)
            tally.last_upstream = upstream_id
            tally.moved_on_404 = False
            reply = await self._attempt(call, model, ctx, upstream_id, token, deadline, tally)
            if reply is not None:
                return reply
        if tally.not_found is not None and not tally.failed and not tally.limited:
            ctx.upstream = tally.not_found.upstream
            return tally.not_found  # no upstream holds it
        if tally.rejected and not tally.failed:
            ctx.error_class = "client_error"
            raise errors.UpstreamRejected(tally.rejected_status, f"The upstream refused the "
                                          f"request; last error: {tally.last_error}.")
        if tally.limited and not tally.failed:
            now = self.clock.wall()
            # the soonest of the marks: an upstream never tried (or not limited) is no sooner
            marks = [c.rate_limited_until
                     for c in self.registry.candidates(serving, now, scope=call.rate_scope)
                     if c.rate_limited_until > now]
            raise _AllRateLimited(tally.limited_reply, min(marks, default=now) - now)
        ctx.error_class = tally.last_class
        raise errors.AllUpstreamsFailed(
            f"All {attempts} upstream attempt(s) failed; last error: {tally.last_error}."
        )

    @staticmethod
    def _give_up(ctx: RequestContext, exc: errors.RouterError) -> Reply:
        """The chain ends with `exc`: raised, or for an all-429 the upstream's own answer."""
        if isinstance(exc, _AllRateLimited):
            return RouterService._rate_limited(ctx, exc)
        raise exc

    @staticmethod
    def _rate_limited(ctx: RequestContext, exc: _AllRateLimited) -> Reply:
        """Answer 429 with the soonest `Retry-After`: the last upstream's own 429 body when
        there is one (an `insufficient_quota` must stay visible to the SDK), else ours."""
        reply = exc.reply
        if reply is None:
            raise errors.RateLimited(retry_after_s=max(exc.wait_s, 1.0)) from None
        ctx.upstream = reply.upstream
        ctx.error_class = "rate_limited"
        reply.headers.append(("retry-after", str(max(1, math.ceil(exc.wait_s)))))
        return reply

    def _may_retry(self, tally: Tally, now: float) -> bool:
        """The retry budget guards against amplifying a brown-out. A failover away from an
        upstream whose circuit has just opened is routing around a dead upstream, not
        amplification, so it is not charged: a burst that meets a freshly dead upstream still
        fails over every request, while a brown-out (no circuit opens) stays within budget."""
        last = tally.last_upstream
        if last is not None and self.registry.state_of(last, now) is br.State.OPEN:
            return True
        return self.budget.try_spend(now)

    async def _attempt(
        self, call: Call, model: str | None, ctx: RequestContext, upstream_id: str, token: int,
        deadline: float, tally: Tally,
    ) -> Reply | None:
        upstream = self.registry.states[upstream_id].upstream
        headers = call.headers
        if self.upstream_auth is not None:
            key = self.upstream_auth(upstream_id)
            if key is not None:
                name, value = call.wire.upstream_key(key)
                headers = {**headers, name: value}
        upstream_model = upstream.model_map.get(model, model) if model is not None else None
        started = self.clock.monotonic()
        try:
            response = await self.client.send(
                upstream.base_url + call.path, method=call.method,
                body=call.body_for(upstream_model), headers=headers, stream=call.stream,
                deadline=deadline,
            )
        except DeadlineCut as exc:
            ctx.waited_s += self.clock.monotonic() - started
            # Neutral when our deadline ran out waiting (SPEC §5); but an upstream whose body
            # trickles past the deadline after its headers is failing, and must count, or a
            # trickling home upstream would take every request while its circuit stays closed.
            result = br.Result.SOFT_FAILURE if exc.after_headers else br.Result.NEUTRAL
            self._record(upstream_id, token, result, str(exc))
            ctx.error_class = "timeout"
            raise errors.DeadlineExceeded() from exc
        except AttemptError as exc:
            ctx.waited_s += self.clock.monotonic() - started
            tally.failed += 1
            tally.last_error = f"{upstream_id}: {exc}"
            tally.last_class = exc.error_class
            self._record(upstream_id, token, attempt_failure(exc), str(exc))
            return None
        ctx.waited_s += self.clock.monotonic() - started
        return await self._answer(call, model, ctx, upstream_id, token, response, tally)

    def _budget_exhausted(self, ctx: RequestContext) -> None:
        if not ctx.budget_exhausted:
            ctx.budget_exhausted = True
            self.metrics.event(RETRY_BUDGET_EXHAUSTED)

    async def _sleep(self, seconds: float, ctx: RequestContext) -> None:
        ctx.waited_s += seconds
        await asyncio.sleep(seconds)

    @staticmethod
    def _all_open(serving: tuple[UpstreamState, ...], now: float) -> errors.RouterError:
        soonest = min((s.breaker.open_until for s in serving), default=now)
        return errors.NoUpstreamAvailable(retry_after_s=max(soonest - now, 1.0))


