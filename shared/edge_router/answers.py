"""Reading one upstream answer: what it means for the request, the breaker and the metrics.

`AnswerReader` is the half of `RouterService` that looks at an answer once it arrived: it
classifies it with `routing.outcome`, feeds the breaker, marks rate limits, takes usage and cost
in the client API's vocabulary (`Call.wire`), and turns a stream into a relayed `Reply`. The
other half, `service.py`, decides where attempts go.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .clock import Clock
from .config.model import Routing
from .context import RequestContext
from .health.sync import HealthSync
from .observability import CIRCUIT_OPENED, RATE_LIMITED, UPSTREAM_AUTH_FAILED, Metrics
from .pricing import PriceBook
from .registry import UpstreamRegistry
from .reply import KEEPALIVE, Reply, relay_stream, response_headers, without_usage_event
from .routing import breaker as br
from .routing.outcome import Outcome, classify, is_json_type
from .routing.retry import retry_after_s
from .upstream.client import UpstreamClient, UpstreamResponse
from .upstream.errors import AnswerTooLarge, AttemptError
from .wire import Usage, Wire

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
    """One client request as routing needs it. `body` goes upstream byte for byte unless a
    `model_map` entry or a model fallback changes `model` (then `parsed` is re-serialised), or
    the router asked a limited key's stream for its usage (`api.requests.ask_for_stream_usage`)."""

    path: str  # below /v1, e.g. "/chat/completions"
    method: str
    body: bytes | None
    model: str | None  # None: a stateful call without a body (any upstream may hold it)
    stream: bool
    headers: Mapping[str, str]
    wire: Wire
    stateful: bool = False  # lives on one upstream: a 404 moves on to the next (SPEC §12)
    parsed: Mapping[str, Any] | None = None
    #: the credential that goes upstream in passthrough mode: a 429 then marks only
    #: (upstream, this credential); None in keys mode (one upstream key: the mark is upstream-wide)
    rate_scope: str | None = None
    #: the models the client's key may use (empty: any); a fallback outside it is skipped
    allowed_models: frozenset[str] = frozenset()
    #: the router asked for the stream's usage, the client did not: its usage-only chunk is
    #: kept from the client (SPEC §13)
    hide_usage_event: bool = False

    def body_for(self, model: str | None) -> bytes | None:
        """The body to send when the upstream is to see `model`."""
        if model == self.model or self.parsed is None:
            return self.body
        return orjson.dumps({**self.parsed, "model": model})


@dataclass(slots=True)
class Tally:
    """How the attempts for one model of a request went."""

    failed: int = 0
    limited: int = 0
    rejected: int = 0  # non-JSON 4xx answers (a proxy's or WAF's page)
    rejected_status: int = 0
    limited_reply: Reply | None = None  # the last upstream 429 with a JSON body
    last_error: str | None = None
    last_upstream: str | None = None
    last_class: str = "upstream_5xx"  # the ErrorClass of the last failure
    not_found: Reply | None = None  # a stateful call's last 404 (it moved on)
    not_found_ids: set[str] = field(default_factory=set)
    moved_on_404: bool = False  # the last attempt was such a 404: the next is no retry


class AnswerReader:
    """Set up by `RouterService.__init__`."""

    routing: Routing
    client: UpstreamClient
    registry: UpstreamRegistry
    clock: Clock
    metrics: Metrics
    prices: PriceBook
    sync: HealthSync | None
    buffered_streams: bool

    async def _answer(
        self, call: Call, model: str | None, ctx: RequestContext, upstream_id: str, token: int,
        response: UpstreamResponse, tally: Tally,
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
            self._answered(ctx, model)
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
                self._record(upstream_id, token, attempt_failure(exc), str(exc))
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
        reply = Reply(status, response_headers(response.headers), upstream_id, response.body)
        if call.stateful and status == 404 and outcome is Outcome.PASS_THROUGH:
            tally.not_found, tally.moved_on_404 = reply, True  # it may live on another one
            tally.not_found_ids.add(upstream_id)
            return None
        ctx.upstream = upstream_id
        ctx.ttfb_ms = response.ttfb_s * 1000.0
        self._answered(ctx, model)
        if outcome is Outcome.SUCCESS:
            usage = call.wire.usage_from_json(parsed)
            if usage is not None:
                self._take_usage(ctx, model, usage)
                ctx.cost_header = ctx.cost_usd is not None
        return reply

    def _answered(self, ctx: RequestContext, model: str | None) -> None:
        """`x-edge-model` and the `Model` metric dimension follow the model that answered."""
        ctx.error_class = None  # an earlier model's failure is not this request's outcome
        if model is not None:
            ctx.answered_model = model
            ctx.model = self.prices.metric_model(model)

    def _take_usage(self, ctx: RequestContext, model: str | None, usage: Usage) -> None:
        ctx.prompt_tokens = _int(usage.get("prompt_tokens"))
        ctx.completion_tokens = _int(usage.get("completion_tokens"))
        ctx.cost_usd = self.prices.cost(model, usage) if model is not None else None

    def _stream_reply(
        self, call: Call, ctx: RequestContext, upstream_id: str, response: UpstreamResponse
    ) -> Reply:
        ctx.upstream = upstream_id
        ctx.ttfb_ms = response.ttfb_s * 1000.0
        # keep-alive comments while the upstream is silent; pointless when buffered (Mangum)
        tick_s = 0.0 if self.buffered_streams else self.routing.stream_keepalive_s
        rest = response.chunks(self.routing.first_byte_timeout_s, tick_s=tick_s, tick=KEEPALIVE)
        if self.buffered_streams:
            remaining = ctx.started + self.routing.deadline_s - self.clock.monotonic()
            rest = _until(rest, remaining)

        def on_end(failure: str | None, head: bytes, tail: bytes) -> None:
            response.close()
            if failure is not None:
                ctx.error_class = "stream_interrupted" if failure != "deadline" else "timeout"
                if failure != "deadline":
                    self._record(upstream_id, None, br.Result.SOFT_FAILURE, failure)
            usage = call.wire.usage_from_stream(head, tail)
            if usage is not None:  # streams report cost in metrics only
                self._take_usage(ctx, ctx.answered_model, usage)

        stream = relay_stream(response.body, rest, on_end=on_end, error_event=call.wire.stream_error)
        if call.hide_usage_event:
            stream = without_usage_event(stream)
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


def attempt_failure(exc: AttemptError) -> br.Result:  # an answer too large is the client's doing
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
