"""Mode "time_limit": a session ends by itself after max_seconds; the person's socket is told
(through the PrecallTransport, here a list-backed fake) and their peer connection closes.
Mode "leaks": after a warm-up, 20 pre-call tests one after another leave no peer connection,
transceiver, task, thread, file descriptor or UDP socket behind."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from typing import Any

from aiortc import RTCDtlsTransport, RTCIceTransport, RTCPeerConnection, RTCRtpTransceiver

from rooms.errors import DomainError
from signaling.precall import EchoTrack, PrecallRegistry
from tests.webrtc.child import scenario
from tests.webrtc.media import wait_until
from tests.webrtc.peer import PrecallClient

TIMEOUT = 20.0
SESSIONS = 20
TRACKED = (RTCPeerConnection, RTCRtpTransceiver, RTCDtlsTransport, RTCIceTransport, EchoTrack)


class RecordingTransport:
    """The PrecallTransport realtime implements, as a list (style: list-backed fake)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    async def send(self, to: str, message: dict[str, Any]) -> None:
        self.sent.append((to, message))
        self.arrived.set()


async def run_one(
    registry: PrecallRegistry,
    owner: str,
    *,
    client_leaves: bool,
    during: dict[str, int] | None = None,
) -> None:
    client = PrecallClient()
    try:
        session = await registry.start(offer_sdp=await client.offer(), owner=owner)
        await client.accept(session.answer_sdp)
        async with asyncio.timeout(TIMEOUT):
            await client.connected.wait()
            await wait_until(lambda: "video" in client.sinks, timeout=TIMEOUT)
            await client.sinks["video"].wait_for(3, TIMEOUT)
            while True:
                try:
                    await registry.report(session.session_id)
                    break
                except DomainError as exc:
                    if exc.code != "precall_not_ready":
                        raise
                    await asyncio.sleep(0.05)
        if during is not None:
            during.update(census())
        if client_leaves:
            await client.close()
            await wait_until(lambda: registry.active_count == 0, timeout=TIMEOUT)
        else:
            await registry.close(session.session_id, owner=owner)
    finally:
        await client.close()


def census() -> dict[str, int]:
    gc.collect()
    counts = {cls.__name__: 0 for cls in TRACKED}
    for obj in gc.get_objects():
        for cls in TRACKED:
            if isinstance(obj, cls):
                counts[cls.__name__] += 1
    with open("/proc/net/udp") as udp:  # this namespace only: every UDP socket is ours
        udp_sockets = len(udp.readlines()) - 1
    threads = threading.enumerate()
    return {
        **counts,
        "asyncio_tasks": len(asyncio.all_tasks()),
        # Decoder threads belong to one receiver each and must go with it. The loop's default
        # executor (encoders run there) keeps idle "asyncio_N" threads for reuse and grows
        # with load up to its max_workers: not per session, so not counted.
        "threads": sum(1 for t in threads if not t.name.startswith("asyncio_")),
        "decoder_threads": sum(1 for t in threads if t.name.endswith("-decoder")),
        "fds": len(os.listdir("/proc/self/fd")),
        "udp_sockets": udp_sockets,
    }


async def time_limit() -> dict[str, Any]:
    transport = RecordingTransport()
    registry = PrecallRegistry(
        max_concurrent=1, max_seconds=2.0, ice_servers=[], transport=transport
    )
    client = PrecallClient()
    try:
        started = time.monotonic()
        session = await registry.start(
            offer_sdp=await client.offer(), owner="p-1", reply_to="specific.reply!abc"
        )
        await client.accept(session.answer_sdp)
        await asyncio.wait_for(client.connected.wait(), TIMEOUT)
        active_while_running = registry.active_count
        await asyncio.wait_for(transport.arrived.wait(), TIMEOUT)
        closed_after = time.monotonic() - started
        await asyncio.wait_for(client.ended.wait(), TIMEOUT)
        try:
            await registry.report(session.session_id)
            report_code = None
        except DomainError as exc:
            report_code = exc.code
        await wait_until(lambda: registry.task_count == 0, timeout=TIMEOUT)
        return {
            "max_seconds": session.max_seconds,
            "active_while_running": active_while_running,
            "closed_after_s": round(closed_after, 2),
            "sent": transport.sent,
            "client_state": client.pc.connectionState,
            "active_after": registry.active_count,
            "tasks_after": registry.task_count,
            "report_code": report_code,
        }
    finally:
        await registry.close_all()
        await client.close()


async def leaks() -> dict[str, Any]:
    registry = PrecallRegistry(max_concurrent=2, max_seconds=60, ice_servers=[])
    # Warm-up: aiortc's codecs and the loop's default executor start threads once per process.
    await run_one(registry, "p-0", client_leaves=False)
    baseline: dict[str, int] = {}

    def settled() -> bool:
        return census() == baseline

    await wait_until(lambda: census()["RTCPeerConnection"] == 0, timeout=TIMEOUT)
    baseline.update(census())
    during: dict[str, int] = {}
    for n in range(SESSIONS):
        await run_one(
            registry, f"p-{n + 1}", client_leaves=n % 2 == 1, during=during if n == 0 else None
        )
    # Closing finishes in the background (DTLS, SCTP, decoder threads); the parent test
    # compares the numbers, so a leak shows as a difference, not as this timeout.
    with contextlib.suppress(TimeoutError):
        await wait_until(settled, timeout=TIMEOUT, interval=0.2)
    return {
        "baseline": baseline,
        "during_first": during,
        "after": census(),
        "registry": {"active": registry.active_count, "tasks": registry.task_count},
    }


async def main(args: list[str]) -> dict[str, Any]:
    return await (time_limit() if args[0] == "time_limit" else leaks())


if __name__ == "__main__":
    scenario(main, deadline=240.0)
