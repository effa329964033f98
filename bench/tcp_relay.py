"""A bare TCP relay: the floor of one extra process on the path, for the TTFT bench's control row.

`python -m bench.tcp_relay --port P --to 127.0.0.1:Q` copies bytes both ways between each client
connection and a connection of its own to Q, on uvloop (as `edge-router serve` runs), with no
HTTP parsing at all. Whatever it adds to time to first token is what any proxy process adds on
this machine (waking a process, and touching its memory, after it sat idle while the upstream
was silent; two more loopback hops); the router's own cost is what it adds beyond that.
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvloop


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve(port: int, host: str, target_port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, target_port)
        for w in (writer, up_writer):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"relaying 127.0.0.1:{port} -> {host}:{target_port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to", required=True, help="host:port")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")
    uvloop.run(_serve(args.port, host, int(port)))


if __name__ == "__main__":
    main()
