"""The health matrix of `edge-router status`: building it from store items and from `/status`,
and what the terminal table, the alerts and the JSON say."""

from __future__ import annotations

from typing import Any

import pytest

from edge_router.health.records import Observation
from edge_router.status_matrix import (
    Matrix,
    effective_state,
    from_observations,
    from_status,
)
from edge_router.status_render import age, alerts, cell_text, clock_time, render, to_json

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
SEOUL, VIRGINIA, FRANKFURT = "ap-northeast-2", "us-east-1", "eu-central-1"
UPSTREAMS = [("ap-northeast", "Seoul"), ("us-east", "Virginia")]


def store_matrix(*observations: Observation) -> Matrix:
    return from_observations(
        UPSTREAMS, [SEOUL, VIRGINIA, FRANKFURT], observations, now=NOW, source="table t"
    )


def closed(upstream: str, region: str, **fields: Any) -> Observation:
    return Observation(
        upstream, region, state="closed", latency_ewma_ms=41.6, updated_at=NOW - 3, **fields
    )


@pytest.mark.parametrize(
    ("state", "open_until", "expected"),
    [
        ("open", NOW + 1, "open"),
        ("open", NOW, "half_open"),  # cooldown over: a trial is due
        ("open", None, "half_open"),
        ("half_open", None, "half_open"),
        ("closed", NOW + 99, "closed"),
        (None, None, "unknown"),
        ("bogus", None, "unknown"),
    ],
)
def test_effective_state(state: str | None, open_until: float | None, expected: str) -> None:
    assert effective_state(state, open_until, NOW) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "0s"), (0.4, "0s"), (59.6, "60s"), (119, "119s"), (120, "2m"), (7199, "120m"),
     (7200, "2h")],
)  # fmt: skip
def test_age(seconds: float, text: str) -> None:
    assert age(seconds) == text


def test_clock_time_is_utc() -> None:
    assert clock_time(NOW + 30) == "22:13:50 UTC"


def test_table_marks_the_open_upstream_and_the_silent_region() -> None:
    # GIVEN Seoul sees us-east open (for 40 s more) and Virginia sees it closed;
    # Virginia's health checker probed ap-northeast; nothing came from Frankfurt
    matrix = store_matrix(
        closed("ap-northeast", SEOUL),
        Observation("ap-northeast", VIRGINIA, probe_ok=True, probe_latency_ms=180.2,
                    probed_at=NOW - 42),
        Observation("us-east", SEOUL, state="open", open_until=NOW + 40,
                    state_changed_at=NOW - 20, last_error="connect: connection refused",
                    latency_ewma_ms=120.0, updated_at=NOW - 5),
        closed("us-east", VIRGINIA),
    )  # fmt: skip
    # WHEN it is rendered
    text = render(matrix)
    # THEN one line per upstream, one column per region, and the alerts say it plainly
    lines = text.splitlines()
    assert lines[:3] == [
        "health matrix from table t at 2023-11-14 22:13:20 UTC",
        "2 upstreams × 3 observing regions; each cell: state, latency (EWMA of requests, "
        "(p) = health-checker probe), last seen; RL = rate-limited",
        "",
    ]
    assert lines[6:] == [
        "",
        "us-east: OPEN in ap-northeast-2 (until 22:14:00 UTC, last error: connect: connection "
        "refused)",
        "eu-central-1: no data for any upstream (nothing written from there lately)",
    ]
    assert lines[3:6] == [
        "upstream      ap-northeast-2  us-east-1            eu-central-1",
        "ap-northeast  closed 42ms 3s  closed 180ms(p) 42s  no data",
        "us-east       OPEN - 5s       closed 42ms 3s       no data",
    ]
    assert matrix.down
    assert matrix.silent_regions == [FRANKFURT]


def test_all_clear() -> None:
    matrix = from_observations(
        UPSTREAMS, [SEOUL], [closed("ap-northeast", SEOUL), closed("us-east", SEOUL)],
        now=NOW, source="table t",
    )  # fmt: skip
    assert alerts(matrix) == ["all 2 upstreams closed in every region"]
    assert not matrix.down


def test_an_expired_open_is_half_open_and_not_down() -> None:
    matrix = store_matrix(
        Observation("us-east", SEOUL, state="open", open_until=NOW - 1, last_error="HTTP 503"),
        closed("ap-northeast", SEOUL),
    )
    assert cell_text(matrix.rows[1].cells[SEOUL], NOW) == "half-open -"
    assert "us-east: half-open in ap-northeast-2 (cooldown over, trial due, last error: HTTP 503)" in alerts(matrix)  # fmt: skip
    assert not matrix.down


def test_a_fresh_failed_probe_is_down_and_an_old_one_is_history() -> None:
    fresh = Observation("us-east", FRANKFURT, probe_ok=False, probed_at=NOW - 30)
    old = Observation("ap-northeast", FRANKFURT, probe_ok=False, probed_at=NOW - 600)
    matrix = store_matrix(fresh, old)
    assert cell_text(matrix.rows[1].cells[FRANKFURT], NOW) == "closed - 30s probe-FAIL"
    assert cell_text(matrix.rows[0].cells[FRANKFURT], NOW) == "closed - 10m"
    assert "us-east: probe FAILED from eu-central-1 (30s ago)" in alerts(matrix)
    assert not any("ap-northeast: probe" in line for line in alerts(matrix))
    assert matrix.down


