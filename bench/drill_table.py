"""Drill 7: the DynamoDB health table stopped, slow and hanging, under load (SPEC §6).

`edge-router serve` runs with `health.store: dynamodb` against a `moto_server` process, reached
through `TableProxy` (in this process) so the drill can slow the table down or make it hang:

  0-5 s  healthy          10-15 s  moto back (new table), every chunk delayed 0.6 s
  5-10 s moto killed      15-20 s  the proxy accepts and never answers (a hanging table)
                          20-25 s  healthy again: the router writes to the new table
SPEC §6: the store is advisory and fails open; a request waits at most `timeout_ms` (200 ms) on
it, only the one request per `sync_interval_s` that syncs waits at all, and no request fails.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from tests.e2e.procs import free_ports
from tests.support.moto_dynamodb import create_table
from tests.support.tcp_proxy import CountingProxy

from .chaos import Lab, Outcome, at, latency_line, load, status
from .drills_core import _indent
from .openloop import Report, percentile

MOTO = str(Path(sys.executable).with_name("moto_server"))
TABLE, REGION = "edge-router-health", "us-east-1"
TIMEOUT_MS, INTERVAL_S = 200, 1


class TableProxy(CountingProxy):
    """TCP forwarder to the table; `mode` is pass, delay (each request chunk `delay_s` late) or
    hang (requests are swallowed: the client waits for its read timeout)."""

    def __init__(self, target_port: int) -> None:
        super().__init__("127.0.0.1", target_port)
        self.mode = "pass"
        self.delay_s = 0.0
        self.chunks = 0

    @property
    def connections(self) -> int:
        return self.accepted

    async def relay(self, data: bytes, *, to_upstream: bool) -> bool:
        if not to_upstream:
            return True
        self.chunks += 1
        if self.mode == "hang":
            return False
        if self.mode == "delay":
            await asyncio.sleep(self.delay_s)
        return True


def dynamo_client(endpoint_url: str, region: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=region)
    return session.client("dynamodb", endpoint_url=endpoint_url)


def _start_moto(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    try:
        create_table(dynamo_client(f"http://127.0.0.1:{port}", REGION), TABLE)
    except BaseException:
        proc.kill()
        raise
    return proc


def _requests_written(port: int) -> int:
    """`requests` this router flushed to the table for its home upstream (0 if none)."""
    table = dynamo_client(f"http://127.0.0.1:{port}", REGION)
    item = table.get_item(TableName=TABLE, Key={"pk": {"S": "upstream#ap-northeast"},
                                                "sk": {"S": "observer#local"}}).get("Item", {})
    return int(item.get("requests", {}).get("N", "0"))


async def table_faults(lab: Lab) -> Outcome:
    out = Outcome("7: health table stopped, slow, hanging (moto) under load")
    moto_port = free_ports(1)[0]
    motos = [_start_moto(moto_port)]
    lab.on_exit(lambda: [(p.kill(), p.wait()) for p in motos])
    proxy = await TableProxy(moto_port).start()
    sim = lab.sim(3)
    env = {"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{proxy.port}",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "EDGE_ROUTER_REGION": "local"}
    router = lab.router(sim.config, env=env, health={
        "store": "dynamodb", "table": TABLE, "table_region": REGION,
        "sync_interval_s": INTERVAL_S, "timeout_ms": TIMEOUT_MS})
    rate, phases = lab.rate(150), [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    names = ["healthy", "moto stopped", "slow (0.6 s)", "hanging", "recovered"]
    print(f"drill 7: {rate:g} req/s for {phases[-1]:g} s; health store dynamodb on moto via a "
          f"proxy; sync every {INTERVAL_S} s, bounded at {TIMEOUT_MS} ms", flush=True)
    written: dict[str, int] = {}
    calls: list[tuple[int, int]] = []

    def mark() -> None:
        calls.append((proxy.connections, proxy.chunks))

    def kill() -> None:
        written["before"] = _requests_written(moto_port)
        motos[0].kill()
        motos[0].wait()

    def slow() -> None:
        proxy.mode, proxy.delay_s = "delay", 0.6
        motos.append(_start_moto(moto_port))

    def recover() -> None:
        proxy.mode = "pass"

    async def script() -> None:
        t0 = time.monotonic()
        mark()
        await at(t0, phases[1], kill, "moto_server killed")
        mark()
        await at(t0, phases[2], slow, "moto_server back (empty table), proxy delays 0.6 s")
        mark()
        await at(t0, phases[3], lambda: setattr(proxy, "mode", "hang"), "proxy hangs")
        mark()
        await at(t0, phases[4], recover, "proxy passes again")
        mark()

    try:
        report, _ = await load(router, rate, phases[-1], sims=[sim], script=script())
        mark()
        await asyncio.sleep(INTERVAL_S + 0.5)
        written["after"] = await asyncio.to_thread(_requests_written, moto_port)
        st = await asyncio.to_thread(status, router)
    finally:
        await proxy.close()
    failures = [s for s in report.samples if not Report.ok([s])]
    base = Report.latencies_ms(report.window(phases[0], phases[1]))
    base_p50 = percentile(base, 50)
    out.figures += _indent(report.summary())
    worst_extra = 0.0
    for i, name in enumerate(names):
        window = report.window(phases[i], phases[i + 1])
        lat = Report.latencies_ms(window)
        slow_n = sum(1 for v in lat if v > 100)
        extra = max(lat, default=0.0) - base_p50
        if i:
            worst_extra = max(worst_extra, extra)
        conns, chunks = calls[i + 1][0] - calls[i][0], calls[i + 1][1] - calls[i][1]
        out.figures.append(latency_line(f"{name:<13}", report, window)
                           + f"  >100 ms: {slow_n}  table connections {conns}, requests {chunks}")
        if slow_n:
            out.figures.append("      >100 ms at t = " + ", ".join(
                f"{s.due:.2f}" for s in window if s.latency_s and s.latency_s > 0.1))
    out.figures.append(f"  items written: before the kill requests={written.get('before')}, "
                       f"to the new table after recovery requests={written.get('after')}; "
                       f"last sync at {st.get('synced_at')}")
    out.check("failed requests", str(len(failures)), "0", not failures)
    out.check("the store was in use (items written) before the kill",
              str(written.get("before")), "> 0", written.get("before", 0) > 0)
    out.check("worst request over the healthy p50, table in trouble", f"{worst_extra:.0f} ms",
              f"≤ {TIMEOUT_MS} ms + 100 ms", worst_extra <= TIMEOUT_MS + 100)
    out.check("writes resume once the table is back", str(written.get("after")), "> 0",
              written.get("after", 0) > 0)
    flushed = written.get("before", 0) + written.get("after", 0)
    out.check("requests in the tables ≤ requests made (ADD never twice)",
              f"{flushed} ≤ {len(report.samples)}", "≤ requests", flushed <= len(report.samples))
    return out


DRILLS: dict[str, Any] = {"7": table_faults}
