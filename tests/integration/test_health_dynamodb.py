"""What only the DynamoDB health store must do (the shared behaviour is in the contract suite):
its wire format, its client settings, its failure modes, and how many calls it makes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from edge_router.clock import FakeClock
from edge_router.config.model import Health
from edge_router.health import items
from edge_router.health.dynamodb import MAX_TIMEOUT_S, DynamoHealthStore, build_client
from edge_router.health.records import Counters, Probe, Transition
from edge_router.health.store import HealthStoreError
from tests.support import moto_dynamodb
from tests.support.calls import CallCounter
from tests.support.moto_dynamodb import MotoTable

moto_endpoint = moto_dynamodb.moto_endpoint  # fixtures, used by name
moto_table = moto_dynamodb.moto_table

US, EU = "us-east-1", "eu-central-1"
T0 = FakeClock().wall()


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item with numbers compared by value, not by how the server spelled them."""
    return {k: ({"N": Decimal(v["N"])} if "N" in v else v) for k, v in item.items()}


async def test_the_item_on_the_wire(moto_table: MotoTable) -> None:
    store = DynamoHealthStore(
        US,
        table=moto_table.name,
        table_region=US,
        endpoint_url=moto_table.endpoint_url,
        wall=lambda: T0 + 0.25,
    )
    await store.write_transition(Transition("ds", "open", T0 + 30.5, T0, last_error="timeout"))
    await store.write_transition(Transition("ds", "half_open", T0 + 30.5, T0 + 31, None))
    await store.write_counters([Counters("ds", 3, 1, 12.5, T0)])
    await store.write_probes([Probe("ds", ok=True, latency_ms=7.25, probed_at=T0)])
    await store.close()

    raw = moto_table.client().get_item(TableName=moto_table.name, Key=items.key("ds", US))
    assert _plain(raw["Item"]) == _plain(
        {
            "pk": {"S": "upstream#ds"},
            "sk": {"S": "observer#us-east-1"},
            "state": {"S": "half_open"},
            "open_until": {"N": str(T0 + 30.5)},
            "state_changed_at": {"N": str(T0 + 31)},
            # no last_error: a None is removed, not stored as NULL
            "requests": {"N": "3"},
            "errors": {"N": "1"},
            "retries": {"N": "0"},  # of the requests, retries and failovers (SPEC §14)
            "latency_ewma_ms": {"N": "12.5"},
            "updated_at": {"N": str(T0)},
            "probe_ok": {"BOOL": True},
            "probe_latency_ms": {"N": "7.25"},
            "probed_at": {"N": str(T0)},
            "expires_at": {"N": str(int(T0) + 3601)},  # whole seconds, rounded up
        }
    )


def test_client_has_short_timeouts_and_no_retries() -> None:
    for asked, expected in ((5.0, 1.0), (0.3, 0.3)):
        config: Any = build_client(region_name=US, timeout_s=asked).meta.config  # stubs lack these
        assert (config.connect_timeout, config.read_timeout) == (expected, expected)
        assert config.retries == {"total_max_attempts": 1, "mode": "standard"}


async def test_the_replica_is_table_region_else_aws_region(
    moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The table exists in us-east-1 only; the endpoint comes from the environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    name = moto_table.name
    in_us = DynamoHealthStore(EU, table=name, environ={"AWS_REGION": US})
    overridden = DynamoHealthStore(US, table=name, table_region=EU, environ={"AWS_REGION": US})

    configured = DynamoHealthStore.from_config(
        Health(store="dynamodb", table=name), region=EU, environ={"AWS_REGION": US}
    )

    assert await in_us.read(["ds"], [US]) == []
    await configured.write_probes([Probe("ds", ok=True, latency_ms=1.0, probed_at=T0)])
    assert [(o.region, o.probe_ok) for o in await in_us.read(["ds"], [US, EU])] == [(EU, True)]
    with pytest.raises(HealthStoreError, match="ResourceNotFoundException"):
        await overridden.read(["ds"], [US])
    for store in (in_us, overridden, configured):
        await store.close()


async def test_a_closed_port_fails_fast_as_a_health_store_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    store = DynamoHealthStore(
        US, table="t", table_region=US, endpoint_url=f"http://127.0.0.1:{port}"
    )

    started = time.monotonic()
    with pytest.raises(HealthStoreError) as caught:
        await store.write_probes([Probe("ds", ok=True, latency_ms=1.0, probed_at=T0)])
    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value.__cause__, EndpointConnectionError)
    await store.close()


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """An HTTP endpoint that accepts connections and never answers; yields (url, connections)."""
    accepted: list[socket.socket] = []
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    for conn in (*accepted, listener):
        conn.close()


