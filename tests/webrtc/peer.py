"""An aiortc endpoint that negotiates with one remote participant the way docs/protocol.md asks
a client to: perfect negotiation with the polite/impolite roles of signaling.roles.

aiortc has no rollback: setLocalDescription({"type": "rollback"}) returns without leaving
"have-local-offer" (checked with aiortc 1.16), and a remote offer in that state raises
InvalidStateError. So the polite side "rolls back" by replacing its RTCPeerConnection with a
fresh one carrying the same local tracks and data channel, then answers the remote offer.
Before the first answer nothing has been connected yet, so nothing is lost. Browsers do a real
rollback instead.

aiortc has no ICE restart either (no `restartIce()`, no `iceRestart` offer option), so an
aiortc peer "restarts ICE" the same way: `restart()` replaces the connection and offers with
the `restart: true` hint, and the side that receives such an offer replaces its own before
answering. A browser calls `pc.restartIce()` and keeps its connection and DTLS session.

`send` carries `signal.send` data ({"to", "description"|"candidate"}); whatever delivers it
calls `on_signal` with the `signal` event data ({"from", ...}), in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from signaling.relay import parse_signal
from signaling.roles import is_polite
from tests.webrtc.media import FrameSink, local_tracks

SendSignal = Callable[[dict[str, Any]], Awaitable[None]]
CHAT_LABEL = "chat"


class MeshPeer:
    """`me`'s connection to `peer`. Every PC it makes uses `configuration` (never None: that
    would mean aiortc's public STUN default)."""

    def __init__(
        self,
        *,
        me: str,
        peer: str,
        send: SendSignal,
        configuration: Callable[[], RTCConfiguration],
        media: bool = True,
    ) -> None:
        self.me = me
        self.peer = peer
        self.polite = is_polite(me=me, peer=peer)
        self._send = send
        self._configuration = configuration
        self._media = media
        self.making_offer = False
        self.ignore_offer = False
        self.rollbacks = 0
        self.ignored_offers = 0
        self.restarts = 0
        self.restart_offers_received = 0
        # time.monotonic() when the current connection reached "connected".
        self.connected_at: float | None = None
        self.sinks: dict[str, FrameSink] = {}
        self.messages: list[str] = []
        self.connected = asyncio.Event()
        self.message_received = asyncio.Event()
        self.pc = self._new_pc()

    # -- set-up --------------------------------------------------------------------------

    def _new_pc(self) -> RTCPeerConnection:
        configuration = self._configuration()
        if configuration.iceServers is None:
            raise ValueError("iceServers=None means aiortc's public STUN server; pass a list.")
        pc = RTCPeerConnection(configuration)
        if self._media:
            for track in local_tracks():
                pc.addTrack(track)
        channel = pc.createDataChannel(CHAT_LABEL)
        channel.on("open", lambda: channel.send(f"hello from {self.me}"))

        @pc.on("datachannel")
        def on_datachannel(remote: RTCDataChannel) -> None:
            remote.on("message", self._on_message)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.sinks[track.kind] = FrameSink(track)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and pc is self.pc:
                self.connected_at = time.monotonic()
                self.connected.set()

        return pc

    def _on_message(self, message: Any) -> None:
        self.messages.append(str(message))
        self.message_received.set()

    # -- negotiation ---------------------------------------------------------------------

    async def negotiate(self, *, restart: bool = False) -> None:
        """Make and send an offer (what `negotiationneeded` does in a browser). If a colliding
        remote offer made the polite side replace the connection meanwhile, the offer of the
        old one is dropped: the answer on the new one is already on its way."""
        pc = self.pc
        self.making_offer = True
        try:
            await pc.setLocalDescription(await pc.createOffer())
            if pc is self.pc:
                await self._send_description(restart=restart)
        except Exception:
            if pc is self.pc:
                raise
        finally:
            if pc is self.pc:
                self.making_offer = False

    async def restart(self) -> None:
        """The ICE restart of an aiortc peer (see the module docstring): a new connection,
        offered with the `restart: true` hint."""
        await self._replace_pc()
        self.restarts += 1
        await self.negotiate(restart=True)

    async def on_signal(self, data: dict[str, Any]) -> None:
        description = data.get("description")
        if description is not None:
            restart = description["type"] == "offer" and bool(data.get("restart"))
            self.restart_offers_received += restart
            if description["type"] == "offer" and self.pc.signalingState == "closed":
                # aiortc closes a connection whose remote side closed (the other side replaced
                # its own, for a restart): a closed connection offers nothing, so no collision.
                await self._replace_pc()
            collision = description["type"] == "offer" and (
                self.making_offer or self.pc.signalingState != "stable"
            )
            self.ignore_offer = not self.polite and collision
            if self.ignore_offer:
                self.ignored_offers += 1
                return
            if collision:
                await self._rollback()
            elif restart and self.pc.connectionState != "new":
                # The other side restarted ICE on a new connection; aiortc cannot apply an
                # ICE restart to this one (a browser would), so it follows with a new one too.
                await self._replace_pc()
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=description["sdp"], type=description["type"])
            )
            if description["type"] == "offer":
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self._send_description()
        elif data.get("candidate") is not None:
            await self._add_candidate(data["candidate"])

    async def _rollback(self) -> None:
        await self._replace_pc()
        self.rollbacks += 1

    async def _replace_pc(self) -> None:
        old, self.pc = self.pc, self._new_pc()
        self.making_offer = False
        self.connected.clear()
        self.message_received.clear()
        self.connected_at = None
        old_sinks, self.sinks = self.sinks, {}
        for sink in old_sinks.values():
            await sink.stop()
        await old.close()

    async def _add_candidate(self, candidate: dict[str, Any]) -> None:
        # aiortc gathers before answering and never trickles, but browsers do.
        if self.ignore_offer:
            return
        text = candidate["candidate"]
        if not text:
            await self.pc.addIceCandidate(None)
            return
        parsed = candidate_from_sdp(text.removeprefix("candidate:"))
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(parsed)

    async def _send_description(self, *, restart: bool = False) -> None:
        local = self.pc.localDescription
        data: dict[str, Any] = {
            "to": self.peer,
            "description": {"type": local.type, "sdp": local.sdp},
        }
        if restart:
            data["restart"] = True
        await self._send(data)

    # -- results -------------------------------------------------------------------------

    def selected_pair(self) -> tuple[str, str] | None:
        from signaling.precall import selected_candidate_types

        return selected_candidate_types(self.pc)

    async def close(self) -> None:
        for sink in self.sinks.values():
            await sink.stop()
        await self.pc.close()


