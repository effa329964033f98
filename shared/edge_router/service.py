"""`RouterService`: where the pure routing core meets I/O.

For each request it ranks the upstreams that serve the model, sends attempts through the
`UpstreamClient`, classifies each answer with `routing.outcome`, feeds results to the breaker in
the `UpstreamRegistry`, and either returns a `Reply` or raises a `RouterError` (SPEC §5).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import orjson

from . import errors
from .clock import Clock
from .config import Config
from .context import RequestContext
from .health.sync import HealthSync
from .observability import (
    CIRCUIT_OPENED,
    RATE_LIMITED,
    RETRY_BUDGET_EXHAUSTED,
    UPSTREAM_AUTH_FAILED,
    Metrics,
)
from .pricing import PriceBook
from .registry import UpstreamRegistry, UpstreamState
from .reply import Reply, relay_stream, response_headers, usage_from_sse
from .routing import breaker as br
from .routing.outcome import Outcome, classify, is_json_type
from .routing.ranking import next_choice, order
from .routing.retry import RetryBudget, full_jitter, retry_after_s
from .upstream.client import UpstreamClient, UpstreamResponse
from .upstream.errors import AnswerTooLarge, AttemptError, DeadlineCut

log = logging.getLogger(__name__)

_RESULT = {
    Outcome.SUCCESS: br.Result.SUCCESS,
    Outcome.PASS_THROUGH: br.Result.SUCCESS,
    Outcome.AUTH_FAILED: br.Result.SUCCESS,
    Outcome.RATE_LIMITED: br.Result.NEUTRAL,
    Outcome.REJECTED: br.Result.NEUTRAL,  # the client's request caused it (SPEC §5)
    Outcome.FAILED: br.Result.SOFT_FAILURE,
    Outcome.HARD_FAILED: br.Result.HARD_FAILURE,
    Outcome.DEADLINE: br.Result.NEUTRAL,
}


@dataclass(frozen=True, slots=True)
class Call:
    """One client request as routing needs it; `body` goes upstream byte for byte."""

    path: str  # below /v1, e.g. "/chat/completions"
    method: str
    body: bytes | None
    model: str
    stream: bool
    headers: Mapping[str, str]
    #: the credential that goes upstream in passthrough mode: a 429 then marks only
    #: (upstream, this credential); None in keys mode (one upstream key: the mark is upstream-wide)
    rate_scope: str | None = None


@dataclass(slots=True)
class _Tally:
    """How the attempts of one request went."""

    failed: int = 0
    limited: int = 0
    rejected: int = 0  # non-JSON 4xx answers (a proxy's or WAF's page)
    rejected_status: int = 0
    limited_reply: Reply | None = None  # the last upstream 429 with a JSON body
    last_error: str | None = None
    last_upstream: str | None = None
    last_class: str = "upstream_5xx"  # the ErrorClass of the last failure


class RouterService:
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

    # -- the attempt loop ----------------------------------------------------------------------
    async def forward(self, call: Call, ctx: RequestContext) -> Reply:
        if self.sync is not None and self.sync.due(self.clock.wall()):
            before = self.clock.monotonic()
            await self.sync.maybe_sync()
            ctx.waited_s += self.clock.monotonic() - before
        serving = self.registry.serving(call.model)
        if not serving:
            raise errors.ModelNotFound(
                f"No upstream serves the model '{call.model}'.", param="model"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.routing.deadline_s
        self.budget.record_request(self.clock.wall())
        tried: dict[str, int] = {}
        tally = _Tally()
        while ctx.attempts < self.routing.max_attempts:
            now = self.clock.wall()
            candidates = self.registry.candidates(serving, now, scope=call.rate_scope)
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
                    if ctx.attempts == 0:
                        raise self._all_open(serving, now)
                    break
                wait = min(limited) - now
                if wait > self.routing.retry_after_max_s or loop.time() + wait >= deadline:
                    return self._rate_limited(ctx, tally, wait)
                await self._sleep(wait, ctx)
                continue
            upstream_id, repeat = next_choice(ranked, tried)
            if ctx.attempts and not self._may_retry(tally, now):
                self.metrics.event(RETRY_BUDGET_EXHAUSTED)
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
            tally.last_upstream = upstream_id
            reply = await self._attempt(call, ctx, upstream_id, token, deadline, tally)
            if reply is not None:
                return reply
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
            return self._rate_limited(ctx, tally, min(marks, default=now) - now)
        ctx.error_class = tally.last_class
        raise errors.AllUpstreamsFailed(
            f"All {ctx.attempts} upstream attempt(s) failed; last error: {tally.last_error}."
        )

    @staticmethod
    def _rate_limited(ctx: RequestContext, tally: _Tally, wait_s: float) -> Reply:
        """Answer 429 with the soonest `Retry-After`: the last upstream's own 429 body when
        there is one (an `insufficient_quota` must stay visible to the SDK), else ours."""
        reply = tally.limited_reply
        if reply is None:
            raise errors.RateLimited(retry_after_s=max(wait_s, 1.0))
        ctx.upstream = reply.upstream
        ctx.error_class = "rate_limited"
        reply.headers.append(("retry-after", str(max(1, math.ceil(wait_s)))))
        return reply

    def _may_retry(self, tally: _Tally, now: float) -> bool:
        """The retry budget guards against amplifying a brown-out. A failover away from an
        upstream whose circuit has just opened is routing around a dead upstream, not
        amplification, so it is not charged: a burst that meets a freshly dead upstream still
        fails over every request, while a brown-out (no circuit opens) stays within budget."""
        last = tally.last_upstream
        if last is not None and self.registry.state_of(last, now) is br.State.OPEN:
            return True
        return self.budget.try_spend(now)

    async def _attempt(
        self, call: Call, ctx: RequestContext, upstream_id: str, token: int,
        deadline: float, tally: _Tally,
    ) -> Reply | None:
        upstream = self.registry.states[upstream_id].upstream
        headers = call.headers
        if self.upstream_auth is not None:
            key = self.upstream_auth(upstream_id)
            if key is not None:
                headers = {**headers, "authorization": f"Bearer {key}"}
        started = self.clock.monotonic()
        try:
            response = await self.client.send(
                upstream.base_url + call.path, method=call.method, body=call.body,
                headers=headers, stream=call.stream, deadline=deadline,
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
            self._record(upstream_id, token, _failure(exc), str(exc))
            return None
        ctx.waited_s += self.clock.monotonic() - started
        return await self._answer(call, ctx, upstream_id, token, response, tally)

    async def _answer(
        self, call: Call, ctx: RequestContext, upstream_id: str, token: int,
        response: UpstreamResponse, tally: _Tally,
    ) -> Reply | None:
        content_type = response.headers.get("content-type")
        status = response.status
        if call.stream and 200 <= status < 300 and "event-stream" in (content_type or ""):
            if not response.body:
                response.close()
                tally.failed += 1
                tally.last_class = "connect"
                tally.last_error = f"{upstream_id}: stream ended before its first chunk"
                self._record(upstream_id, token, br.Result.HARD_FAILURE, tally.last_error)
                return None
            self._record(upstream_id, token, br.Result.SUCCESS, None)
            self.registry.states[upstream_id].observe_latency(response.ttfb_s * 1000.0, self.clock.wall())
            return self._stream_reply(call, ctx, upstream_id, response)
        if call.stream:  # an error (or a JSON answer) to a streaming request: take it whole
            rest = [response.body]
            size, limit = len(response.body), self.client.max_response_bytes
            try:
                async for chunk in response.chunks(self.routing.first_byte_timeout_s):
                    size += len(chunk)
                    if size > limit:
                        response.close()
                        raise AnswerTooLarge(f"the answer is over the {limit}-byte limit")
                    rest.append(chunk)
            except AttemptError as exc:
                tally.failed += 1
                tally.last_class = exc.error_class
                tally.last_error = f"{upstream_id}: {exc}"
                self._record(upstream_id, token, _failure(exc), str(exc))
                return None
            response.body = b"".join(rest)
        parsed = _parse_json(response.body) if is_json_type(content_type) else None
        outcome = classify(status, body_is_json=parsed is not None)
        self._record(upstream_id, token, _RESULT[outcome],
                     None if outcome is not Outcome.FAILED else f"HTTP {status}")
        if outcome is Outcome.RATE_LIMITED:
            tally.limited += 1
            now = self.clock.wall()
            wait = retry_after_s(response.headers, parsed, now=now,
                                 cap_s=self.routing.retry_after_cap_s)
            self.registry.mark_rate_limited(upstream_id, now + wait, now=now,
                                            scope=call.rate_scope)
            self.metrics.event(RATE_LIMITED, upstream=upstream_id)
            if parsed is not None:
                kept = [(k, v) for k, v in response_headers(response.headers)
                        if k not in ("retry-after", "retry-after-ms")]
                tally.limited_reply = Reply(status, kept, upstream_id, response.body)
            return None
        if outcome is Outcome.REJECTED:
            tally.rejected += 1
            tally.rejected_status = status
            tally.last_error = f"{upstream_id}: HTTP {status} with a non-JSON body"
            return None
        if outcome is Outcome.FAILED:
            tally.failed += 1
            tally.last_class = "upstream_5xx"
            tally.last_error = f"{upstream_id}: HTTP {status}" + (
                "" if parsed is not None else " with a non-JSON body")
            return None
        if outcome is Outcome.SUCCESS:
            self.registry.states[upstream_id].observe_latency(response.ttfb_s * 1000.0, self.clock.wall())
        elif outcome is Outcome.AUTH_FAILED:
            self.metrics.event(UPSTREAM_AUTH_FAILED, upstream=upstream_id)
        ctx.upstream = upstream_id
        ctx.ttfb_ms = response.ttfb_s * 1000.0
        reply = Reply(status, response_headers(response.headers), upstream_id, response.body)
        if outcome is Outcome.SUCCESS and isinstance(parsed, dict):
            usage = parsed.get("usage")
            if isinstance(usage, dict):
                self._take_usage(ctx, call.model, usage)
                ctx.cost_header = ctx.cost_usd is not None
        return reply

    def _take_usage(self, ctx: RequestContext, model: str, usage: dict[str, object]) -> None:
        ctx.prompt_tokens = _int(usage.get("prompt_tokens"))
        ctx.completion_tokens = _int(usage.get("completion_tokens"))
        ctx.cost_usd = self.prices.cost(model, usage)

    def _stream_reply(
        self, call: Call, ctx: RequestContext, upstream_id: str, response: UpstreamResponse
    ) -> Reply:
        ctx.upstream = upstream_id
        ctx.ttfb_ms = response.ttfb_s * 1000.0
        rest = response.chunks(self.routing.first_byte_timeout_s)
        if self.buffered_streams:
            remaining = ctx.started + self.routing.deadline_s - self.clock.monotonic()
            rest = _until(rest, remaining)

        def on_end(failure: str | None, tail: bytes) -> None:
            response.close()
            if failure is not None:
                ctx.error_class = "stream_interrupted" if failure != "deadline" else "timeout"
                if failure != "deadline":
                    self._record(upstream_id, None, br.Result.SOFT_FAILURE, failure)
            usage = usage_from_sse(tail)
            if usage is not None:  # streams report cost in metrics only
                self._take_usage(ctx, call.model, usage)

        stream = relay_stream(response.body, rest, on_end=on_end)
        return Reply(response.status, response_headers(response.headers), upstream_id,
                     stream=stream)

    # -- helpers ---------------------------------------------------------------------------
    def _record(self, upstream_id: str, token: int | None, result: br.Result,
                error: str | None) -> None:
        recorded = self.registry.record(upstream_id, token if token is not None else -1,
                                        result, self.clock.wall(), error=error)
        if recorded.transition is not None:
            if recorded.opened:
                self.metrics.event(CIRCUIT_OPENED, upstream=upstream_id)
                log.warning("circuit opened for %s: %s", upstream_id, error)
            if self.sync is not None:
                self.sync.write_transition(recorded.transition)

    async def _sleep(self, seconds: float, ctx: RequestContext) -> None:
        ctx.waited_s += seconds
        await asyncio.sleep(seconds)

    @staticmethod
    def _all_open(serving: tuple[UpstreamState, ...], now: float) -> errors.RouterError:
        soonest = min((s.breaker.open_until for s in serving), default=now)
        return errors.NoUpstreamAvailable(retry_after_s=max(soonest - now, 1.0))


def _failure(exc: AttemptError) -> br.Result:  # an answer too large is the client's doing
    return br.Result.HARD_FAILURE if exc.breaker_hard else br.Result.NEUTRAL


def _parse_json(body: bytes) -> object | None:
    try:
        return orjson.loads(body)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def _until(chunks: AsyncIterator[bytes], remaining_s: float) -> AsyncIterator[bytes]:
    """Under Lambda the whole buffered stream must end by the deadline (SPEC §8): past it the
    relay gets a TimeoutError and ends the stream with a `deadline_exceeded` event."""
    end = asyncio.get_running_loop().time() + remaining_s
    iterator = aiter(chunks)
    while True:
        async with asyncio.timeout_at(end):
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
        yield chunk
