"""Health records <-> DynamoDB items (SPEC §6), without DynamoDB."""

from __future__ import annotations

from typing import Any

import pytest

from edge_router.health import items
from edge_router.health.records import Counters, Observation, Probe, Transition

T0 = 1_700_000_000.0
KEY: dict[str, Any] = {"pk": {"S": "upstream#ds"}, "sk": {"S": "observer#us-east-1"}}


def test_the_key_names_upstream_and_observing_region() -> None:
    assert items.key("ds", "us-east-1") == KEY


def test_a_transition_sets_its_attributes_through_placeholders() -> None:
    update = items.transition_update(
        Transition("ds", "open", T0 + 30, T0, "http_503"), region="us-east-1", wall=T0
    )

    assert update == items.Update(
        key=KEY,
        expression=(
            "SET #state = :state, #open_until = :open_until, "
            "#state_changed_at = :state_changed_at, #last_error = :last_error, "
            "#expires_at = :expires_at"
        ),
        names={
            "#state": "state",
            "#open_until": "open_until",
            "#state_changed_at": "state_changed_at",
            "#last_error": "last_error",
            "#expires_at": "expires_at",
        },
        values={
            ":state": {"S": "open"},
            ":open_until": {"N": "1700000030.0"},
            ":state_changed_at": {"N": "1700000000.0"},
            ":last_error": {"S": "http_503"},
            ":expires_at": {"N": "1700003600"},
        },
    )


def test_a_missing_last_error_is_removed_not_stored() -> None:
    update = items.transition_update(
        Transition("ds", "closed", 0.0, T0, None), region="us-east-1", wall=T0
    )

    assert update.expression.endswith(" REMOVE #last_error")
    assert ":last_error" not in update.values
    assert update.names["#last_error"] == "last_error"


def test_counters_add_requests_errors_and_retries_and_set_the_rest() -> None:
    update = items.counters_update(Counters("ds", 12, 3, None, T0, retries=2),
                                   region="eu-central-1", wall=T0)

    assert update.key == {"pk": {"S": "upstream#ds"}, "sk": {"S": "observer#eu-central-1"}}
    assert update.expression == (
        "SET #updated_at = :updated_at, #expires_at = :expires_at "
        "ADD #requests :requests, #errors :errors, #retries :retries "
        "REMOVE #latency_ewma_ms"
    )
    assert update.values == {
        ":updated_at": {"N": "1700000000.0"},
        ":expires_at": {"N": "1700003600"},
        ":requests": {"N": "12"},
        ":errors": {"N": "3"},
        ":retries": {"N": "2"},
    }


def test_a_probe_sets_a_boolean() -> None:
    update = items.probe_update(
        Probe("ds", ok=False, latency_ms=8.5, probed_at=T0), region="x", wall=T0
    )

    assert update.expression == (
        "SET #probe_ok = :probe_ok, #probe_latency_ms = :probe_latency_ms, "
        "#probed_at = :probed_at, #expires_at = :expires_at"
    )
    assert update.values[":probe_ok"] == {"BOOL": False}
    assert update.values[":probe_latency_ms"] == {"N": "8.5"}


@pytest.mark.parametrize(
    ("wall", "expires"),
    [(T0, 1_700_003_600), (T0 + 0.2, 1_700_003_601), (T0 + 0.999, 1_700_003_601)],
)
def test_expiry_is_an_hour_later_in_whole_seconds_rounded_up(wall: float, expires: int) -> None:
    assert items.expires_at(wall) == expires


@pytest.mark.parametrize(
    ("value", "text"), [(3, "3"), (0.1, "0.1"), (T0 + 0.25, "1700000000.25"), (1e-7, "1e-07")]
)
def test_numbers_keep_their_value(value: float, text: str) -> None:
    assert items.number(value) == {"N": text}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_dynamodb_cannot_hold_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="DynamoDB number"):
        items.number(value)


def test_an_item_reads_back_as_an_observation() -> None:
    item: dict[str, Any] = {
        **KEY,
        "state": {"S": "open"},
        "open_until": {"N": "1700000030.5"},
        "state_changed_at": {"N": "1700000000"},
        "last_error": {"S": "timeout"},
        "requests": {"N": "15"},
        "errors": {"N": "3"},
        "latency_ewma_ms": {"N": "80.25"},
        "updated_at": {"N": "1700000010"},
        "probe_ok": {"BOOL": True},
        "probe_latency_ms": {"N": "42"},
        "probed_at": {"N": "1700000020"},
        "expires_at": {"N": "1700003600"},
    }

    assert items.observation(item) == Observation(
        upstream_id="ds",
        region="us-east-1",
        state="open",
        open_until=T0 + 30.5,
        state_changed_at=T0,
        last_error="timeout",
        requests=15,
        errors=3,
        latency_ewma_ms=80.25,
        updated_at=T0 + 10,
        probe_ok=True,
        probe_latency_ms=42.0,
        probed_at=T0 + 20,
        expires_at=T0 + 3600,
    )


def test_absent_and_mistyped_attributes_read_as_unset() -> None:
    item: dict[str, Any] = {
        **KEY,
        "state": {"N": "1"},
        "open_until": {"S": "soon"},
        "probe_ok": {"NULL": True},
    }

    assert items.observation(item) == Observation(upstream_id="ds", region="us-east-1")


@pytest.mark.parametrize(
    "item",
    [
        {"pk": {"S": "key#9f86d081"}, "sk": {"S": "key"}, "models": {"SS": ["gpt-4o"]}},
        {"pk": {"S": "upstream#ds"}, "sk": {"S": "something-else"}},
        {"pk": {"S": "upstream#ds"}},
        {"pk": {"N": "1"}, "sk": {"S": "observer#us-east-1"}},
    ],
)
def test_anything_but_a_health_item_reads_as_nothing(item: dict[str, Any]) -> None:
    assert items.observation(item) is None
