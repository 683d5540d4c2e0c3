"""What a scenario's world looks like: the interfaces, whether any route leaves the namespace,
and the host candidates aioice gathers with no ICE servers."""

from __future__ import annotations

import socket
from typing import Any

import aioice

from tests.webrtc.child import scenario


def has_default_route() -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: needs a route, sends nothing
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def main(args: list[str]) -> dict[str, Any]:
    connection = aioice.Connection(ice_controlling=True)
    try:
        await connection.gather_candidates()
        candidates = [
            {"host": c.host, "type": c.type, "transport": c.transport}
            for c in connection.local_candidates
        ]
    finally:
        await connection.close()
    return {
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "host_candidates": candidates,
        "default_route": has_default_route(),
    }


if __name__ == "__main__":
    scenario(main)
