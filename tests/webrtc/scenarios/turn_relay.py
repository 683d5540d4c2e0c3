"""Real coturn in TURN REST mode, credentials from signaling (the function `welcome` uses).

mode "relay": p-3 and p-7 connect with relay-only ICE through coturn and exchange media;
the result shows their candidates and the selected pair.
mode "expired": p-3 gets a credential whose expiry is in the past; coturn refuses its
allocation (401 for that user name in coturn's log), so p-3 gathers no candidate and never
connects; then a fresh credential for the same participant from the same coturn does connect.
(p-7 gathers nothing in the refused round either: once p-3's offer says end-of-candidates with
no candidate, aioice drops the component before p-7 gathers - aioice ice.py _prune_components.)
mode "precall": the pre-call registry with its own TURN credentials (as in production, where
the worker sits on a private network); a relay-only client (a family behind a strict router)
gets `relay_used: true`, a client with only host candidates `relay_used: false`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy

from rooms.errors import DomainError
from signaling.ice import IceConfig, ice_config_build
from signaling.precall import PRECALL_TURN_USER, PrecallRegistry, selected_candidate_types
from tests.webrtc.child import scenario
from tests.webrtc.media import wait_until
from tests.webrtc.peer import Bus, MeshPeer, PrecallClient, pair_on_bus
from tests.webrtc.servers import TurnServer

FRAMES = 10
TIMEOUT = 20.0
TTL_SECONDS = 600
NEVER_CONNECTS_WINDOW = 3.0


def relay_only(config: IceConfig) -> RTCConfiguration:
    # aiortc 1.16 passes iceTransportPolicy to aioice (`transport_policy`): only relay
    # candidates are gathered and remote host/srflx candidates are not paired.
    return RTCConfiguration(
        iceServers=[RTCIceServer(**server) for server in config.ice_servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def issue(turn: TurnServer, participant_id: str, now: datetime) -> IceConfig:
    return ice_config_build(
        participant_id=participant_id,
        stun_urls=[],
        turn_urls=[turn.url],
        turn_secret=turn.secret,
        ttl_seconds=TTL_SECONDS,
        now=now,
    )


def candidates(peer: MeshPeer) -> list[str]:
    description = peer.pc.localDescription
    if description is None:
        return []
    return [line for line in description.sdp.splitlines() if line.startswith("a=candidate:")]


async def connect_pair(configs: dict[str, IceConfig], *, expect_connected: bool) -> dict[str, Any]:
    bus = Bus()
    peers = pair_on_bus(bus, lambda me: lambda: relay_only(configs[me]))
    bus.start()
    try:
        await peers["p-3"].negotiate()
        if expect_connected:
            async with asyncio.timeout(TIMEOUT):
                for peer in peers.values():
                    await peer.connected.wait()
                    for kind in ("audio", "video"):
                        await wait_until(lambda p=peer, k=kind: k in p.sinks, timeout=TIMEOUT)
                        await peer.sinks[kind].wait_for(FRAMES, TIMEOUT)
                    await peer.message_received.wait()
        else:
            # A negative cannot be awaited; the refusal itself is shown by coturn's log and
            # the empty candidate list, this window only shows nothing happens afterwards.
            try:
                async with asyncio.timeout(NEVER_CONNECTS_WINDOW):
                    await peers["p-3"].connected.wait()
            except TimeoutError:
                pass
        return {
            "errors": bus.errors,
            "peers": {
                me: {
                    "username": configs[me].ice_servers[0]["username"],
                    "state": peer.pc.connectionState,
                    "candidates": candidates(peer),
                    "pair": peer.selected_pair(),
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


async def precall_report(turn: TurnServer, client: PrecallClient) -> dict[str, Any]:
    registry = PrecallRegistry(
        max_concurrent=1,
        max_seconds=60,
        ice_servers=lambda: issue(turn, PRECALL_TURN_USER, datetime.now(UTC)).ice_servers,
        ping_interval=0.2,
    )
    try:
        session = await registry.start(offer_sdp=await client.offer(), owner="p-3")
        await client.accept(session.answer_sdp)
        async with asyncio.timeout(TIMEOUT):
            await client.connected.wait()
            await wait_until(lambda: "video" in client.sinks, timeout=TIMEOUT)
            await client.sinks["video"].wait_for(FRAMES, TIMEOUT)
            while True:
                try:
                    report = await registry.report(session.session_id)
                except DomainError as exc:
                    if exc.code != "precall_not_ready":
                        raise
                else:
                    if report["rtt_ms"] is not None:
                        break
                await asyncio.sleep(0.1)
        return {
            "report": report,
            "client_pair": selected_candidate_types(client.pc),
            "server_answer_candidate_types": sorted(
                {
                    line.split(" typ ")[1].split()[0]
                    for line in session.answer_sdp.splitlines()
                    if line.startswith("a=candidate:")
                }
            ),
        }
    finally:
        await registry.close_all()
        await client.close()


async def main(args: list[str]) -> dict[str, Any]:
    mode = args[0]
    turn = TurnServer()
    try:
        now = datetime.now(UTC)
        if mode == "precall":
            strict = PrecallClient(relay_only(issue(turn, "p-3", now)))
            direct = PrecallClient(RTCConfiguration(iceServers=[]))
            return {
                "strict": await precall_report(turn, strict),
                "direct": await precall_report(turn, direct),
                "log": turn.log(),
            }
        if mode == "relay":
            configs = {pid: issue(turn, pid, now) for pid in ("p-3", "p-7")}
            return {"relay": await connect_pair(configs, expect_connected=True), "log": turn.log()}
        expired = {
            "p-3": issue(turn, "p-3", now - timedelta(seconds=2 * TTL_SECONDS)),
            "p-7": issue(turn, "p-7", now),
        }
        refused = await connect_pair(expired, expect_connected=False)
        fresh = {pid: issue(turn, pid, datetime.now(UTC)) for pid in ("p-3", "p-7")}
        accepted = await connect_pair(fresh, expect_connected=True)
        return {"expired": refused, "fresh": accepted, "log": turn.log()}
    finally:
        turn.stop()


if __name__ == "__main__":
    scenario(main)
