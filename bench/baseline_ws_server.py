"""The Python ceiling for Hearth's benchmarks: a bare broadcast server on the `websockets`
library. Rooms by path (`ws://127.0.0.1:<port>/<anything>`); every text frame a member sends is
relayed unchanged to every member of its room, sender included, with one `broadcast()` call.
No persistence, no auth, no JSON parsing, no channel layer: what is left is the websocket
protocol and one Python event loop, i.e. the floor any Python room server stands on.

On join the server sends one `{"type":"welcome"}` frame so that a load generator knows the
member is registered in its room before the load starts (Hearth sends `welcome` too).

    .venv/bin/python bench/baseline_ws_server.py --port 9200

Stops on SIGTERM or SIGINT. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

ROOMS: dict[str, set[ServerConnection]] = defaultdict(set)
WELCOME = json.dumps({"v": 1, "type": "welcome", "data": {}})


async def handle(connection: ServerConnection) -> None:
    path = connection.request.path if connection.request is not None else "/"
    room = ROOMS[path]
    room.add(connection)
    try:
        await connection.send(WELCOME)
        async for message in connection:
            # One broadcast per message, as websockets' own broadcast guide recommends: it
            # writes to every connection without awaiting any (a slow reader is skipped by
            # the library's write buffer, never waited for).
            broadcast(room, message)
    except ConnectionClosed:
        pass
    finally:
        room.discard(connection)
        if not room:
            ROOMS.pop(path, None)


async def main(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        handle,
        host,
        port,
        compression=None,
        max_size=2**20,
        ping_interval=None,
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on {host}:{bound}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the baseline server binds loopback only")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.host, args.port))
