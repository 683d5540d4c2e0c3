"""Two aiortc peers (p-3 offers, p-7 answers) over the Bus: connect, exchange audio, video and a
data-channel message, on the namespace's loopback with no ICE servers at all."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCConfiguration

from tests.webrtc.child import scenario
from tests.webrtc.media import wait_until
from tests.webrtc.peer import Bus, pair_on_bus

FRAMES = 10
TIMEOUT = 20.0


async def main(args: list[str]) -> dict[str, Any]:
    bus = Bus()
    peers = pair_on_bus(bus, lambda _me: lambda: RTCConfiguration([]))
    bus.start()
    try:
        await peers["p-3"].negotiate()
        async with asyncio.timeout(TIMEOUT):
            for peer in peers.values():
                await peer.connected.wait()
                await peer.message_received.wait()
                for kind in ("audio", "video"):
                    await wait_until(lambda p=peer, k=kind: k in p.sinks, timeout=TIMEOUT)
                    await peer.sinks[kind].wait_for(FRAMES, TIMEOUT)
        return {
            "errors": bus.errors,
            "peers": {
                me: {
                    "state": peer.pc.connectionState,
                    "frames": {kind: sink.count for kind, sink in peer.sinks.items()},
                    "messages": peer.messages,
                    "pair": peer.selected_pair(),
                    "local_candidates": [
                        line
                        for line in peer.pc.localDescription.sdp.splitlines()
                        if line.startswith("a=candidate:")
                    ],
                }
                for me, peer in peers.items()
            },
        }
    finally:
        await bus.stop()
        for peer in peers.values():
            await peer.close()


if __name__ == "__main__":
    scenario(main)
