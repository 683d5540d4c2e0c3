"""The pre-call test: a server-side WebRTC peer a person connects to before a session.

It answers the browser's offer, sends the person's camera and microphone back to them, answers
data-channel pings (and pings them, to measure the round trip), and reports in plain language
whether the connection will carry the session. `PrecallRegistry` owns every peer connection,
task and track it creates: each session ends after `max_seconds`, when its connection fails,
on request, or on shutdown, and then nothing of it is left (tests/webrtc/test_precall.py).

aiortc decodes and re-encodes the echo on the event loop (about 17 % of a core for VP8 640x480),
so production runs the registry in its own worker process (realtime/precall_worker.py, reached
through the channel layer), never inside the daphne process that carries everyone's sockets.
The embedded mode may use `get_local_registry()` in-process.

This module never touches the network by itself beyond the peer connections: notifications go
out through a `PrecallTransport` that realtime/ implements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from signaling.errors import (
    InvalidDescription,
    PrecallBusy,
    PrecallFailed,
    PrecallNotFound,
    PrecallNotReady,
)
from signaling.relay import parse_description

logger = logging.getLogger(__name__)

# The data channel the browser opens; others are ignored.
PRECALL_CHANNEL_LABEL = "precall"
# Sent through the transport to the session's reply_to when the server ends a session.
PRECALL_CLOSED = "precall.closed"

MAX_CHANNEL_MESSAGE_BYTES = 1024
PING_INTERVAL_SECONDS = 1.0
RTT_SAMPLES_KEPT = 10
OUTSTANDING_PINGS_KEPT = 8
# Gathering waits for every STUN/TURN server (aiortc has no trickle ICE); a dead server must
# not hold a slot for long.
START_TIMEOUT_SECONDS = 10.0
# Decoded frames waiting for the encoder: a slow encoder drops video frames (a frozen picture
# for a moment) instead of building up seconds of delay; audio keeps a little more.
ECHO_BUFFER = {"audio": 10, "video": 1}

# Verdict thresholds. Video suffers first: a few per cent loss or a long round trip freezes it
# while speech stays understandable (ITU-T G.114 puts comfortable one-way delay under 150 ms).
AUDIO_ONLY_RTT_MS = 400.0
AUDIO_ONLY_LOSS_PCT = 3.0
POOR_RTT_MS = 800.0
POOR_LOSS_PCT = 10.0

VerdictCode = Literal["good", "audio_only", "poor"]
VERDICT_TEXT: dict[str, str] = {
    "good": "Your connection is good.",
    "audio_only": "Video may freeze: we will start with audio only.",
    "poor": "Your connection is weak: try moving closer to your Wi-Fi router.",
}

CloseReason = Literal["stopped", "time_limit", "connection_failed", "connection_closed", "shutdown"]


class PrecallTransport(Protocol):
    """How the registry reaches a person's socket; realtime/ implements it (channel layer)."""

    async def send(self, to: str, message: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class PrecallSession:
    """What the caller of `start` needs: the id for report/close and the SDP answer."""

    session_id: str
    owner: str
    answer_sdp: str
    max_seconds: float


def precall_verdict(
    *, rtt_ms: float | None, packet_loss_pct: float | None
) -> tuple[VerdictCode, str]:
    """The verdict code and the sentence shown to the person (thresholds above)."""
    rtt = rtt_ms or 0.0
    loss = packet_loss_pct or 0.0
    code: VerdictCode
    if rtt > POOR_RTT_MS or loss > POOR_LOSS_PCT:
        code = "poor"
    elif rtt > AUDIO_ONLY_RTT_MS or loss > AUDIO_ONLY_LOSS_PCT:
        code = "audio_only"
    else:
        code = "good"
    return code, VERDICT_TEXT[code]


@dataclass(frozen=True, slots=True)
class StatsSummary:
    """What getStats says about both directions. Loss is the worse of the two directions."""

    rtt_ms: float | None
    packet_loss_pct: float | None
    packets_received: dict[str, int]


def _loss_pct(lost: int, received: int) -> float | None:
    total = lost + received
    return None if total <= 0 else 100.0 * max(lost, 0) / total


def summarise_stats(stats: Iterable[Any]) -> StatsSummary:
    """Reduce aiortc stats objects: inbound-rtp (person -> server: packetsLost and
    packetsReceived) and remote-inbound-rtp (server -> person, from their receiver reports:
    packetsLost, packetsReceived, roundTripTime in seconds)."""
    up_lost = up_received = down_lost = down_received = 0
    rtts: list[float] = []
    received: dict[str, int] = {}
    for item in stats:
        kind = getattr(item, "type", None)
        if kind == "inbound-rtp":
            up_lost += item.packetsLost
            up_received += item.packetsReceived
            received[item.kind] = received.get(item.kind, 0) + item.packetsReceived
        elif kind == "remote-inbound-rtp":
            down_lost += item.packetsLost
            down_received += item.packetsReceived
            if item.roundTripTime is not None:
                rtts.append(item.roundTripTime * 1000.0)
    losses = [
        loss
        for loss in (_loss_pct(up_lost, up_received), _loss_pct(down_lost, down_received))
        if loss is not None
    ]
    return StatsSummary(
        rtt_ms=max(rtts) if rtts else None,
        packet_loss_pct=max(losses) if losses else None,
        packets_received=received,
    )


def selected_candidate_types(pc: RTCPeerConnection) -> tuple[str, str] | None:
    """(local, remote) candidate types of the pair ICE selected, or None before it did.

    aiortc exposes no candidate-pair stats, so this reads aioice's nominated pair (a private
    attribute of aioice 0.13; tests/webrtc/test_turn_relay.py pins its meaning)."""
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        connection = dtls.transport._connection
        pair = connection._nominated.get(1)
        if pair is not None:
            return pair.local_candidate.type, pair.remote_candidate.type
    return None


class EchoTrack(MediaStreamTrack):
    """Sends back the frames its session's pump hands it. aiortc cannot forward RTP without
    decoding (aiortc#449), so the echo is decoded and re-encoded; a bounded mailbox keeps a slow
    encoder from queueing seconds of video."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._frames: asyncio.Queue[Any] = asyncio.Queue(maxsize=ECHO_BUFFER.get(kind, 1))

    def offer(self, frame: Any) -> None:
        if self._frames.full():
            self._frames.get_nowait()
        self._frames.put_nowait(frame)

    async def recv(self) -> Any:
        frame = await self._frames.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame


@dataclass(eq=False)
class _Live:
    """One running test. Only the registry touches it."""

    session_id: str
    owner: str
    reply_to: str | None
    pc: RTCPeerConnection | None
    started_at: float
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    echoes: list[EchoTrack] = field(default_factory=list)
    channel: RTCDataChannel | None = None
    outstanding_pings: deque[float] = field(
        default_factory=lambda: deque(maxlen=OUTSTANDING_PINGS_KEPT)
    )
    rtt_samples: deque[float] = field(default_factory=lambda: deque(maxlen=RTT_SAMPLES_KEPT))
    frames_received: dict[str, int] = field(default_factory=dict)
    closing: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class PrecallRegistry:
    """Owns every pre-call peer connection of this process.

    `ice_servers` are RTCIceServer dicts ({"urls": [...], "username"?, "credential"?}) for the
    server's own peer, or a function returning them for each new session (TURN credentials
    expire, the registry does not); an empty list means host candidates only, never aiortc's
    public default. `clock` is in seconds (monotonic); ping round trips are measured with it.
    `transport`, when set, receives a `precall.closed` message for sessions the server ends.
    """

    def __init__(
        self,
        *,
        max_concurrent: int,
        max_seconds: float,
        ice_servers: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
        clock: Callable[[], float] = time.monotonic,
        transport: PrecallTransport | None = None,
        ping_interval: float = PING_INTERVAL_SECONDS,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.max_seconds = max_seconds
        self._ice_servers = ice_servers
        self.transport = transport
        self._clock = clock
        self._ping_interval = ping_interval
        self._sessions: dict[str, _Live] = {}
        self._starting = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shut_down = False

    # -- what callers see -------------------------------------------------------------------

    @property
    def active_count(self) -> int:
        return len(self._sessions) + self._starting

    @property
    def task_count(self) -> int:
        """Tasks the registry created that have not finished (0 once everything is closed)."""
        return len(self._tasks)

    def status(self) -> dict[str, Any]:
        return {
            "active": self.active_count,
            "max_concurrent": self.max_concurrent,
            "max_seconds": self.max_seconds,
        }

    async def start(
        self, *, offer_sdp: str, owner: str, reply_to: str | None = None
    ) -> PrecallSession:
        """Answer the browser's offer (audio, video and a "precall" data channel, any subset).

        Raises `precall_busy` when `max_concurrent` tests are running, `invalid_description` /
        `sdp_too_large` for an unusable offer, `precall_failed` when the answer cannot be made.
        """
        parse_description({"type": "offer", "sdp": offer_sdp})
        if self._shut_down or self.active_count >= self.max_concurrent:
            raise PrecallBusy(details={"max_concurrent": self.max_concurrent})
        self._starting += 1
        live: _Live | None = None
        try:
            live = _Live(
                session_id=f"pc-{uuid.uuid4().hex}",
                owner=owner,
                reply_to=reply_to,
                pc=RTCPeerConnection(self._configuration()),
                started_at=self._clock(),
            )
            self._wire(live)
            try:
                async with asyncio.timeout(START_TIMEOUT_SECONDS):
                    answer_sdp = await self._answer(live, offer_sdp)
            except TimeoutError as exc:
                raise PrecallFailed(
                    "The connection test took too long to start. Please try again."
                ) from exc
        except BaseException:
            if live is not None:
                await self._release(live)
            raise
        finally:
            self._starting -= 1
        if self._shut_down:
            # close_all ran while this offer was being answered.
            await self._release(live)
            raise PrecallBusy()
        self._sessions[live.session_id] = live
        self._spawn(live, self._expire(live))
        logger.info("precall %s started for %s", live.session_id, owner)
        return PrecallSession(
            session_id=live.session_id,
            owner=owner,
            answer_sdp=answer_sdp,
            max_seconds=self.max_seconds,
        )

    async def report(self, session_id: str, *, owner: str | None = None) -> dict[str, Any]:
        """Round trip, loss, whether a TURN relay carries the call, and the verdict.

        `rtt_ms` comes from data-channel pings when the browser answered any, else from RTCP
        receiver reports; `packet_loss_pct` is the worse direction. Raises `precall_not_ready`
        while neither has been measured and `precall_not_found` for an unknown session (or
        someone else's, when `owner` is given)."""
        live = self._get(session_id, owner)
        pc = live.pc
        if pc is None:
            raise PrecallNotFound()
        summary = summarise_stats((await pc.getStats()).values())
        rtt_ms = statistics.median(live.rtt_samples) if live.rtt_samples else summary.rtt_ms
        loss = summary.packet_loss_pct
        if rtt_ms is None and loss is None:
            raise PrecallNotReady()
        pair = selected_candidate_types(pc)
        code, text = precall_verdict(rtt_ms=rtt_ms, packet_loss_pct=loss)
        # The person's side of the selected pair: a relay there means their network needed
        # TURN. (The server's own side may be a relay simply because it sits behind NAT.)
        return {
            "session_id": live.session_id,
            "rtt_ms": None if rtt_ms is None else round(rtt_ms, 1),
            "packet_loss_pct": None if loss is None else round(loss, 1),
            "relay_used": pair is not None and pair[1] == "relay",
            "verdict": text,
            "verdict_code": code,
            "audio_received": live.frames_received.get("audio", 0) > 0,
            "video_received": live.frames_received.get("video", 0) > 0,
        }

    async def close(self, session_id: str, *, owner: str | None = None) -> None:
        """End a session at its owner's request (no `precall.closed` is sent for it)."""
        await self._close(self._get(session_id, owner), "stopped")

    async def close_all(self) -> None:
        """End every session and wait for every task the registry started (shutdown). The
        registry accepts no new session afterwards."""
        self._shut_down = True
        for live in list(self._sessions.values()):
            await self._close(live, "shutdown")
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- inside -----------------------------------------------------------------------------

    def _configuration(self) -> RTCConfiguration:
        source = self._ice_servers
        # Always an explicit list: None would make aiortc use Google's public STUN server.
        servers = [
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in (source() if callable(source) else source)
        ]
        return RTCConfiguration(iceServers=servers)

    def _get(self, session_id: str, owner: str | None) -> _Live:
        live = self._sessions.get(session_id)
        if live is None or (owner is not None and live.owner != owner):
            raise PrecallNotFound()
        return live

    def _spawn(self, live: _Live, coro: Coroutine[Any, Any, Any]) -> None:
        if live.closing:
            # An aiortc event that arrives while the session is being torn down starts nothing.
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        live.tasks.add(task)
        self._tasks.add(task)

        def forget(done: asyncio.Task[Any]) -> None:
            live.tasks.discard(done)
            self._tasks.discard(done)
            if not done.cancelled() and done.exception() is not None:
                logger.error("precall %s task failed", live.session_id, exc_info=done.exception())

        task.add_done_callback(forget)

    def _wire(self, live: _Live) -> None:
        pc = live.pc
        assert pc is not None  # noqa: S101 - set by start just before

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind not in ("audio", "video"):
                return
            echo = EchoTrack(track.kind)
            live.echoes.append(echo)
            pc.addTrack(echo)
            self._spawn(live, self._pump(live, track, echo))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label != PRECALL_CHANNEL_LABEL or live.channel is not None:
                return
            live.channel = channel
            channel.on("message", lambda message: self._on_channel_message(live, message))
            self._spawn(live, self._ping(live, channel))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if live.closing or live.session_id not in self._sessions:
                return
            if pc.connectionState in ("failed", "closed"):
                reason: CloseReason = (
                    "connection_failed" if pc.connectionState == "failed" else "connection_closed"
                )
                self._spawn(live, self._close(live, reason))

    async def _answer(self, live: _Live, offer_sdp: str) -> str:
        pc = live.pc
        assert pc is not None  # noqa: S101
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            # aiortc raises ValueError, InvalidStateError or OperationError for offers it
            # cannot use (unknown codecs, no ICE credentials, garbage lines).
            raise InvalidDescription(
                "Your browser's call set-up message could not be used.",
                details={"reason": str(exc)[:200]},
            ) from exc
        if not pc.getTransceivers() and pc.sctp is None:
            # aiortc happily answers an offer without any m= line; there is nothing to test.
            raise InvalidDescription(
                "The offer asks for no camera, microphone or data channel to test."
            )
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            raise PrecallFailed(details={"reason": str(exc)[:200]}) from exc
        return pc.localDescription.sdp

    async def _pump(self, live: _Live, source: MediaStreamTrack, echo: EchoTrack) -> None:
        """Read the person's track and hand each frame to the echo. Reading never stops while
        the session runs, so decoded frames cannot pile up in aiortc's unbounded queue even
        when the browser did not ask to receive the echo."""
        try:
            while True:
                frame = await source.recv()
                live.frames_received[source.kind] = live.frames_received.get(source.kind, 0) + 1
                echo.offer(frame)
        except MediaStreamError:
            pass
        finally:
            echo.offer(None)

    async def _ping(self, live: _Live, channel: RTCDataChannel) -> None:
        while channel.readyState in ("connecting", "open"):
            if channel.readyState == "open":
                sent = round(self._clock() * 1000.0, 3)
                live.outstanding_pings.append(sent)
                channel.send(json.dumps({"type": "ping", "t": sent}))
            await asyncio.sleep(self._ping_interval)

    def _on_channel_message(self, live: _Live, message: Any) -> None:
        if not isinstance(message, str) or len(message) > MAX_CHANNEL_MESSAGE_BYTES:
            return
        try:
            data = json.loads(message)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        stamp = data.get("t")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            return
        if data.get("type") == "ping" and live.channel is not None:
            live.channel.send(json.dumps({"type": "pong", "t": stamp}))
        elif data.get("type") == "pong" and stamp in live.outstanding_pings:
            # Only our own pings count: a made-up `t` cannot fake a round trip.
            live.outstanding_pings.remove(stamp)
            live.rtt_samples.append(self._clock() * 1000.0 - stamp)

    async def _expire(self, live: _Live) -> None:
        await asyncio.sleep(self.max_seconds)
        await self._close(live, "time_limit")

    async def _close(self, live: _Live, reason: CloseReason) -> None:
        if live.closing:
            await live.closed.wait()
            return
        live.closing = True
        self._sessions.pop(live.session_id, None)
        try:
            await self._release(live)
        finally:
            live.closed.set()
        logger.info("precall %s closed (%s)", live.session_id, reason)
        if reason != "stopped" and self.transport is not None and live.reply_to:
            try:
                await self.transport.send(
                    live.reply_to,
                    {"type": PRECALL_CLOSED, "session_id": live.session_id, "reason": reason},
                )
            except Exception:
                logger.exception("precall %s: could not say it closed", live.session_id)

    async def _release(self, live: _Live) -> None:
        """Cancel the session's tasks (except the one running this), close the connection and
        drop every reference to aiortc objects."""
        current = asyncio.current_task()
        others = [task for task in live.tasks if task is not current]
        for task in others:
            task.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        pc, live.pc = live.pc, None
        if pc is not None:
            with contextlib.suppress(Exception):
                await pc.close()
            pc.remove_all_listeners()
        for echo in live.echoes:
            echo.stop()
        live.echoes.clear()
        if live.channel is not None:
            live.channel.remove_all_listeners()
        live.channel = None


# The TURN user name the pre-call peer's own credentials carry ("<expiry>:precall").
PRECALL_TURN_USER = "precall"


def server_ice_servers() -> list[dict[str, Any]]:
    """The pre-call peer's own ICE servers, fresh credentials on each call: the same STUN and
    TURN as browsers get. The worker usually sits on a private network that coturn refuses to
    relay into (denied-peer-ip), so it needs a relay candidate of its own on the TURN server's
    public address; a browser reaches that directly or through its own relay."""
    from signaling.ice import ice_servers_for

    return ice_servers_for(participant_id=PRECALL_TURN_USER).ice_servers


_local_registry: PrecallRegistry | None = None


def get_local_registry() -> PrecallRegistry:
    """The in-process registry for the embedded mode, from PRECALL_MAX_CONCURRENT,
    PRECALL_MAX_SECONDS, STUN_URLS and TURN_URLS. Set its `transport` to receive
    `precall.closed`."""
    global _local_registry  # noqa: PLW0603 - one registry per process is the point
    if _local_registry is None:
        from django.conf import settings

        _local_registry = PrecallRegistry(
            max_concurrent=int(settings.PRECALL_MAX_CONCURRENT),
            max_seconds=float(settings.PRECALL_MAX_SECONDS),
            ice_servers=server_ice_servers,
        )
    return _local_registry
