"""The fault grammar of `edge-router simulate` and the per-request decision (pure, no I/O).

A fault spec is MODE[:ARG][,key=value...]; spaces around the parts are ignored.

  ok               answer normally (also re-opens a refused listener)
  status:CODE      answer CODE (300-599, not 304) with an OpenAI-shaped JSON error body;
                   keys retry_after=S (`retry-after` header, seconds) and
                   retry_after_ms=MS (`retry-after-ms` header)
  delay:S          wait S seconds before the headers (instead of the profile's latency),
                   then answer normally
  hang             read the request, never answer (the connection stays open)
  reset            read the request, then abort the TCP connection (RST): no response at all
  cut[:N]          streams: send the headers and the first N events (default 2), then drop
                   the connection; JSON: headers with the full Content-Length, half the body,
                   then drop the connection
  html[:CODE]      a non-JSON HTML page, status CODE (default 502; html:200 for 200)
  truncated        status 200, the answer cut in half, Content-Length matching what was sent
  stall            send the headers, never the body
  trickle[:S]      send the answer one byte every S seconds (default 0.05)
  refuse           stop listening: new connections are refused, idle ones closed

Modifiers, on any mode but ok and refuse: rate=R applies the fault to a share R (0 < R <= 1)
of requests, drawn from the simulator's seeded random; count=N applies it to the next N
requests it hits, then the upstream is back to ok. Both together: each request draws, and
the N-th hit ends the fault.

Examples: status:503   status:429,retry_after=2   reset,rate=0.3   cut,count=1   delay:2.5,count=3
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["OK", "ActiveFault", "Fault", "FaultError", "draw", "parse_fault"]

_ARG_REQUIRED = {"status", "delay"}
_ARG_OPTIONAL = {"cut", "html", "trickle"}
_NO_ARG = {"ok", "hang", "reset", "truncated", "stall", "refuse"}
MODES = frozenset(_ARG_REQUIRED | _ARG_OPTIONAL | _NO_ARG)
_COMMON_KEYS = {"rate", "count"}
_MODE_KEYS = {"status": {"retry_after", "retry_after_ms"}}
_NO_MODIFIERS = {"ok", "refuse"}


class FaultError(ValueError):
    """A fault spec that does not follow the grammar; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault spec. `arg` is the mode's number (status code, seconds, events)."""

    mode: str
    arg: float | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    rate: float = 1.0
    count: int | None = None
    text: str = "ok"

    @property
    def status(self) -> int:
        """The status code of `status` and `html` faults."""
        if self.mode == "html" and self.arg is None:
            return 502
        return int(self.arg or 0)

    @property
    def seconds(self) -> float:
        """`delay` seconds, or the `trickle` interval per byte."""
        if self.arg is None:
            return 0.05 if self.mode == "trickle" else 0.0
        return self.arg

    @property
    def events_before_cut(self) -> int:
        return 2 if self.arg is None else int(self.arg)


OK = Fault("ok")


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """The fault an upstream has now, with the `count` still left (None = no limit)."""

    fault: Fault = OK
    remaining: int | None = None

    @classmethod
    def of(cls, fault: Fault) -> ActiveFault:
        return cls(fault, fault.count)

    def describe(self) -> dict[str, object]:
        return {"spec": self.fault.text, "mode": self.fault.mode, "remaining": self.remaining}


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultError(f"{what}: expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise FaultError(f"{what}: expected a non-negative number, got {text!r}")
    return value


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FaultError(f"{what}: expected an integer, got {text!r}") from None


def _parse_arg(mode: str, arg: str | None) -> float | None:
    if arg is None:
        if mode in _ARG_REQUIRED:
            raise FaultError(
                f"{mode}: needs an argument, e.g. {mode}:{'503' if mode == 'status' else '2.0'}"
            )
        return None
    if mode in _NO_ARG:
        raise FaultError(f"{mode}: takes no argument")
    if mode in ("status", "html"):
        code = _integer(arg, f"{mode} code")
        low = 300 if mode == "status" else 200
        if not low <= code <= 599 or code == 304:
            raise FaultError(f"{mode} code: must be {low}-599 and not 304, got {code}")
        return float(code)
    if mode == "cut":
        events = _integer(arg, "cut events")
        if events < 0:
            raise FaultError(f"cut events: must be >= 0, got {events}")
        return float(events)
    seconds = _number(arg, f"{mode} seconds")
    if mode == "trickle" and seconds <= 0:
        raise FaultError("trickle seconds: must be > 0")
    return seconds


def parse_fault(spec: str) -> Fault:
    """Parse ``MODE[:ARG][,key=value...]``; raises `FaultError` naming the bad part."""
    text = ",".join(part.strip() for part in spec.strip().split(","))
    head, *pairs = text.split(",")
    mode, sep, arg = head.partition(":")
    mode = mode.strip().lower()
    if mode not in MODES:
        raise FaultError(f"unknown fault mode {mode!r}; expected one of {', '.join(sorted(MODES))}")
    values: dict[str, str] = {}
    allowed = (set() if mode in _NO_MODIFIERS else _COMMON_KEYS) | _MODE_KEYS.get(mode, set())
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key or not value:
            raise FaultError(f"{pair!r}: expected key=value")
        if key not in allowed:
            keys = ", ".join(sorted(allowed)) or "none"
            raise FaultError(f"{key}: not a key of {mode} (allowed: {keys})")
        if key in values:
            raise FaultError(f"{key}: given twice")
        values[key] = value
    rate = _number(values["rate"], "rate") if "rate" in values else 1.0
    if not 0 < rate <= 1:
        raise FaultError(f"rate: must be in (0, 1], got {values['rate']}")
    count = _integer(values["count"], "count") if "count" in values else None
    if count is not None and count < 1:
        raise FaultError(f"count: must be >= 1, got {count}")
    return Fault(
        mode=mode,
        arg=_parse_arg(mode, arg if sep else None),
        retry_after=_number(values["retry_after"], "retry_after")
        if "retry_after" in values
        else None,
        retry_after_ms=(
            _number(values["retry_after_ms"], "retry_after_ms")
            if "retry_after_ms" in values
            else None
        ),
        rate=rate,
        count=count,
        text=text,
    )


def draw(active: ActiveFault, rng: random.Random) -> tuple[Fault | None, ActiveFault]:
    """The fault for one request (None = answer normally) and the upstream's next state.

    The random source is only consulted for a fault with ``rate < 1``, so runs with the same
    seed and the same request sequence make the same decisions.
    """
    fault = active.fault
    if fault.mode in _NO_MODIFIERS:
        return None, active
    if fault.rate < 1.0 and rng.random() >= fault.rate:
        return None, active
    if active.remaining is None:
        return fault, active
    left = active.remaining - 1
    return fault, (ActiveFault(fault, left) if left > 0 else ActiveFault())
