"""`edge-router simulate`: local OpenAI-compatible fake upstreams with fault injection."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from ..simulator import FaultError, Simulator, default_specs, parse_fault
from ..simulator.faults import __doc__ as FAULTS_DOC
from ..simulator.upstreams import REGION_IDS

_DESCRIPTION = f"""\
Run N fake OpenAI-compatible upstreams in one process, upstream i on 127.0.0.1:(BASE_PORT+i).
Ids: {", ".join(REGION_IDS)}, then upstream-6, upstream-7, ...
Each serves POST /v1/chat/completions (JSON and SSE), POST /v1/completions, POST /v1/embeddings,
GET /v1/models, the Responses API (POST /v1/responses, JSON and SSE; GET/DELETE
/v1/responses/ID and /input_items for the responses it stored itself) and Anthropic's Messages
API (POST /v1/messages, JSON and SSE; /v1/messages/count_tokens; key as x-api-key or Bearer).
Replies say "Hello from ID" and echo the model; function tools get a tool call and a JSON
schema (response_format, text.format) gets a JSON object of its shape; Responses and Messages
answer 404 model_not_found for a model the upstream does not list. Every response has the
upstream's own x-request-id (sim-ID-000001, ...). Faults apply to every endpoint.

After start it prints one `ID  URL` line per upstream and then `simulator ready`.
"""

_EPILOG = f"""\
fault specs (--fault ID=SPEC, ID may be * for every upstream):
{FAULTS_DOC.split(chr(10), 2)[2] if FAULTS_DOC else ""}
control endpoints (on the control port, default BASE_PORT-1, e.g. 9000; also on every
upstream's port, where they default to that upstream; `/_sim` calls are not counted):
  GET  /_sim/state[?upstream=ID|*]    counters (requests, by_path) and the current fault
  GET  /_sim/requests?upstream=ID&limit=N   the last N requests: method, path, headers, body
  POST /_sim/fault  {{"upstream": "us-east", "spec": "refuse"}}  fault of one upstream (or "*")
  POST /_sim/reset  [{{"upstream": "ID"}}]                        clear counters and fault
  e.g. curl -s -XPOST 127.0.0.1:9000/_sim/fault -d '{{"upstream":"ap-northeast","spec":"refuse"}}'
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="run local fake upstreams with fault injection",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--upstreams", type=int, default=5, metavar="N", help="how many (default 5)"
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=9001,
        metavar="P",
        help="port of the first upstream (default 9001; 0 = free ports)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        metavar="P",
        help="port of the control API (default BASE_PORT-1, or a free one with --base-port 0)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--profile",
        choices=("seed", "fast"),
        default="seed",
        help="seed: per-region latency before headers, from the tutorial's table; "
        "fast: none (default seed)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ID=SPEC",
        help="a fault at start, repeatable (grammar below)",
    )
    parser.add_argument(
        "--models",
        action="append",
        default=[],
        metavar="ID=a,b",
        help="the model list of one upstream's /v1/models, repeatable",
    )
    parser.add_argument(
        "--require-key",
        metavar="KEY",
        help="answer 401 invalid_api_key unless `Authorization: Bearer KEY`",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed for latency and rate= (default 0)"
    )
    parser.add_argument(
        "--write-config", metavar="FILE", help="write a router config pointing here"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed certificate made at start (a verifying client, "
        "such as the router, refuses it: the TLS failure drill)",
    )
    parser.set_defaults(func=run)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, eq, rest = value.partition("=")
        if not eq or not key.strip() or not rest.strip():
            raise ValueError(f"{flag} {value!r}: expected ID=VALUE")
        pairs[key.strip()] = rest.strip()
    return pairs


def _build(args: argparse.Namespace) -> Simulator:
    faults = _pairs(args.fault, "--fault")
    for upstream_id, spec in faults.items():
        try:
            parse_fault(spec)
        except FaultError as exc:
            raise ValueError(f"--fault {upstream_id}={spec}: {exc}") from exc
    models = {
        k: [m.strip() for m in v.split(",") if m.strip()]
        for k, v in _pairs(args.models, "--models").items()
    }
    specs = default_specs(args.upstreams, faults=faults, models=models)
    if args.base_port and not 0 < args.base_port <= 65536 - args.upstreams:
        raise ValueError(f"--base-port {args.base_port}: ports must fit in 1-65535")
    control_port = args.control_port
    if control_port is None:
        control_port = args.base_port - 1 if args.base_port else 0
    if not 0 <= control_port <= 65535:
        raise ValueError(f"--control-port {control_port}: must be 0-65535")
    return Simulator(
        specs,
        host=args.host,
        base_port=args.base_port,
        profile=args.profile,
        seed=args.seed,
        require_key=args.require_key,
        tls=args.tls,
        control_port=control_port,
    )


async def _serve(sim: Simulator, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with sim:
        width = max(len(i) for i in sim.ids)
        for upstream_id in sim.ids:
            fault = sim.state(upstream_id)["fault"]["spec"]
            note = "" if fault == "ok" else f"  fault {fault}"
            print(f"{upstream_id:<{width}}  {sim.url(upstream_id)}{note}")
        if args.write_config:
            sim.write_config(args.write_config)
            print(f"wrote router config {args.write_config}")
        print(f"control: POST {sim.control_url()}/fault (see --help)")
        print("simulator ready", flush=True)
        await stop.wait()
    print("simulator stopped", flush=True)


def _runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def run(args: argparse.Namespace) -> int:
    try:
        sim = _build(args)
    except (ValueError, KeyError) as exc:
        print(f"edge-router simulate: {exc}", file=sys.stderr)
        return 2
    try:
        _runner()(_serve(sim, args))
    except OSError as exc:
        print(f"edge-router simulate: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