async def test_a_hung_call_holds_a_thread_not_the_loop(
    silent_server: tuple[str, list[socket.socket]],
) -> None:
    url, connections = silent_server
    store = DynamoHealthStore(US, table="t", table_region=US, endpoint_url=url,
                              timeout_s=MAX_TIMEOUT_S)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    # GIVEN another coroutine running on the loop
    task = asyncio.create_task(ticker())
    # WHEN a read hangs until botocore's read timeout (1 s)
    started = time.monotonic()
    with pytest.raises(HealthStoreError) as caught:
        await store.read(["ds"], [US])
    elapsed = time.monotonic() - started
    task.cancel()
    # THEN the other coroutine kept running (a blocked loop ticks once at most, a busy machine
    # fewer than the 100 an idle one does), and the store gave up once, without retrying
    assert isinstance(caught.value.__cause__, ReadTimeoutError)
    assert MAX_TIMEOUT_S * 0.9 < elapsed < MAX_TIMEOUT_S * 5
    assert ticks >= 10
    assert len(connections) == 1
    # AND a caller can bound a call far below the store's own timeout
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(store.read(["ds"], [US]), 0.05)
    assert time.monotonic() - started < MAX_TIMEOUT_S / 2
    await store.close()


async def test_on_call_counts_every_request_sent(moto_table: MotoTable) -> None:
    client = build_client(region_name=US, endpoint_url=moto_table.endpoint_url)
    sent: list[str] = []
    client.meta.events.register(
        "before-send.dynamodb", lambda event_name, **_: sent.append(event_name.split(".")[-1])
    )
    calls = CallCounter()
    store = DynamoHealthStore(US, table=moto_table.name, client=client, on_call=calls)
    ids = [f"u{i}" for i in range(51)]

    await store.write_transition(Transition("a", "open", T0 + 30, T0, "http_500"))
    await store.write_counters([Counters(u, 1, 0, None, T0) for u in ("a", "b", "c")])
    await store.write_probes([Probe(u, ok=True, latency_ms=1.0, probed_at=T0) for u in ("a", "b")])
    await store.read(["a", "b", "c"], [US, EU])
    await store.read(ids, [US, EU])  # 102 keys: two batches
    await store.read([], [US])

    assert calls == {"UpdateItem": 6, "BatchGetItem": 3}
    assert sorted(sent) == sorted(calls.elements())


async def test_a_bad_number_is_a_store_error_and_sends_nothing() -> None:
    calls = CallCounter()
    store = DynamoHealthStore(US, table="t", table_region=US, on_call=calls)
    with pytest.raises(HealthStoreError, match="nan"):
        await store.write_counters([Counters("ds", 1, 0, float("nan"), T0)])
    await store.close()
    with pytest.raises(HealthStoreError, match="closed"):
        await store.read(["ds"], [US])
    assert calls.total() == 0


def _item(upstream_id: str) -> dict[str, Any]:
    return {**items.key(upstream_id, US), "probe_ok": {"BOOL": True}}


async def test_unprocessed_keys_are_asked_for_once_more() -> None:
    client = build_client(region_name=US)
    calls = CallCounter()
    store = DynamoHealthStore(US, table="t", client=client, on_call=calls)
    a, b, c = (items.key(u, US) for u in "abc")
    with Stubber(client) as stub:
        stub.add_response(
            "batch_get_item",
            {"Responses": {"t": [_item("a")]}, "UnprocessedKeys": {"t": {"Keys": [b, c]}}},
            {"RequestItems": {"t": {"Keys": [a, b, c]}}},
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {"t": [_item("c")]}, "UnprocessedKeys": {"t": {"Keys": [b]}}},
            {"RequestItems": {"t": {"Keys": [b, c]}}},
        )
        # b is still unprocessed after the retry: the store returns what it has
        found = await store.read(["a", "b", "c"], [US])
        stub.assert_no_pending_responses()

    assert [(o.upstream_id, o.probe_ok) for o in found] == [("a", True), ("c", True)]
    assert calls == {"BatchGetItem": 2}


async def test_results_follow_the_keys_not_the_answer_order() -> None:
    # DynamoDB answers a BatchGetItem in any order (moto keeps the request's: hence a stub)
    client = build_client(region_name=US)
    store = DynamoHealthStore(US, table="t", client=client)
    with Stubber(client) as stub:
        stub.add_response(
            "batch_get_item",
            {"Responses": {"t": [_item("c"), _item("a"), _item("b")]}},
            {"RequestItems": {"t": {"Keys": [items.key(u, US) for u in "abc"]}}},
        )
        found = await store.read(["a", "b", "c"], [US])

    assert [o.upstream_id for o in found] == ["a", "b", "c"]
