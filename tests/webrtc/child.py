"""Child side of the WebRTC harness: what a scenario module runs inside the namespace.

A scenario is `@scenario async def main(args: list[str]) -> dict`. The decorator refuses to
run outside a prepared namespace (so a scenario started by hand cannot touch the real
network), runs the coroutine with a deadline and prints {"ok": true, ...} or
{"ok": false, "error", "traceback"} as the last line.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from tests.webrtc.netns import NETNS_ADDRESS

Scenario = Callable[[list[str]], Awaitable[dict[str, Any]]]


class NotIsolated(RuntimeError):
    pass


def require_isolated_namespace() -> None:
    """Only `lo` exists (no route off the machine) and 127.0.0.2 is on it."""
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise NotIsolated(
            f"refusing to run WebRTC outside a private network namespace (interfaces: "
            f"{interfaces}); use tests.webrtc.netns.run_in_netns"
        )
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((NETNS_ADDRESS, 0))
    finally:
        probe.close()


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def scenario(main: Scenario, *, deadline: float = 120.0) -> None:
    """Run `main` (call this under `if __name__ == "__main__":`)."""
    try:
        require_isolated_namespace()
        result = asyncio.run(asyncio.wait_for(main(sys.argv[1:]), deadline))
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        emit({"ok": False, "error": repr(exc), "traceback": traceback.format_exc()})
        sys.exit(1)
    emit({"ok": True, **result})
