"""The mutable state of one simulated upstream: counters, request log, current fault, randoms."""

from __future__ import annotations

import base64
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .faults import ActiveFault, Fault, draw, parse_fault
from .responses import models_list
from .stateful import ResponseStore
from .upstreams import UpstreamSpec

__all__ = ["LoggedRequest", "UpstreamRuntime"]


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as received; rendered to JSON only when someone asks for the log."""

    rid: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    fault: str | None

    def to_json(self) -> dict[str, Any]:
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            text = self.body.decode("utf-8", "replace")
        return {
            "request_id": self.rid,
            "method": self.method,
            "path": self.path,
            "headers": {str(k): v for k, v in self.headers.items()},
            "body": text,
            "body_base64": base64.b64encode(self.body).decode("ascii"),
            "fault": self.fault,
        }


class UpstreamRuntime:
    """Counters and fault state of one upstream. `/_sim/*` calls never touch the counters."""

    def __init__(
        self,
        spec: UpstreamSpec,
        *,
        latency_ms: tuple[float, float] | None,
        seed: int,
        log_size: int,
        created: int,
    ) -> None:
        self.spec = spec
        self.id = spec.id
        self.latency_ms = latency_ms
        self.models_body = models_list(spec.models, created)
        self.stored = ResponseStore()  # the Responses API's stored responses
        self.active = ActiveFault.of(parse_fault(spec.fault))
        self.refused = False
        self.port = 0
        self._latency_rng = random.Random(f"{seed}:latency:{spec.id}")
        self._fault_rng = random.Random(f"{seed}:fault:{spec.id}")
        self._sequence = 0
        self.requests = 0
        self.by_path: Counter[str] = Counter()
        self.log: deque[LoggedRequest] = deque(maxlen=log_size)

    def next_request_id(self) -> str:
        """The upstream's own request id, e.g. ``sim-us-east-000042`` (never reused)."""
        self._sequence += 1
        return f"sim-{self.id}-{self._sequence:06d}"

    def take_fault(self) -> Fault | None:
        """The fault this request gets (None = a normal answer); advances `count`."""
        fault, self.active = draw(self.active, self._fault_rng)
        return fault

    def record(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        rid: str,
        fault: Fault | None,
    ) -> None:
        self.requests += 1
        self.by_path[path] += 1
        self.log.append(
            LoggedRequest(rid, method, path, headers, body, fault.text if fault else None)
        )

    def wait_s(self, fault: Fault | None) -> float:
        """Seconds to wait before the headers: a `delay` fault's, else the profile's draw."""
        if fault is not None and fault.mode == "delay":
            return fault.seconds
        if self.latency_ms is None:
            return 0.0
        low, high = self.latency_ms
        return self._latency_rng.uniform(low, high) / 1000.0

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "port": self.port,
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "fault": self.active.describe(),
            "listening": not self.refused,
        }

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The last `limit` requests (all kept ones when None), oldest first."""
        entries = list(self.log)
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [entry.to_json() for entry in entries]

    def reset_counters(self) -> None:
        self.stored.clear()
        self.requests = 0
        self.by_path.clear()
        self.log.clear()
