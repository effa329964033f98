"""One contract for every `LimitsStore` (SPEC §13), run against each implementation:

- `memory`: the reference, `MemoryLimitsStore` on a shared `MemoryLimitsTable`;
- `dynamodb-server`: `DynamoLimitsStore` on a real moto server over HTTP (the wire protocol,
  conditional writes and `ReturnValuesOnConditionCheckFailure` as boto3 sends them);
- `dynamodb-http`: `DynamoLimitsStore` on the router's own wire client (`aws.dynamodb`) against
  the moto server: the same conditional writes and refused items without botocore;
- `dynamodb-mock`: `DynamoLimitsStore` under moto's `mock_aws`.

Every store of one test shares one table (one replica) and one `FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal

import pytest
from moto import mock_aws

from edge_router.clock import FakeClock
from edge_router.health.dynamodb import build_client
from edge_router.limits.dynamodb import DynamoLimitsStore
from edge_router.limits.memory import MemoryLimitsStore, MemoryLimitsTable
from edge_router.limits.store import Add, Counts, LimitsStore, WindowFull
from tests.support import moto_dynamodb

US, EU = "us-east-1", "eu-central-1"
MINUTE = "2023-11-14T22:13"
StoreFactory = Callable[[str], LimitsStore]
moto_endpoint = moto_dynamodb.moto_endpoint


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()  # 2023-11-14T22:13:20Z


@pytest.fixture
def _mocked_table() -> Iterator[str]:
    with mock_aws():
        name = moto_dynamodb.new_table(None)
        yield name


@pytest.fixture(params=["memory", "dynamodb-server", "dynamodb-http", "dynamodb-mock"])
async def new_store(
    request: pytest.FixtureRequest, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StoreFactory]:
    made: list[LimitsStore] = []
    build: StoreFactory
    if request.param == "memory":
        table = MemoryLimitsTable()

        def build(region: str) -> LimitsStore:
            return MemoryLimitsStore(region, table=table, wall=clock.wall)

    else:
        if request.param == "dynamodb-server":
            endpoint = request.getfixturevalue("moto_endpoint")
            name = moto_dynamodb.new_table(endpoint)
            # the contract is under test, not the 1 s timeout cap: a loaded machine's moto
            # server answered an UpdateItem after 1 s
            moto_dynamodb.patient_clients(monkeypatch)
            client = build_client(region_name=US, endpoint_url=endpoint,
                                  timeout_s=moto_dynamodb.PATIENT_TIMEOUT_S)
        elif request.param == "dynamodb-http":  # the router's own wire client (aws.dynamodb)
            endpoint = request.getfixturevalue("moto_endpoint")
            name = moto_dynamodb.new_table(endpoint)
            client = moto_dynamodb.http_client(endpoint)
        else:
            name = request.getfixturevalue("_mocked_table")
            client = moto_dynamodb.client(None)

        def build(region: str) -> LimitsStore:
            return DynamoLimitsStore(region, table=name, client=client, wall=clock.wall)

    def factory(region: str) -> LimitsStore:
        made.append(store := build(region))
        return store

    yield factory
    for store in made:
        await store.close()


def sk(region: str) -> str:
    return f"min#{MINUTE}#{region}"


async def admit(store: LimitsStore, *, key: str = "k1", rcap: int | None = None,
                tcap: int | None = None, tokens: int = 0) -> Counts:
    return await store.admit(key, sk(store.region), request_cap=rcap, token_cap=tcap,
                             add_tokens=tokens, expires_at=1_700_010_000)


async def test_admit_adds_a_request_and_carried_tokens_and_returns_the_new_counts(
    new_store: StoreFactory,
) -> None:
    us = new_store(US)
    assert await admit(us, tokens=30) == Counts(requests=1, tokens=30)
    assert await admit(us, tokens=0) == Counts(requests=2, tokens=30)


async def test_the_request_cap_is_exact_and_a_refusal_reports_the_item(
    new_store: StoreFactory,
) -> None:
    us = new_store(US)
    for n in range(1, 4):
        assert (await admit(us, rcap=3)).requests == n
    with pytest.raises(WindowFull) as full:
        await admit(us, rcap=3)
    assert full.value.counts.requests == 3
    assert (await us.read("k1", [sk(US)]))[sk(US)].requests == 3  # the refusal added nothing


async def test_the_token_cap_refuses_once_the_tokens_reach_it(new_store: StoreFactory) -> None:
    us = new_store(US)
    await admit(us, tcap=100, tokens=0)
    await admit(us, tcap=100, tokens=100)  # tokens were below the cap before this ADD
    with pytest.raises(WindowFull) as full:
        await admit(us, tcap=100, rcap=50)
    assert (full.value.counts.requests, full.value.counts.tokens) == (2, 100)


@pytest.mark.parametrize("caps", [{"rcap": 0}, {"rcap": -2}, {"tcap": 0}])
async def test_a_cap_used_up_by_other_regions_refuses_without_writing(
    new_store: StoreFactory, caps: dict[str, int]
) -> None:
    us = new_store(US)
    with pytest.raises(WindowFull):
        await admit(us, **caps)
    assert await us.read("k1", [sk(US)]) == {}


async def test_regions_and_keys_count_apart_and_read_returns_what_exists(
    new_store: StoreFactory,
) -> None:
    us, eu = new_store(US), new_store(EU)
    await admit(us, rcap=1)
    await admit(eu, rcap=1)  # EU's own item: US's count is not in its condition
    await admit(us, key="k2")
    found = await eu.read("k1", [sk(US), sk(EU), f"min#{MINUTE}#ap-northeast-2"])
    assert found == {sk(US): Counts(requests=1), sk(EU): Counts(requests=1)}
    assert await us.read("k3", [sk(US)]) == {}


async def test_add_accumulates_counters_exactly_and_items_expire(
    new_store: StoreFactory, clock: FakeClock
) -> None:
    us = new_store(US)
    day = "day#2023-11-14#gpt-4.1#us-east-1"
    expires = int(clock.wall()) + 100
    usage = {"requests": 2, "prompt_tokens": 30, "completion_tokens": 12,
             "cost_usd": Decimal("0.000336")}
    await us.add([Add("k1", day, usage, expires), Add("k1", "month#2023-11#us-east-1",
                                                      {"cost_usd": Decimal("0.1")}, expires)])
    await us.add([Add("k1", day, {**usage, "cost_usd": Decimal("0.0000000001")}, expires)])
    found = await us.read("k1", [day])
    assert found[day] == Counts(requests=4, prompt_tokens=60, completion_tokens=24,
                                cost_usd=Decimal("0.0003360001"))
    clock.advance(101)
    assert await us.read("k1", [day]) == {}
    assert await us.query("k1", "day#", "day#~") == []


async def test_query_returns_one_keys_items_in_the_range_in_sort_order(
    new_store: StoreFactory, clock: FakeClock
) -> None:
    us, eu = new_store(US), new_store(EU)
    expires = int(clock.wall()) + 1000
    for store, day, model in [(us, "2023-11-14", "b"), (eu, "2023-11-13", "a"),
                              (us, "2023-11-13", "a")]:
        await store.add([Add("k1", f"day#{day}#{model}#{store.region}", {"requests": 1},
                             expires)])
    await us.add([Add("k2", "day#2023-11-14#a#us-east-1", {"requests": 5}, expires)])
    await admit(us)
    rows = await eu.query("k1", "day#", "day#~")
    assert [sk for sk, _ in rows] == [
        "day#2023-11-13#a#eu-central-1", "day#2023-11-13#a#us-east-1",
        "day#2023-11-14#b#us-east-1"]
    assert [c.requests for _, c in rows] == [1, 1, 1]
    assert [sk for sk, _ in await us.query("k1", "day#2023-11-14", "day#2023-11-14#~")] == [
        "day#2023-11-14#b#us-east-1"]
    assert [sk for sk, _ in await us.query("k1", "day#2023-11-13", "day#2023-11-13#~")] == [
        "day#2023-11-13#a#eu-central-1", "day#2023-11-13#a#us-east-1"]
