"""`EmfMetrics`: the `Metrics` sink under Lambda, writing CloudWatch Embedded Metric Format.

Each invocation's records and events are buffered in memory and written by `flush()` as a few
EMF JSON lines on stdout (CloudWatch Logs extracts the metrics). The EMF is written here rather
than with Powertools `Metrics` because:

- Powertools publishes every metric of a blob under one dimension set (plus a `service`
  dimension by default); SPEC §8 wants each metric under its own sets ([Region],
  [Region, Upstream], [Region, Model], [Region, ErrorClass]) and no `service` dimension, which
  there would take one `single_metric` blob per metric and dimension value;
- here one request is one line: each metric sits in exactly one `MetricDirective` of the
  document, and the directive names the dimension sets that metric is published under.

Which sets a metric gets (`R` Region, `RU` +Upstream, `RM` +Model, `RE` +ErrorClass):

    Requests                               R RM RU
    Latency, PromptTokens, CompletionTokens, CostUSD    R RM
    UpstreamLatency, TimeToFirstByte       R RU
    Overhead, Attempts, Failovers          R
    Errors                                 R RE   (0 under R on a success)
    CircuitOpened, RateLimited, UpstreamAuthFailed      R RU
    RetryBudgetExhausted                   R
    ProbeLatency, UpstreamAvailable        RU

Dimension values are bounded: the region, configured upstream ids, models already folded to a
priced name or `other`, and the fixed `ERROR_CLASSES`. Nothing of a request's headers or body
is ever written.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ..config.env import METRICS_NAMESPACE
from ..observability import (
    ATTEMPTS,
    COMPLETION_TOKENS,
    COST_USD,
    ERROR_CLASSES,
    ERRORS,
    FAILOVERS,
    LATENCY,
    OVERHEAD,
    PROBE_LATENCY,
    PROMPT_TOKENS,
    REQUESTS,
    TIME_TO_FIRST_BYTE,
    UPSTREAM_AVAILABLE,
    UPSTREAM_LATENCY,
    RequestRecord,
)

log = logging.getLogger(__name__)

R = ("Region",)
RU = ("Region", "Upstream")
RM = ("Region", "Model")
RE = ("Region", "ErrorClass")

MILLISECONDS = "Milliseconds"
COUNT = "Count"
NONE = "None"  # CloudWatch has no currency unit
_UNITS = {
    LATENCY: MILLISECONDS, UPSTREAM_LATENCY: MILLISECONDS, OVERHEAD: MILLISECONDS,
    TIME_TO_FIRST_BYTE: MILLISECONDS, PROBE_LATENCY: MILLISECONDS, COST_USD: NONE,
}
#: Events published under [Region, Upstream] only (not summed into a region-wide figure).
_PER_UPSTREAM_ONLY = frozenset({PROBE_LATENCY, UPSTREAM_AVAILABLE})
#: EMF's limit on values per metric in one document.
MAX_VALUES = 100

Sets = tuple[tuple[str, ...], ...]


class _Document:
    """One EMF document: fixed dimension values, metric values, each metric's dimension sets."""

    __slots__ = ("dimensions", "metrics")

    def __init__(self, dimensions: dict[str, str]) -> None:
        self.dimensions = dimensions
        self.metrics: dict[str, tuple[Sets, list[float]]] = {}

    def add(self, name: str, value: float, sets: Sets) -> None:
        entry = self.metrics.get(name)
        if entry is None:
            self.metrics[name] = (sets, [value])
        else:
            entry[1].append(value)

    def render(self, namespace: str, timestamp_ms: int) -> Iterator[dict[str, Any]]:
        """The document as EMF (split when a metric holds more than `MAX_VALUES` values)."""
        start = 0
        while True:
            directives: dict[Sets, list[dict[str, str]]] = {}
            root: dict[str, Any] = dict(self.dimensions)
            more = False
            for name, (sets, values) in self.metrics.items():
                chunk = values[start : start + MAX_VALUES]
                more = more or len(values) > start + MAX_VALUES
                if not chunk:
                    continue
                directives.setdefault(sets, []).append(
                    {"Name": name, "Unit": _UNITS.get(name, COUNT)}
                )
                root[name] = chunk[0] if len(chunk) == 1 else chunk
            root["_aws"] = {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {"Namespace": namespace, "Dimensions": [list(s) for s in sets],
                     "Metrics": metrics}
                    for sets, metrics in directives.items()
                ],
            }
            yield root
            if not more:
                return
            start += MAX_VALUES


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class EmfMetrics:
    """Buffers one invocation's metrics; `flush()` writes them (call it once per invocation).

    `write` receives whole lines (each ending in a newline; default: stdout, looked up at
    call time); `wall` gives the EMF timestamp (epoch seconds).
    """

    def __init__(
        self,
        region: str,
        *,
        namespace: str = METRICS_NAMESPACE,
        wall: Callable[[], float] = time.time,
        write: Callable[[str], object] | None = None,
    ) -> None:
        self.region = region
        self.namespace = namespace
        self._wall = wall
        self._write = write or _stdout
        self._documents: dict[tuple[str | None, ...], _Document] = {}

    def _document(self, model: str | None, upstream: str | None, error: str | None) -> _Document:
        key = (model, upstream, error)
        doc = self._documents.get(key)
        if doc is None:
            dims = {"Region": self.region}
            if model is not None:
                dims["Model"] = model
            if upstream is not None:
                dims["Upstream"] = upstream
            if error is not None:
                dims["ErrorClass"] = error
            doc = self._documents[key] = _Document(dims)
        return doc

    def request(self, record: RequestRecord) -> None:
        error = record.error_class
        if error is not None and error not in ERROR_CLASSES:
            error = "internal"
        upstream = record.upstream
        doc = self._document(record.model, upstream, error)
        with_upstream: Sets = (R, RM, RU) if upstream is not None else (R, RM)
        per_upstream: Sets = (R, RU) if upstream is not None else (R,)
        doc.add(REQUESTS, 1, with_upstream)
        doc.add(LATENCY, round(record.latency_ms, 3), (R, RM))
        doc.add(OVERHEAD, round(record.overhead_ms, 3), (R,))
        doc.add(UPSTREAM_LATENCY, round(record.upstream_ms, 3), per_upstream)
        if record.ttfb_ms is not None:
            doc.add(TIME_TO_FIRST_BYTE, round(record.ttfb_ms, 3), per_upstream)
        doc.add(ATTEMPTS, record.attempts, (R,))
        doc.add(FAILOVERS, max(record.attempts - 1, 0), (R,))
        doc.add(ERRORS, 0 if error is None else 1, (R,) if error is None else (R, RE))
        if record.prompt_tokens or record.completion_tokens:
            doc.add(PROMPT_TOKENS, record.prompt_tokens, (R, RM))
            doc.add(COMPLETION_TOKENS, record.completion_tokens, (R, RM))
        if record.cost_usd is not None:
            doc.add(COST_USD, float(record.cost_usd), (R, RM))

    def event(self, name: str, *, upstream: str | None = None, value: float = 1) -> None:
        sets: Sets
        if name in _PER_UPSTREAM_ONLY:
            if upstream is None:
                raise ValueError(f"{name} needs an upstream")
            sets = (RU,)
        else:
            sets = (R, RU) if upstream is not None else (R,)
        self._document(None, upstream, None).add(name, value, sets)

    def flush(self) -> int:
        """Write everything buffered as EMF lines (one write call); returns the line count.

        Never raises for a failed write: metrics must not fail an invocation.
        """
        if not self._documents:
            return 0
        documents, self._documents = self._documents, {}
        timestamp_ms = int(self._wall() * 1000)
        lines = [
            orjson.dumps(blob) + b"\n"
            for doc in documents.values()
            for blob in doc.render(self.namespace, timestamp_ms)
        ]
        try:
            self._write(b"".join(lines).decode())
        except (OSError, ValueError) as exc:
            log.warning("could not write %d EMF line(s): %s", len(lines), type(exc).__name__)
        return len(lines)
