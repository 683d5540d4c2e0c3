"""Glare: p-3 and p-7 both create an offer and send it before either has seen the other's.
With signaling.roles, p-7 (the higher number) is polite: it drops its own offer and answers;
p-3 ignores p-7's offer and takes the answer. Both must end connected with media both ways."""

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
    try:
        # Delivery is held until both offers are queued, so they cross for certain.
        await asyncio.gather(*(peer.negotiate() for peer in peers.values()))
        states_when_offers_crossed = {me: peer.pc.signalingState for me, peer in peers.items()}
        bus.start()
        async with asyncio.timeout(TIMEOUT):
            for peer in peers.values():
                await peer.connected.wait()
                await peer.message_received.wait()
                for kind in ("audio", "video"):
                    await wait_until(lambda p=peer, k=kind: k in p.sinks, timeout=TIMEOUT)
                    await peer.sinks[kind].wait_for(FRAMES, TIMEOUT)
        return {
            "errors": bus.errors,
            "states_when_offers_crossed": states_when_offers_crossed,
            "peers": {
                me: {
                    "polite": peer.polite,
                    "rollbacks": peer.rollbacks,
                    "ignored_offers": peer.ignored_offers,
                    "state": peer.pc.connectionState,
                    "signaling_state": peer.pc.signalingState,
                    "frames": {kind: sink.count for kind, sink in peer.sinks.items()},
                    "messages": peer.messages,
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
