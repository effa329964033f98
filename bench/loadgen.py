"""Closed-loop HTTP load for the side-by-side benchmark: wrk when installed, else aiohttp.

Both report requests/s and latency percentiles for N keep-alive connections over a fixed time.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class LoadResult:
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str


def _lua(body: str, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = [[{body}]]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, body: str, headers: dict[str, str], *, connections: int,
            seconds: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(body, headers))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s", script.name,
         url],
        capture_output=True, text=True, check=True,
    ).stdout
    Path(script.name).unlink()
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return LoadResult(connections, rps, _ms(pct["50"]), _ms(pct["99"]), count, "wrk")


async def _aiohttp_load(url: str, body: str, headers: dict[str, str], connections: int,
                        seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.gather(*(worker() for _ in range(connections)))
    q = statistics.quantiles(latencies, n=100)
    return LoadResult(connections, len(latencies) / seconds, q[49], q[98], errors, "aiohttp")


def run_load(url: str, body: str, headers: dict[str, str], *, connections: int,
             seconds: float) -> LoadResult:
    if shutil.which("wrk"):
        return run_wrk(url, body, headers, connections=connections, seconds=seconds)
    return asyncio.run(_aiohttp_load(url, body, headers, connections, seconds))
