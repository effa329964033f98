"""One contract for every `HealthStore` (SPEC §6), run against each implementation:

- `memory`: the reference, `MemoryHealthStore` on a shared `MemoryTable`;
- `dynamodb-server`: `DynamoHealthStore` building its own client, pointed at a real moto server
  over HTTP by `AWS_ENDPOINT_URL_DYNAMODB` (the wire protocol and boto3's endpoint resolution);
- `dynamodb-http`: `DynamoHealthStore` on the router's own wire client (`aws.dynamodb`, what a
  Lambda container with static credentials builds) against the moto server;
- `dynamodb-mock`: `DynamoHealthStore` with an injected client under moto's `mock_aws`.

Both DynamoDB tables are created with the key schema of `infra/global-table.yaml`. Every store of
one test shares one table (one replica: moto does not replicate) and one `FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from moto import mock_aws

from edge_router.clock import FakeClock
from edge_router.health.dynamodb import DynamoHealthStore
from edge_router.health.memory import MemoryHealthStore, MemoryTable
from edge_router.health.records import Counters, Observation, Probe, Transition
from edge_router.health.store import TTL_S, HealthStore
from tests.support import moto_dynamodb

US, EU = "us-east-1", "eu-central-1"
StoreFactory = Callable[[str], HealthStore]
moto_endpoint = moto_dynamodb.moto_endpoint  # a fixture, used by name


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def _mocked_table() -> Iterator[str]:
    with mock_aws():
        name = moto_dynamodb.new_table(None)
        yield name


@pytest.fixture(params=["memory", "dynamodb-server", "dynamodb-http", "dynamodb-mock"])
async def new_store(
    request: pytest.FixtureRequest, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StoreFactory]:
    """A factory: `new_store(region)` is a store writing `region`'s items of the shared table."""
    made: list[HealthStore] = []
    build: StoreFactory
    if request.param == "memory":
        table = MemoryTable()

        def build(region: str) -> HealthStore:
            return MemoryHealthStore(region, table=table, wall=clock.wall)

    elif request.param == "dynamodb-server":
        endpoint = request.getfixturevalue("moto_endpoint")
        name = moto_dynamodb.new_table(endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        # The contract is under test here, not the 1 s timeout cap (test_health_dynamodb's): a
        # loaded machine's moto server, 51 writes at once, answered some after 1 s.
        moto_dynamodb.patient_clients(monkeypatch)

        def build(region: str) -> HealthStore:
            # The replica comes from AWS_REGION, as under Lambda; `region` is only the observer.
            return DynamoHealthStore(
                region, table=name, environ={"AWS_REGION": US}, wall=clock.wall,
                timeout_s=moto_dynamodb.PATIENT_TIMEOUT_S,
            )

    else:
        if request.param == "dynamodb-http":
            endpoint = request.getfixturevalue("moto_endpoint")
            name = moto_dynamodb.new_table(endpoint)
            client = moto_dynamodb.http_client(endpoint)
        else:
            name = request.getfixturevalue("_mocked_table")
            client = moto_dynamodb.client(None)

        def build(region: str) -> HealthStore:
            return DynamoHealthStore(region, table=name, client=client, wall=clock.wall)

    def factory(region: str) -> HealthStore:
        made.append(store := build(region))
        return store

    yield factory
    for store in made:
        await store.close()


def opened(upstream_id: str, at: float, error: str | None = "http_503") -> Transition:
    return Transition(upstream_id, "open", open_until=at + 30, changed_at=at, last_error=error)


async def test_a_transition_reads_back_whole(new_store: StoreFactory, clock: FakeClock) -> None:
    store = new_store(US)
    await store.write_transition(opened("ds", clock.wall()))

    assert await store.read(["ds"], [US]) == [
        Observation(
            upstream_id="ds",
            region=US,
            state="open",
            open_until=clock.wall() + 30,
            state_changed_at=clock.wall(),
            last_error="http_503",
            expires_at=clock.wall() + TTL_S,
        )
    ]


async def test_a_later_transition_replaces_state_and_clears_last_error(
    new_store: StoreFactory, clock: FakeClock
) -> None:
    store = new_store(US)
    await store.write_transition(opened("ds", clock.wall()))
    clock.advance(31)
    await store.write_transition(Transition("ds", "closed", 0.0, clock.wall(), None))

    [item] = await store.read(["ds"], [US])
    assert (item.state, item.open_until, item.state_changed_at, item.last_error) == (
        "closed",
        0.0,
        clock.wall(),
        None,
    )


async def test_counters_add_up_across_flushes(new_store: StoreFactory, clock: FakeClock) -> None:
    store = new_store(US)
    await store.write_counters([Counters("ds", 10, 2, 120.5, clock.wall())])
    clock.advance(10)
    await store.write_counters([Counters("ds", 5, 1, 80.25, clock.wall())])

    [item] = await store.read(["ds"], [US])
    assert (item.requests, item.errors) == (15, 3)
    assert (item.latency_ewma_ms, item.updated_at) == (80.25, clock.wall())


async def test_one_flush_writes_each_upstream(new_store: StoreFactory, clock: FakeClock) -> None:
    store = new_store(US)
    await store.write_counters(
        [Counters("a", 1, 0, 10.0, clock.wall()), Counters("b", 2, 2, None, clock.wall())]
    )

    items = await store.read(["a", "b"], [US])
    assert [(o.upstream_id, o.requests, o.errors, o.latency_ewma_ms) for o in items] == [
        ("a", 1, 0, 10.0),
        ("b", 2, 2, None),
    ]


async def test_writers_in_one_region_merge(new_store: StoreFactory, clock: FakeClock) -> None:
    # GIVEN a router container and the health checker in one region, and a sibling container
    router, checker, sibling = new_store(US), new_store(US), new_store(US)
    t = clock.wall()
    # WHEN each writes its own attributes of the same item, in turn
    await router.write_transition(opened("ds", t))
    await checker.write_probes([Probe("ds", ok=True, latency_ms=42.0, probed_at=t + 1)])
    await sibling.write_counters([Counters("ds", 7, 1, 99.0, t + 2)])
    clock.advance(3)
    await checker.write_probes([Probe("ds", ok=False, latency_ms=None, probed_at=t + 3)])
    # THEN the item holds everyone's latest attributes; none overwrote another's
    assert await router.read(["ds"], [US]) == [
        Observation(
            upstream_id="ds",
            region=US,
            state="open",
            open_until=t + 30,
            state_changed_at=t,
            last_error="http_503",
            requests=7,
            errors=1,
            latency_ewma_ms=99.0,
            updated_at=t + 2,
            probe_ok=False,
            probe_latency_ms=None,
            probed_at=t + 3,
            expires_at=clock.wall() + TTL_S,
        )
    ]


async def test_two_regions_write_two_items(new_store: StoreFactory, clock: FakeClock) -> None:
    us, eu = new_store(US), new_store(EU)
    await us.write_transition(opened("ds", clock.wall()))
    await eu.write_probes([Probe("ds", ok=True, latency_ms=5.0, probed_at=clock.wall())])

    both = await eu.read(["ds"], [US, EU])
    assert [(o.region, o.state, o.probe_ok) for o in both] == [(US, "open", None), (EU, None, True)]
    # each store wrote only its own region's item
    assert [(o.region, o.state) for o in await us.read(["ds"], [US])] == [(US, "open")]
    assert [(o.region, o.probe_ok) for o in await us.read(["ds"], [EU])] == [(EU, True)]


async def test_reads_follow_upstream_then_region_order(
    new_store: StoreFactory, clock: FakeClock
) -> None:
    us, eu = new_store(US), new_store(EU)
    for store in (eu, us):
        await store.write_counters([Counters(u, 1, 0, None, clock.wall()) for u in ("b", "a")])

    found = await us.read(["a", "b", "zz"], [US, EU])
    assert [(o.upstream_id, o.region) for o in found] == [
        ("a", US),
        ("a", EU),
        ("b", US),
        ("b", EU),
    ]


async def test_unknown_ids_and_empty_reads_find_nothing(
    new_store: StoreFactory, clock: FakeClock
) -> None:
    store = new_store(US)
    await store.write_probes([Probe("ds", ok=True, latency_ms=1.0, probed_at=clock.wall())])

    assert await store.read(["nope", "other"], [US, EU]) == []
    assert await store.read(["ds"], [EU]) == []
    assert await store.read([], [US]) == []
    assert await store.read(["ds"], []) == []


async def test_expired_items_are_ignored(new_store: StoreFactory, clock: FakeClock) -> None:
    store = new_store(US)
    await store.write_transition(opened("old", clock.wall()))
    await store.write_transition(opened("kept", clock.wall()))
    clock.advance(TTL_S - 600)
    await store.write_probes([Probe("kept", ok=True, latency_ms=1.0, probed_at=clock.wall())])
    clock.advance(601)

    # "old" was last written over an hour ago; the probe refreshed "kept"'s expiry
    assert [o.upstream_id for o in await store.read(["old", "kept"], [US])] == ["kept"]


async def test_more_keys_than_one_batch(new_store: StoreFactory, clock: FakeClock) -> None:
    us, eu = new_store(US), new_store(EU)
    ids = [f"u{i:03}" for i in range(51)]
    for store in (us, eu):
        await store.write_counters([Counters(u, 1, 0, None, clock.wall()) for u in ids])

    found = await us.read(ids, [US, EU])  # 102 keys: more than one BatchGetItem holds
    assert [(o.upstream_id, o.region) for o in found] == [(u, r) for u in ids for r in (US, EU)]