def test_an_item_without_a_transition_is_closed() -> None:
    counters_only = Observation("us-east", SEOUL, requests=5, latency_ewma_ms=50.0, updated_at=NOW)
    probe_only = Observation("us-east", VIRGINIA, probe_ok=True, probe_latency_ms=9, probed_at=NOW)
    matrix = store_matrix(counters_only, probe_only)
    assert cell_text(matrix.rows[1].cells[SEOUL], NOW) == "closed 50ms 0s"
    assert cell_text(matrix.rows[1].cells[VIRGINIA], NOW) == "closed 9ms(p) 0s"


def test_an_upstream_nobody_reported_on() -> None:
    matrix = store_matrix(closed("ap-northeast", SEOUL))
    assert "us-east: no data from any region" in alerts(matrix)


def test_a_region_outside_the_known_ones_gets_a_column() -> None:
    matrix = store_matrix(closed("us-east", "sa-east-1"))
    assert matrix.regions == (SEOUL, VIRGINIA, FRANKFURT, "sa-east-1")


def test_observations_of_unconfigured_upstreams_are_ignored() -> None:
    matrix = store_matrix(closed("retired", SEOUL))
    assert [row.upstream_id for row in matrix.rows] == ["ap-northeast", "us-east"]
    assert matrix.silent_regions == [SEOUL, VIRGINIA, FRANKFURT]


def test_long_errors_are_shortened_in_alerts() -> None:
    error = "boom\n" + "x" * 300
    matrix = store_matrix(Observation("us-east", SEOUL, state="open", open_until=NOW + 5,
                                      last_error=error))  # fmt: skip
    line = next(line for line in alerts(matrix) if "OPEN" in line)
    assert "boom x" in line and line.endswith("…)") and len(line) < 200


STATUS: dict[str, Any] = {
    "region": "local",
    "strategy": "failover",
    "regions": ["local", SEOUL],
    "now": NOW,
    "upstreams": [
        {"id": "ap-northeast", "name": "Seoul", "state": "open", "open_until": NOW + 25,
         "rate_limited_until": None, "latency_ewma_ms": None, "requests": 3, "errors": 3,
         "last_error": "connection broke", "observers": [
             {"region": SEOUL, "state": "closed", "open_until": None, "latency_ewma_ms": 35.0,
              "updated_at": NOW - 8, "requests": 10, "errors": 0, "last_error": None,
              "state_changed_at": None, "probe_ok": None, "probe_latency_ms": None,
              "probed_at": None}]},
        {"id": "us-east", "name": "Virginia", "state": "closed", "open_until": None,
         "rate_limited_until": NOW + 30, "latency_ewma_ms": 77.4, "requests": 4, "errors": 0,
         "last_error": None, "observers": []},
    ],
}  # fmt: skip


def test_from_status_puts_the_live_router_first_and_keeps_its_observers() -> None:
    matrix = from_status(STATUS, now=NOW + 999, source="http://r/status")
    assert matrix.now == NOW  # the router's clock, not ours
    assert matrix.regions == ("local", SEOUL)
    assert matrix.live_region == "local"
    lines = render(matrix).splitlines()
    assert lines[1].startswith("2 upstreams × 2 observing regions; ")
    assert lines[3].split() == ["upstream", "local", "(live)", SEOUL]
    assert lines[4].split() == ["ap-northeast", "OPEN", "-", "closed", "35ms", "8s"]
    assert lines[5].split() == ["us-east", "closed", "77ms", "RL", "no", "data"]
    assert alerts(matrix) == [
        "ap-northeast: OPEN in local (until 22:13:45 UTC, last error: connection broke)",
        "us-east: rate-limited in local until 22:13:50 UTC",
    ]


def test_from_status_without_a_regions_field() -> None:
    body = {**STATUS, "regions": None}
    del body["now"]
    matrix = from_status(body, now=NOW, source="s")
    assert matrix.regions == ("local", SEOUL)


def test_one_region_one_upstream_in_the_singular() -> None:
    body = {**STATUS, "regions": ["local"], "upstreams": STATUS["upstreams"][1:]}
    lines = render(from_status(body, now=NOW, source="s")).splitlines()
    assert lines[1].startswith("1 upstream × 1 observing region; ")


def test_json() -> None:
    data = to_json(from_status(STATUS, now=NOW, source="s"))
    assert data["down"] is True
    assert data["regions"] == ["local", SEOUL]
    first, second = data["upstreams"]
    assert first["cells"]["local"]["state"] == "open"
    assert first["cells"]["local"]["open_until"] == NOW + 25
    assert first["cells"][SEOUL] == {
        "state": "closed", "open_until": None, "latency_ms": 35.0, "latency_source": "ewma",
        "seen_at": NOW - 8, "age_s": 8.0, "last_error": None, "probe_ok": None,
        "probed_at": None, "rate_limited_until": None, "requests": 10, "errors": 0,
        "live": False,
    }  # fmt: skip
    assert second["cells"][SEOUL] is None
    assert data["alerts"][0].startswith("ap-northeast: OPEN in local")
