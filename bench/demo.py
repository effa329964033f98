"""`make demo`: watch the router fail over, with seed-profile latencies, in about 20 seconds.

Starts five simulated HolySheep regions (latency from the tutorial's table) and the router in
front of them, sends chat requests with the official `openai` SDK, kills the home upstream,
shows the failover and the breaker opening, brings it back, and shows traffic returning home.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path

import openai
from tests.e2e.procs import start_router, start_simulator

MESSAGES = [{"role": "user", "content": "Say hello"}]


def ask(client: openai.OpenAI, label: str) -> None:
    started = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - started) * 1000
    text = raw.parse().choices[0].message.content
    h = raw.headers
    print(f"  {label:<22} {elapsed:6.0f} ms  upstream={h['x-edge-upstream']:<13} "
          f"attempts={h['x-edge-attempts']} overhead={h['x-edge-overhead-ms']} ms "
          f"cost=${h.get('x-edge-cost-usd', '-')}  “{text}”")


def states(url: str) -> str:
    with urllib.request.urlopen(url + "/status") as resp:
        status = json.loads(resp.read())
    return "  ".join(f"{u['id']}={u['state']}" for u in status["upstreams"])


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="edge-demo-"))
    print("Starting 5 simulated HolySheep regions (seed latencies) and the router ...")
    sim = start_simulator(tmp, 5, "--profile", "seed")
    config = dict(sim.config)
    config["breaker"] = {"consecutive_failures": 3, "cooldown_s": 5}
    router = start_router(tmp, config)
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="sk-demo", max_retries=0)
    try:
        print(f"Router on {router.url}; home upstream: {sim.ids[0]}\n")
        print("1. Normal traffic goes to the home upstream:")
        for i in range(3):
            ask(client, f"request {i + 1}")
        print(f"\n2. {sim.ids[0]} stops accepting connections; the router fails over:")
        sim.set_fault(sim.ids[0], "refuse")
        for i in range(4):
            ask(client, f"request {i + 1}")
        print(f"   breakers: {states(router.url)}")
        print(f"\n3. {sim.ids[0]} is back; after the 5 s cooldown one trial closes the circuit:")
        sim.set_fault(sim.ids[0], "ok")
        time.sleep(5.2)
        for i in range(3):
            ask(client, f"request {i + 1}")
        print(f"   breakers: {states(router.url)}")
        print("\nDone; the router and the simulated upstreams are stopped. To keep one running:")
        print("  .venv/bin/edge-router simulate --upstreams 5 --write-config sim.yaml &")
        print("  .venv/bin/edge-router serve --config sim.yaml")
    finally:
        router.stop()
        sim.stop()


if __name__ == "__main__":
    main()
