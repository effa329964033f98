"""Fixtures of the Lambda tests (`test_lambda_*.py`): a moto server and table, simulated
upstreams on a thread of their own (`sim`), and `lambdas`, which builds handlers for them and
closes them after the test, with the process's logging put back.

A module changes the simulator by overriding `sim_count` or `sim_faults`. Modules with a `sim`
of their own (a `Simulator` on the test's loop) shadow the one here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.integration import template_support
from tests.integration.lambda_harness import Lambdas, SimThread, library_logging_restored
from tests.support import moto_dynamodb
from tests.support.cfn import load_template

moto_endpoint = moto_dynamodb.moto_endpoint
moto_table = moto_dynamodb.moto_table


@pytest.fixture
def sim_count() -> int:
    """How many upstreams `sim` runs."""
    return 3


@pytest.fixture
def sim_faults() -> Mapping[str, str] | None:
    """Faults the upstreams start with, by upstream id."""
    return None


@pytest.fixture
def sim(sim_count: int, sim_faults: Mapping[str, str] | None) -> Iterator[SimThread]:
    with SimThread(sim_count, faults=sim_faults) as running:
        yield running


@pytest.fixture
def lambdas(
    tmp_path: Path, sim: SimThread, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lambdas]:
    moto_dynamodb.patient_clients(monkeypatch)
    made = Lambdas(tmp_path, sim)
    with library_logging_restored():
        yield made
        made.close()


# -- the deployment templates, parsed once per module (test_template*.py) ---------------------
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(template_support.TEMPLATE)


@pytest.fixture(scope="module")
def table_template() -> dict[str, Any]:
    return load_template(template_support.GLOBAL_TABLE)
