"""`Simulator(tls=True)` / `simulate --tls`: HTTPS with a self-signed certificate that a
verifying client refuses, while a client that skips verification is answered normally."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from edge_router.simulator import Simulator

pytestmark = pytest.mark.integration

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}


async def test_tls_simulator_serves_https_that_fails_verification() -> None:
    async with Simulator(1, tls=True) as sim, aiohttp.ClientSession() as session:
        url = sim.url("ap-northeast")
        assert url.startswith("https://127.0.0.1:")
        # GIVEN a client that does not verify: a normal answer over TLS
        async with session.post(url + "/chat/completions", json=CHAT, ssl=False) as resp:
            assert resp.status == 200
            assert "Hello from ap-northeast" in (await resp.json())["choices"][0]["message"][
                "content"]
        # WHEN a verifying client connects THEN the certificate is refused, nothing is counted
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as caught:
            await session.post(url + "/chat/completions", json=CHAT)
        assert isinstance(caught.value.certificate_error, ssl.SSLCertVerificationError)
        assert sim.state("ap-northeast")["requests"] == 1


async def test_plain_simulator_does_not_import_the_tls_module() -> None:
    import sys

    sys.modules.pop("edge_router.simulator.tls", None)
    async with Simulator(1) as sim:
        assert sim.url("ap-northeast").startswith("http://")
    assert "edge_router.simulator.tls" not in sys.modules
