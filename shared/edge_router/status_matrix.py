"""The global health matrix (upstream × observing region) for `edge-router status` — pure.

A `Matrix` is built either from the health store's items (`from_observations`: what every
region's routers and health checker wrote, SPEC §6) or from a router's `/status` JSON
(`from_status`: that router's live breakers plus the observers it last read). It renders as a
terminal table with plain-language alerts, or as JSON (`edge_router.status_render`).

A cell's state is the state *now*: an item that says `open` with an `open_until` in the past
is shown `half_open` (the cooldown is over and a trial is due), and an item with no `state` is
`closed` (routers write it only on transitions; see `observed_state`). Latency is the requests'
EWMA, or the health checker's probe latency when there is no EWMA. "Seen" is the newest write to
the item. No I/O here; `now` comes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .health.records import Observation

OPEN, HALF_OPEN, CLOSED, UNKNOWN = "open", "half_open", "closed", "unknown"
#: A probe result older than this is history, not news (the checker runs every minute).
PROBE_FRESH_S = 180.0


@dataclass(frozen=True, slots=True)
class Cell:
    """What one region knows of one upstream, evaluated at the matrix's `now`."""

    state: str  # open | half_open | closed | unknown
    open_until: float | None = None
    latency_ms: float | None = None
    latency_source: str | None = None  # "ewma" | "probe"
    seen_at: float | None = None
    last_error: str | None = None
    probe_ok: bool | None = None
    probed_at: float | None = None
    rate_limited_until: float | None = None
    requests: int = 0
    errors: int = 0
    live: bool = False  # a router's own breaker, not a stored item

    def probe_failed(self, now: float) -> bool:
        return (
            self.probe_ok is False
            and self.probed_at is not None
            and now - self.probed_at <= PROBE_FRESH_S
        )


@dataclass(frozen=True, slots=True)
class Row:
    upstream_id: str
    name: str
    cells: Mapping[str, Cell] = field(default_factory=dict)  # region -> cell; absent = no data


@dataclass(frozen=True, slots=True)
class Matrix:
    now: float
    regions: tuple[str, ...]
    rows: tuple[Row, ...]
    source: str
    live_region: str | None = None  # the column that is a router's live view (`--url`)

    @property
    def silent_regions(self) -> list[str]:
        """Regions with no data for any upstream."""
        return [r for r in self.regions if not any(r in row.cells for row in self.rows)]

    @property
    def down(self) -> bool:
        """An upstream is open, or failing its probes, in some region."""
        return any(
            cell.state == OPEN or cell.probe_failed(self.now)
            for row in self.rows
            for cell in row.cells.values()
        )


def effective_state(state: str | None, open_until: float | None, now: float) -> str:
    """The breaker state at `now`: an expired `open` is `half_open`; no state is `unknown`."""
    if state == OPEN:
        return OPEN if open_until is not None and open_until > now else HALF_OPEN
    if state in (HALF_OPEN, CLOSED):
        return state
    return UNKNOWN


def observed_state(o: Observation) -> str:
    """The item's `state`, or `closed` when it has none.

    Routers write `state` only on a breaker transition, and every transition (re-opens
    included, at most `max_cooldown_s` apart) refreshes the item's TTL; so an item without one
    is of breakers in that region that have not left `closed` in the item's lifetime.
    """
    return o.state or CLOSED


def cell_from_observation(o: Observation, now: float) -> Cell:
    latency, source = (o.latency_ewma_ms, "ewma")
    if latency is None and o.probe_latency_ms is not None:
        latency, source = (o.probe_latency_ms, "probe")
    seen = [t for t in (o.state_changed_at, o.updated_at, o.probed_at) if t is not None]
    return Cell(
        state=effective_state(observed_state(o), o.open_until, now),
        open_until=o.open_until,
        latency_ms=latency,
        latency_source=source if latency is not None else None,
        seen_at=max(seen) if seen else None,
        last_error=o.last_error,
        probe_ok=o.probe_ok,
        probed_at=o.probed_at,
        requests=o.requests,
        errors=o.errors,
    )


def _ordered(first: Iterable[str], *more: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *(r for group in more for r in group)]))


def from_observations(
    upstreams: Sequence[tuple[str, str]],
    regions: Sequence[str],
    observations: Iterable[Observation],
    *,
    now: float,
    source: str,
) -> Matrix:
    """The matrix of a health-store read: `upstreams` are (id, name) pairs, in config order."""
    cells: dict[str, dict[str, Cell]] = {upstream_id: {} for upstream_id, _ in upstreams}
    seen_regions: list[str] = []
    for o in observations:
        if o.upstream_id in cells:
            cells[o.upstream_id][o.region] = cell_from_observation(o, now)
            seen_regions.append(o.region)
    rows = tuple(Row(u, name, cells[u]) for u, name in upstreams)
    return Matrix(now, _ordered(regions, seen_regions), rows, source)


def _observation(upstream_id: str, item: Mapping[str, Any]) -> Observation:
    return Observation(
        upstream_id=upstream_id,
        region=str(item["region"]),
        state=item.get("state"),
        open_until=item.get("open_until"),
        state_changed_at=item.get("state_changed_at"),
        last_error=item.get("last_error"),
        requests=int(item.get("requests") or 0),
        errors=int(item.get("errors") or 0),
        latency_ewma_ms=item.get("latency_ewma_ms"),
        updated_at=item.get("updated_at"),
        probe_ok=item.get("probe_ok"),
        probe_latency_ms=item.get("probe_latency_ms"),
        probed_at=item.get("probed_at"),
    )


def from_status(body: Mapping[str, Any], *, now: float, source: str) -> Matrix:
    """The matrix of a router's `/status`: its own region live, then its observers' items.

    Ages are measured against the router's `now` when the body has one (no clock skew).
    """
    now = float(body.get("now") or now)
    region = str(body["region"])
    rows: list[Row] = []
    seen_regions: list[str] = []
    for u in body["upstreams"]:
        live = Cell(
            state=effective_state(u.get("state"), u.get("open_until"), now),
            open_until=u.get("open_until"),
            latency_ms=u.get("latency_ewma_ms"),
            latency_source="ewma" if u.get("latency_ewma_ms") is not None else None,
            seen_at=now,
            last_error=u.get("last_error"),
            rate_limited_until=u.get("rate_limited_until"),
            requests=int(u.get("requests") or 0),
            errors=int(u.get("errors") or 0),
            live=True,
        )
        cells = {region: live}
        for item in u.get("observers") or ():
            o = _observation(str(u["id"]), item)
            cells[o.region] = cell_from_observation(o, now)
            seen_regions.append(o.region)
        rows.append(Row(str(u["id"]), str(u.get("name") or ""), cells))
    regions = _ordered([region], body.get("regions") or (), seen_regions)
    return Matrix(now, regions, tuple(rows), source, live_region=region)
