"""Fixtures: one simulator process per module, a fresh router process per test."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .procs import SHORT_ROUTING, RouterProcess, SimProcess, start_router, start_simulator

E2E_ROUTING = SHORT_ROUTING


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = start_simulator(tmp_path_factory.mktemp("sim"), 3)
    yield process
    process.stop()


@pytest.fixture
def router_factory(
    sim: SimProcess, tmp_path: Path
) -> Iterator[Callable[..., RouterProcess]]:
    sim.reset()
    started: list[RouterProcess] = []

    def make(**sections: Any) -> RouterProcess:
        config = copy.deepcopy(sim.config)
        config["routing"] = {**E2E_ROUTING, **sections.pop("routing", {})}
        for key, value in sections.items():
            config[key] = value
        router = start_router(tmp_path, config, name=f"router{len(started)}")
        started.append(router)
        return router

    yield make
    for router in started:
        router.stop()


@pytest.fixture
def router(router_factory: Callable[..., RouterProcess]) -> RouterProcess:
    return router_factory()
