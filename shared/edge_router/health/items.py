"""Pure mapping between health records and DynamoDB items (SPEC §6), in the low-level wire format.

One item per (upstream, observing region): `pk = "upstream#<id>"`, `sk = "observer#<region>"`.
Every write is an `UpdateItem` over the writer's own attributes plus `expires_at` (the TTL
attribute, whole epoch seconds, rounded up), so writers merge instead of overwriting each other.

An optional value that is `None` is *removed* from the item rather than stored as `NULL`: an
absent attribute reads back as `None`, the item stays free of typed nulls, and the result is the
same as the memory store's. Every attribute name goes through `ExpressionAttributeNames`
(`state` is a DynamoDB reserved word, and aliasing all of them keeps the rule simple).

Nothing here does I/O; `health/dynamodb.py` sends what this module builds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .records import Counters, Observation, Probe, Transition
from .store import TTL_S

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"
UPSTREAM_PREFIX = "upstream#"
OBSERVER_PREFIX = "observer#"


@dataclass(frozen=True, slots=True)
class Update:
    """The arguments of one `UpdateItem`, without the table name."""

    key: dict[str, AttributeValueTypeDef]
    expression: str
    names: dict[str, str]
    values: dict[str, AttributeValueTypeDef]


def key(upstream_id: str, region: str) -> dict[str, AttributeValueTypeDef]:
    """The primary key of what `region` observes of `upstream_id`."""
    return {PK: {"S": UPSTREAM_PREFIX + upstream_id}, SK: {"S": OBSERVER_PREFIX + region}}


def number(value: float) -> AttributeValueTypeDef:
    """A DynamoDB Number. NaN and infinities have no DynamoDB form: `ValueError`."""
    if isinstance(value, int):
        return {"N": str(value)}
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be stored as a DynamoDB number")
    return {"N": repr(float(value))}


def expires_at(wall: float) -> int:
    """The TTL value for an item written at `wall`: an hour later, whole seconds, rounded up."""
    return math.ceil(wall + TTL_S)


def _update(
    upstream_id: str,
    region: str,
    *,
    set_: Mapping[str, AttributeValueTypeDef | None],
    add: Mapping[str, AttributeValueTypeDef] | None = None,
) -> Update:
    names: dict[str, str] = {}
    values: dict[str, AttributeValueTypeDef] = {}
    sets: list[str] = []
    removes: list[str] = []
    adds: list[str] = []
    for name, value in set_.items():
        names[f"#{name}"] = name
        if value is None:
            removes.append(f"#{name}")
        else:
            values[f":{name}"] = value
            sets.append(f"#{name} = :{name}")
    for name, value in (add or {}).items():
        names[f"#{name}"] = name
        values[f":{name}"] = value
        adds.append(f"#{name} :{name}")
    clauses = [
        f"{verb} {', '.join(parts)}"
        for verb, parts in (("SET", sets), ("ADD", adds), ("REMOVE", removes))
        if parts
    ]
    return Update(key(upstream_id, region), " ".join(clauses), names, values)


def _optional(value: float | None) -> AttributeValueTypeDef | None:
    return None if value is None else number(value)


def transition_update(transition: Transition, *, region: str, wall: float) -> Update:
    """`SET state, open_until, state_changed_at, last_error, expires_at` (no `last_error`: REMOVE)."""
    last_error: AttributeValueTypeDef | None = (
        None if transition.last_error is None else {"S": transition.last_error}
    )
    return _update(
        transition.upstream_id,
        region,
        set_={
            "state": {"S": transition.state},
            "open_until": number(transition.open_until),
            "state_changed_at": number(transition.changed_at),
            "last_error": last_error,
            TTL_ATTRIBUTE: number(expires_at(wall)),
        },
    )


def counters_update(counters: Counters, *, region: str, wall: float) -> Update:
    """`ADD requests, errors, retries` and `SET latency_ewma_ms, updated_at, expires_at`."""
    return _update(
        counters.upstream_id,
        region,
        set_={
            "latency_ewma_ms": _optional(counters.latency_ewma_ms),
            "updated_at": number(counters.updated_at),
            TTL_ATTRIBUTE: number(expires_at(wall)),
        },
        add={"requests": number(counters.requests), "errors": number(counters.errors),
             "retries": number(counters.retries)},
    )


def probe_update(probe: Probe, *, region: str, wall: float) -> Update:
    """`SET probe_ok, probe_latency_ms, probed_at, expires_at`."""
    return _update(
        probe.upstream_id,
        region,
        set_={
            "probe_ok": {"BOOL": probe.ok},
            "probe_latency_ms": _optional(probe.latency_ms),
            "probed_at": number(probe.probed_at),
            TTL_ATTRIBUTE: number(expires_at(wall)),
        },
    )


def _string(item: Mapping[str, AttributeValueTypeDef], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if value is not None else None


def _decimal(item: Mapping[str, AttributeValueTypeDef], name: str) -> Decimal | None:
    value = item.get(name)
    text = value.get("N") if value is not None else None
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _float(item: Mapping[str, AttributeValueTypeDef], name: str) -> float | None:
    value = _decimal(item, name)
    return None if value is None else float(value)


def _int(item: Mapping[str, AttributeValueTypeDef], name: str) -> int:
    value = _decimal(item, name)
    return 0 if value is None else int(value)


def observation(item: Mapping[str, AttributeValueTypeDef]) -> Observation | None:
    """The `Observation` an item holds, or `None` for anything that is not a health item
    (a client-key item, §7, or a malformed key). An attribute of the wrong type reads as absent.
    """
    pk, sk = _string(item, PK), _string(item, SK)
    if pk is None or sk is None:
        return None
    if not pk.startswith(UPSTREAM_PREFIX) or not sk.startswith(OBSERVER_PREFIX):
        return None
    probe_ok = item.get("probe_ok")
    return Observation(
        upstream_id=pk.removeprefix(UPSTREAM_PREFIX),
        region=sk.removeprefix(OBSERVER_PREFIX),
        state=_string(item, "state"),
        open_until=_float(item, "open_until"),
        state_changed_at=_float(item, "state_changed_at"),
        last_error=_string(item, "last_error"),
        requests=_int(item, "requests"),
        errors=_int(item, "errors"),
        retries=_int(item, "retries"),
        latency_ewma_ms=_float(item, "latency_ewma_ms"),
        updated_at=_float(item, "updated_at"),
        probe_ok=probe_ok.get("BOOL") if probe_ok is not None else None,
        probe_latency_ms=_float(item, "probe_latency_ms"),
        probed_at=_float(item, "probed_at"),
        expires_at=_float(item, TTL_ATTRIBUTE),
    )
