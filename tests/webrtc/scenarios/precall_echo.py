"""A person's test peer against PrecallRegistry: echo of audio and video, pings both ways, a
report, the concurrency limit, and what happens when the person simply leaves."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rooms.errors import DomainError
from signaling.precall import PrecallRegistry
from tests.webrtc.child import scenario
from tests.webrtc.media import wait_until
from tests.webrtc.peer import PrecallClient

TIMEOUT = 20.0
FRAMES = 10


async def report_when_measured(registry: PrecallRegistry, session_id: str) -> dict[str, Any]:
    """The report once the data-channel round trip has been measured (the server pings every
    PING interval; the first report may come before the first pong)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            try:
                report = await registry.report(session_id, owner="p-1")
            except DomainError as exc:
                if exc.code != "precall_not_ready":
                    raise
            else:
                if report["rtt_ms"] is not None and report["packet_loss_pct"] is not None:
                    return report
            await asyncio.sleep(0.1)


async def main(args: list[str]) -> dict[str, Any]:
    registry = PrecallRegistry(max_concurrent=2, max_seconds=60, ice_servers=[], ping_interval=0.2)
    client = PrecallClient()
    extra: list[PrecallClient] = []
    result: dict[str, Any] = {}
    try:
        session = await registry.start(offer_sdp=await client.offer(), owner="p-1")
        await client.accept(session.answer_sdp)
        async with asyncio.timeout(TIMEOUT):
            await client.connected.wait()
            await wait_until(lambda: {"audio", "video"} <= set(client.sinks), timeout=TIMEOUT)
            for kind in ("audio", "video"):
                await client.sinks[kind].wait_for(FRAMES, TIMEOUT)
            client.ping(12345.5)
            await client.pong_received.wait()
        report = await report_when_measured(registry, session.session_id)
        result["echo"] = {
            "answer_has_candidates": "a=candidate:" in session.answer_sdp,
            "frames": {kind: sink.count for kind, sink in client.sinks.items()},
            "pongs": client.pongs,
            "server_pings_answered": client.pings_answered,
            "report": report,
            "max_seconds": session.max_seconds,
        }

        # Someone else's session id is not found (no leaking whose it is).
        try:
            await registry.report(session.session_id, owner="p-2")
        except DomainError as exc:
            result["other_owner_code"] = exc.code

        # The limit: a second test starts, a third is refused.
        second = PrecallClient()
        extra.append(second)
        await registry.start(offer_sdp=await second.offer(), owner="p-2")
        third = PrecallClient()
        extra.append(third)
        try:
            await registry.start(offer_sdp=await third.offer(), owner="p-3")
        except DomainError as exc:
            result["third"] = {"code": exc.code, "message": exc.message}
        result["active_at_limit"] = registry.active_count

        # A garbage offer is refused with its code and takes no slot.
        await registry.close(session.session_id, owner="p-1")
        try:
            await registry.start(offer_sdp="v=0\r\nnonsense\r\n", owner="p-4")
        except DomainError as exc:
            result["garbage_code"] = exc.code
        result["active_after_garbage"] = registry.active_count

        # The person closes their side: the registry notices and frees the slot.
        leaver = PrecallClient()
        extra.append(leaver)
        left = await registry.start(offer_sdp=await leaver.offer(), owner="p-5")
        await leaver.accept(left.answer_sdp)
        await asyncio.wait_for(leaver.connected.wait(), TIMEOUT)
        before = registry.active_count
        started = time.monotonic()
        await leaver.close()
        await wait_until(lambda: registry.active_count == before - 1, timeout=TIMEOUT)
        result["leaver"] = {
            "active_before": before,
            "active_after": registry.active_count,
            "noticed_after_s": round(time.monotonic() - started, 2),
        }
        return result
    finally:
        await registry.close_all()
        await client.close()
        for other in extra:
            await other.close()


if __name__ == "__main__":
    scenario(main)
