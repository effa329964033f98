"""The simulator's control API on a port of its own: it stays reachable while `refuse` has
closed an upstream's port (before, the control API sat on the first upstream's port and went
down with it)."""

from __future__ import annotations

import httpx
import pytest

from edge_router.simulator import Simulator

from .test_simulator_cli import start

pytestmark = pytest.mark.integration


async def test_control_port_survives_refuse_on_every_upstream() -> None:
    async with Simulator(2, profile="fast", control_port=0) as sim:
        control = sim.control_url()
        async with httpx.AsyncClient() as client:
            # GIVEN every upstream refusing connections, set through the control port
            resp = await client.post(control + "/fault", json={"upstream": "*", "spec": "refuse"})
            assert resp.status_code == 200
            with pytest.raises(httpx.ConnectError):
                await client.get(sim.control_url("ap-northeast") + "/state")
            # THEN the control port still answers, for every upstream, and can undo it
            state = (await client.get(control + "/state")).json()
            assert [u["listening"] for u in state["upstreams"]] == [False, False]
            assert (await client.post(control + "/reset", json={})).status_code == 200
            models = await client.get(sim.url("ap-northeast") + "/models")
            assert models.status_code == 200
            # on the control port there is no "this upstream": a fault must name one
            missing = await client.post(control + "/fault", json={"spec": "status:503"})
            assert missing.status_code == 400
            assert missing.json()["error"]["code"] == "missing_field"


def test_cli_prints_its_control_port() -> None:
    process, lines = start("--upstreams", "1", "--base-port", "0", "--profile", "fast",
                           "--control-port", "0")
    try:
        (line,) = [x for x in lines if x.startswith("control:")]
        url = line.split()[2]
        assert url.endswith("/_sim/fault")
        state = httpx.get(url.removesuffix("/fault") + "/state").json()
        assert state["upstreams"][0]["id"] == "ap-northeast"
    finally:
        process.terminate()
        process.wait(5)