class Bus:
    """The server's relay in miniature, for peers in one process: every message goes through
    signaling.relay.parse_signal and arrives with `from` set by the bus, in order per peer."""

    def __init__(self) -> None:
        self._peers: dict[str, dict[str, MeshPeer]] = {}
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._readers: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.errors: list[str] = []

    def sender(self, me: str) -> SendSignal:
        async def send(data: dict[str, Any]) -> None:
            payload = parse_signal(data)
            await self._queue(data["to"]).put(payload.event_data(sender_id=me))

        return send

    def _queue(self, who: str) -> asyncio.Queue[dict[str, Any]]:
        return self._queues.setdefault(who, asyncio.Queue())

    def attach(self, peer: MeshPeer) -> None:
        self._peers.setdefault(peer.me, {})[peer.peer] = peer

    def start(self) -> None:
        """Begin delivering (queued messages first). Holding delivery until both offers are
        queued is how the glare scenario makes the two offers cross for certain."""
        for me in self._peers:
            self._readers.append(asyncio.get_running_loop().create_task(self._read(me)))

    async def _read(self, me: str) -> None:
        queue = self._queue(me)
        while True:
            data = await queue.get()
            try:
                await self._peers[me][data["from"]].on_signal(data)
            except Exception as exc:  # noqa: BLE001 - reported by the scenario, not swallowed
                self.errors.append(f"{me} <- {data['from']}: {exc!r}")
            self.delivered += 1

    async def stop(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader


class PrecallClient:
    """What a browser does for the pre-call test: offer audio, video and a "precall" data
    channel with candidates already gathered (the server does not take trickled candidates),
    answer the server's pings, send its own, and watch its echo come back."""

    def __init__(self, configuration: RTCConfiguration | None = None) -> None:
        self.pc = RTCPeerConnection(configuration or RTCConfiguration(iceServers=[]))
        for track in local_tracks():
            self.pc.addTrack(track)
        self.channel = self.pc.createDataChannel("precall")
        self.channel.on("message", self._on_message)
        self.sinks: dict[str, FrameSink] = {}
        self.pongs: list[float] = []
        self.pings_answered = 0
        self.pong_received = asyncio.Event()
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.sinks[track.kind] = FrameSink(track)

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState == "connected":
                self.connected.set()
            elif self.pc.connectionState in ("failed", "closed"):
                self.ended.set()

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    def ping(self, stamp: float) -> None:
        self.channel.send(json.dumps({"type": "ping", "t": stamp}))

    def _on_message(self, message: Any) -> None:
        data = json.loads(message)
        if data["type"] == "ping":
            self.channel.send(json.dumps({"type": "pong", "t": data["t"]}))
            self.pings_answered += 1
        elif data["type"] == "pong":
            self.pongs.append(data["t"])
            self.pong_received.set()

    async def close(self) -> None:
        for sink in self.sinks.values():
            await sink.stop()
        await self.pc.close()


def pair_on_bus(bus: Bus, configuration: Callable[[str], Callable[[], Any]]) -> dict[str, MeshPeer]:
    """The two-peer call the scenarios use: p-3 (impolite) and p-7 (polite), each signaling
    through `bus`; `configuration(me)` gives that peer's RTCConfiguration factory."""
    peers = {
        me: MeshPeer(me=me, peer=other, send=bus.sender(me), configuration=configuration(me))
        for me, other in (("p-3", "p-7"), ("p-7", "p-3"))
    }
    for peer in peers.values():
        bus.attach(peer)
    return peers
