"""The room websocket: `/ws/rooms/<room_id>/`.

Thin by design: parse a frame into a typed object (realtime.protocol), take identity from the
connection, call one service in rooms/ or signaling/, reply, then publish the service's effects
after its transaction committed (realtime.broadcast). Nothing a client sends can crash the
consumer: every failure becomes an `error` frame and the socket stays open, except the closes
the protocol names (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from realtime import broadcast, fanout, groups, instance, precall
from realtime.auth import authenticate_socket, query_param
from realtime.db import fetch_all, run_db
from realtime.protocol import (
    ERROR_BINARY,
    ERROR_INTERNAL,
    ERROR_NOT_ADMITTED,
    ERROR_RATE_LIMITED,
    ERROR_UNAVAILABLE,
    LOBBY_FRAMES,
    ClientFrame,
    CloseCode,
    FrameError,
    ack_frame,
    encode,
    error_frame,
    frame_ref,
    parse_frame,
    server_frame,
)
from realtime.ratelimit import get_rate_limiter, limit_for
from realtime.snapshots import build_lobby_waiting, build_welcome
from rooms import messaging, moderation, presence
from rooms.errors import DomainError
from rooms.events import CHAT_MESSAGE, SESSION_ENDED, Outcome, RoomEvent
from rooms.models import Membership, Room, User
from signaling import ice, relay

logger = logging.getLogger(__name__)

CLOSE_FOR_REASON = {
    "removed": CloseCode.REMOVED,
    "banned": CloseCode.REMOVED,
    "denied": CloseCode.DENIED,
    "session_ended": CloseCode.SESSION_ENDED,
}

DATABASE_OUTAGE = (OperationalError, InterfaceError)

# A larger gap is left to the client to page through with chat.history.
MAX_GAP_REPAIR = 100
# Before the handshake, a layer failure is tried once more after this long (the client waits).
LAYER_RETRY_DELAY_S = 0.1
# Signals kept for a socket whose admission is still being handled.
EARLY_SIGNAL_LIMIT = 64
# How long an overtaking chat message waits for the ones before it to arrive live before they
# are read from PostgreSQL. A message is overtaken all the time under load (another instance
# is a few hundred ms behind) and dropped only rarely (a full layer), and reading early under
# load adds load: a wait shorter than the busy p99 turned bursts into backlogs of 10 s and more.
REORDER_WAIT_SECONDS = 1.0
# Frames a socket may have waiting to be handled; past it a flood gets rate_limited at once.
INBOX_LIMIT = 64


class Reply(Exception):
    """Stop handling a frame and send this error frame instead."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or {}


class RoomConsumer(AsyncWebsocketConsumer):
    user: User | None = None
    room: Room | None = None
    membership: Membership | None = None
    admitted: bool = False
    registered: bool = False
    # Highest chat seq this socket has been sent; live chat.message at or below it is a
    # duplicate of what welcome or a resync already delivered (exactly once per socket).
    delivered_seq: int = 0
    precall_session_id: str | None = None
    inbox_task: asyncio.Task[None] | None = None
    repair_task: asyncio.Task[None] | None = None
    entering: bool = False

    # --- connecting ----------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels subscribes the socket's channel before the handshake; with Redis down that
        raises, which daphne would answer with a bare HTTP 500. Answer 4503 instead, so the
        client knows to come back. Just after Redis came back, that subscribe can lose a race
        with the layer's own reconnect: it is tried once more after a moment, while the client
        is still waiting for the handshake."""
        connect_received = False

        async def receive_noting_connect() -> Any:
            nonlocal connect_received
            message = await receive()
            connect_received = connect_received or message.get("type") == "websocket.connect"
            return message

        for attempt in (1, 2):
            try:
                await super().__call__(scope, receive_noting_connect, send)
                return
            except Exception as exc:
                if not broadcast.is_layer_outage(exc) or getattr(self, "handshake_done", False):
                    raise
                if attempt == 1 and not connect_received:
                    await asyncio.sleep(LAYER_RETRY_DELAY_S)
                    continue
                logger.warning("channel layer unavailable before the handshake")
                if not connect_received:
                    await receive_noting_connect()
                if connect_received:
                    await send({"type": "websocket.accept"})
                    await send({"type": "websocket.close", "code": int(CloseCode.TRY_AGAIN_LATER)})
                return

    async def connect(self) -> None:
        # Accept first: a close before accept reaches the browser as a bare HTTP 403 and the
        # 44xx code would be lost.
        await self.accept()
        self.handshake_done = True
        self.reorder_buffer: dict[int, str] = {}
        self.precall_waiting: dict[str | None, asyncio.Task[None]] = {}
        self.early_signals: list[dict[str, Any]] = []
        self.held_events: list[tuple[dict[str, Any], str]] = []
        self.hub_channels: set[str] = set()
        self.joined_groups: set[str] = set()
        room_id = str(self.scope["url_route"]["kwargs"]["room_id"])
        try:
            await self._connect(room_id)
        except DATABASE_OUTAGE:
            logger.warning("database unavailable while connecting")
            await self.close(code=CloseCode.TRY_AGAIN_LATER)
        except broadcast.BroadcastFailed:
            logger.warning("channel layer unavailable while connecting")
            await self.close(code=CloseCode.TRY_AGAIN_LATER)

    async def _connect(self, room_id: str) -> None:
        try:
            uuid.UUID(room_id)
        except ValueError:
            await self.close(code=CloseCode.NO_SUCH_ROOM)
            return
        instance.ensure_running()
        await broadcast.keep_layer_listening()
        opened: _OpenedSocket = await self._db(
            _open_socket,
            scope=self.scope,
            room_id=room_id,
            channel_name=self.channel_name,
            instance_id=instance.INSTANCE_ID,
            limit=settings.WS_MAX_SOCKETS_PER_USER_PER_ROOM,
        )
        if opened.refusal is not None:
            await self.close(code=opened.refusal)
            return
        user, room = opened.user, opened.room
        assert user is not None  # noqa: S101 - no refusal means all three are set
        assert room is not None  # noqa: S101
        self.user, self.room, self.membership = user, room, opened.membership
        self.registered = True
        # The socket listens before the database decides: to the person's own events (an
        # admission from the lobby), and, held back until a welcome is out, to the room's, so
        # that the admission and the snapshot need one database trip, not two.
        self.entering = True
        try:
            await asyncio.gather(
                self._join(groups.user_group(room.pk, user.pk)), self._join_room_audiences()
            )
            try:
                outcome, first_frame = await self._db(
                    _admit_or_wait,
                    user=user,
                    room=room,
                    membership=opened.membership,
                    after_seq=self._after_seq_param(),
                )
            except DomainError as exc:
                ended = exc.code == "session_ended"
                code = CloseCode.SESSION_ENDED if ended else CloseCode.FORBIDDEN
                await self.send_frame(server_frame("closing", exc.as_dict()))
                await self.close(code=code)
                return
            if outcome.value.admitted:
                await self._welcome(first_frame)
            else:
                await self._leave_room_audiences()
                self.held_events = []
                await self.send_frame(first_frame)
        finally:
            self.entering = False
        await self._release_held()
        await self._publish(outcome)

    def _after_seq_param(self) -> int | None:
        raw = query_param(self.scope, "after_seq")
        if raw is None:
            return None
        return int(raw) if raw.isdigit() and len(raw) < 19 else None

    async def _enter_room(self, *, after_seq: int | None) -> None:
        """Admitted from the lobby: join the room's audiences, then send the snapshot."""
        assert self.room is not None  # noqa: S101
        assert self.user is not None  # noqa: S101
        # Join before reading the snapshot: events published meanwhile are held back until the
        # welcome is out, and the seq filter drops what the snapshot already holds.
        self.entering = True
        try:
            await self._join_room_audiences()
            await self._welcome(
                await self._db(build_welcome, room=self.room, user=self.user, after_seq=after_seq)
            )
        finally:
            self.entering = False
        await self._release_held()

    async def _join_room_audiences(self) -> None:
        await self._join_audience("admitted")
        if self.membership is not None and self.membership.is_moderator:
            await self._join_audience("moderators")

    async def _welcome(self, welcome: dict[str, Any]) -> None:
        """Send the `welcome` snapshot (taken after this socket joined the room's audiences)
        and the live chat that overtook it, in seq order."""
        self.membership = welcome.pop("_membership")
        self.admitted = True
        chat = welcome["data"]["chat"]
        self.delivered_seq = max([self.delivered_seq, *(m["seq"] for m in chat["messages"])])
        if not chat["has_more"]:
            self.delivered_seq = max(self.delivered_seq, chat["last_seq"])
        await self.send_frame(welcome)
        await self._flush_in_order()

    async def _release_held(self) -> None:
        """Deliver what arrived while the socket was entering (nothing if it is waiting)."""
        held, self.held_events = self.held_events, []
        if self.admitted:
            for frame, text in held:
                await self.hub_deliver(frame, text)
        signals, self.early_signals = self.early_signals, []
        if self.admitted:
            for signal in signals:
                await self.send_frame(signal)
        else:
            self.early_signals = signals

    async def _join_audience(self, audience: str) -> None:
        """Receive the room's events for `audience` ("admitted" or "moderators")."""
        assert self.room is not None  # noqa: S101
        if settings.BROADCAST_HUB:
            channel = fanout.hub_channel(self.room.pk, audience)
            try:
                await fanout.get_hub().join(channel, self)
            except fanout.HubUnavailable as exc:
                raise broadcast.BroadcastFailed(str(exc)) from exc
            self.hub_channels.add(channel)
        else:
            group = (
                groups.moderators_group(self.room.pk)
                if audience == "moderators"
                else groups.room_group(self.room.pk)
            )
            await self._join(group)

    async def _leave_room_audiences(self) -> None:
        assert self.room is not None  # noqa: S101
        for channel in list(self.hub_channels):
            self.hub_channels.discard(channel)
            await fanout.get_hub().leave(channel, self)
        for group in (groups.room_group(self.room.pk), groups.moderators_group(self.room.pk)):
            await self._leave(group)

    # --- room events from the fan-out hub (realtime/fanout.py) ----------------------------

    async def hub_deliver(self, frame: dict[str, Any], text: str) -> None:
        if self.entering:
            self.held_events.append((frame, text))
            return
        await self._deliver_room_event(frame, text)

    async def hub_lost(self) -> None:
        self.hub_channels.clear()
        await self.close(code=CloseCode.TRY_AGAIN_LATER)

    async def disconnect(self, code: int) -> None:
        for channel in list(getattr(self, "hub_channels", ())):
            await fanout.get_hub().leave(channel, self)
        for group in list(getattr(self, "joined_groups", ())):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as exc:  # noqa: BLE001 - leaving must never raise
                logger.info("group_discard failed: %s", type(exc).__name__)
        for waiting in getattr(self, "precall_waiting", {}).values():
            waiting.cancel()
        if self.repair_task is not None:
            self.repair_task.cancel()
        if self.inbox_task is not None:
            self.inbox_task.cancel()
            await asyncio.gather(self.inbox_task, return_exceptions=True)
            self.inbox_task = None
        await precall.stop_for_disconnect(self)
        if not self.registered:
            return
        self.registered = False
        try:
            room, user, was_last = await self._db(
                presence.connection_close, channel_name=self.channel_name
            )
            if room is not None and user is not None and was_last:
                outcome = await self._db(moderation.participant_disconnect, user=user, room=room)
                await self._publish(outcome)
        except (*DATABASE_OUTAGE, broadcast.BroadcastFailed):
            # The heartbeat sweep of this instance's rows repairs presence later.
            logger.warning("could not record a disconnect; presence sweep will repair it")

    # --- receiving -----------------------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' own dispatch first closes stale database connections through the single
        thread-sensitive sync thread, so every event delivered to every socket of the process
        would queue behind everyone's queries. Our database work runs in a pool
        (`_db`, which manages its connections in its own threads), so skip that hop."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Queue the frame for this socket's own worker task: frames from one client are
        handled in order, while events for the socket keep flowing even when one of its
        requests waits on the database."""
        if self.inbox_task is None:
            self.inbox = asyncio.Queue(maxsize=INBOX_LIMIT)
            self.inbox_task = asyncio.get_running_loop().create_task(self._work_inbox())
        try:
            self.inbox.put_nowait((text_data, bytes_data))
        except asyncio.QueueFull:
            await self.send_frame(
                error_frame(
                    ERROR_RATE_LIMITED,
                    "You are sending too quickly. Please wait a moment.",
                    ref=frame_ref(text_data) if text_data else None,
                    details={"retry_after": 1},
                )
            )

    async def _work_inbox(self) -> None:
        while True:
            text_data, bytes_data = await self.inbox.get()
            await self._handle(text_data, bytes_data)

    async def _handle(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if text_data is None:
            await self.send_frame(
                error_frame(ERROR_BINARY, "Send JSON text frames; binary frames are not used.")
            )
            return
        ref = None
        try:
            frame = parse_frame(text_data, max_frame_bytes=settings.WS_MAX_FRAME_BYTES)
            ref = frame.id
            await self._dispatch(frame)
        except FrameError as exc:
            await self.send_frame(
                error_frame(exc.code, exc.message, ref=frame_ref(text_data), details=exc.details)
            )
        except Reply as exc:
            await self.send_frame(error_frame(exc.code, exc.message, ref=ref, details=exc.details))
        except DomainError as exc:
            await self.send_frame(error_frame(exc.code, exc.message, ref=ref, details=exc.details))
        except DATABASE_OUTAGE:
            await self.send_frame(
                error_frame(
                    ERROR_UNAVAILABLE,
                    "Hearth cannot save right now. Your message was not sent; it will be retried.",
                    ref=ref,
                )
            )
        except broadcast.BroadcastFailed:
            # What was committed stays committed; reconnecting resyncs by seq and snapshot.
            await self.close(code=CloseCode.TRY_AGAIN_LATER)
        except DatabaseError:
            logger.exception("database error handling a frame")
            await self.send_frame(
                error_frame(ERROR_INTERNAL, "Something went wrong on our side.", ref=ref)
            )
        except Exception:
            logger.exception("unexpected error handling a frame")
            await self.send_frame(
                error_frame(ERROR_INTERNAL, "Something went wrong on our side.", ref=ref)
            )

    async def _dispatch(self, frame: ClientFrame) -> None:
        if self.room is None or self.user is None:
            raise Reply(ERROR_NOT_ADMITTED, "This connection is not in a room.")
        if not self.admitted and frame.type not in LOBBY_FRAMES:
            raise Reply(
                ERROR_NOT_ADMITTED,
                "You are in the waiting room. A facilitator will let you in shortly.",
            )
        handler = self.HANDLERS[frame.type]
        await handler(self, frame)

    # --- frame handlers ------------------------------------------------------------------

    async def on_ping(self, frame: ClientFrame) -> None:
        await self.send_frame(server_frame("pong", {}, ref=frame.id))

    async def on_chat_send(self, frame: ClientFrame) -> None:
        await self._rate_limit("chat")
        payload = frame.payload
        outcome = await self._db(
            _chat_post,
            membership=self.membership,
            client_msg_id=payload.client_msg_id,  # type: ignore[attr-defined]
            body=payload.body,  # type: ignore[attr-defined]
        )
        posted: messaging.PostedMessage = outcome.value
        # Acknowledged only now: the row is committed.
        await self.send_frame(
            ack_frame(
                frame.id,
                {
                    "seq": posted.seq,
                    "client_msg_id": posted.message["client_msg_id"],
                    "created": posted.created,
                },
            )
        )
        await self._publish(outcome)

    async def on_chat_history(self, frame: ClientFrame) -> None:
        payload = frame.payload
        limit = payload.limit  # type: ignore[attr-defined]
        messages = await self._db(
            messaging.messages_page,
            membership=self.membership,
            after_seq=payload.after_seq,  # type: ignore[attr-defined]
            before_seq=payload.before_seq,  # type: ignore[attr-defined]
            limit=limit + 1,
        )
        has_more = len(messages) > limit
        newest_first_page = payload.before_seq is not None  # type: ignore[attr-defined]
        messages = messages[-limit:] if newest_first_page else messages[:limit]
        await self.send_frame(
            server_frame("chat.history", {"messages": messages, "has_more": has_more}, ref=frame.id)
        )

    async def on_chat_read(self, frame: ClientFrame) -> None:
        outcome = await self._db(
            messaging.read_mark,
            membership=self.membership,
            seq=frame.payload.seq,  # type: ignore[attr-defined]
        )
        await self.send_frame(ack_frame(frame.id))
        await self._publish(outcome)

    async def on_typing_set(self, frame: ClientFrame) -> None:
        await self._rate_limit("typing")
        assert self.membership is not None  # noqa: S101
        event = RoomEvent(
            "typing",
            {"participant": self.membership.participant_id, "active": frame.payload.active},  # type: ignore[attr-defined]
        )
        await self.send_frame(ack_frame(frame.id))
        await self._publish(Outcome(effects=[event]))

    async def on_media_set(self, frame: ClientFrame) -> None:
        payload = frame.payload
        outcome = await self._db(
            moderation.media_set,
            user=self.user,
            room=self.room,
            audio=payload.audio,  # type: ignore[attr-defined]
            video=payload.video,  # type: ignore[attr-defined]
        )
        await self.send_frame(ack_frame(frame.id))
        await self._publish(outcome)

    async def on_hand_raise(self, frame: ClientFrame) -> None:
        outcome = await self._db(moderation.hand_raise, user=self.user, room=self.room)
        await self._ack_and_publish(frame, outcome)

    async def on_hand_lower(self, frame: ClientFrame) -> None:
        outcome = await self._db(
            moderation.hand_lower,
            actor=self.user,
            room=self.room,
            participant_id=frame.payload.participant,  # type: ignore[attr-defined]
        )
        await self._ack_and_publish(frame, outcome)

    async def on_signal_send(self, frame: ClientFrame) -> None:
        payload = frame.payload
        # The rate limit (Redis) and the route (the database) are asked at once, and the
        # payload checked meanwhile: a signal's delay is on a call's set-up path twice per
        # pair. Errors keep their order: rate limit, then payload, then route.
        assert self.user is not None  # noqa: S101 - set before any frame is handled
        assert self.room is not None  # noqa: S101
        # Checked per frame, so a removal stops relaying at once.
        route_query = moderation.signal_route_query(
            user=self.user,
            room=self.room,
            participant_id=payload.to,  # type: ignore[attr-defined]
        )
        checks = asyncio.gather(
            self._rate_limit("signal"),
            fetch_all(route_query.sql, route_query.params),
            return_exceptions=True,
        )
        signal: relay.SignalPayload | DomainError
        try:
            signal = relay.parse_signal(
                {
                    key: value
                    for key, value in (
                        ("description", payload.description),  # type: ignore[attr-defined]
                        ("candidate", payload.candidate),  # type: ignore[attr-defined]
                        ("restart", payload.restart),  # type: ignore[attr-defined]
                    )
                    if value is not None
                }
            )
        except DomainError as exc:
            signal = exc
        limited, rows = await checks
        for outcome in (limited, signal, rows):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(signal, relay.SignalPayload)  # noqa: S101
        target_user_id, sender_id = route_query.decide(rows)
        data: dict[str, Any] = {"from": sender_id, **signal.as_wire()}
        assert self.room is not None  # noqa: S101
        await broadcast.send_to_user(
            str(self.room.pk),
            target_user_id,
            {"type": groups.LAYER_SIGNAL, "frame": server_frame("signal", data)},
        )
        await self.send_frame(ack_frame(frame.id))

    async def on_ice_refresh(self, frame: ClientFrame) -> None:
        assert self.membership is not None  # noqa: S101
        config = ice.ice_servers_for(participant_id=self.membership.participant_id).as_dict()
        await self.send_frame(server_frame("ice.servers", config, ref=frame.id))

    async def on_precall(self, frame: ClientFrame) -> None:
        await precall.handle_frame(self, frame)

    def precall_owner(self) -> str:
        assert self.membership is not None  # noqa: S101 - set before any frame is handled
        return self.membership.participant_id

    async def on_moderation(self, frame: ClientFrame) -> None:
        action = MODERATION_ACTIONS[frame.type]
        outcome = await self._db(action, actor=self.user, room=self.room, payload=frame.payload)
        await self._ack_and_publish(frame, outcome)

    HANDLERS: dict[str, Callable[[RoomConsumer, ClientFrame], Awaitable[None]]] = {}

    # --- layer messages (types from realtime.groups) --------------------------------------

    async def deliver_frame(self, event: dict[str, Any]) -> None:
        await self._deliver_room_event(event["frame"], None)

    async def _deliver_room_event(self, frame: dict[str, Any], text: str | None) -> None:
        if not self.admitted:
            # Room events published just after a return to the lobby (participant.left,
            # hands) may already be on their way when the socket leaves the room's audience;
            # nothing of the room reaches a waiting socket.
            return
        if frame["type"] == SESSION_ENDED:
            # Every socket of the room gets session.ended from deliver_close (its final frame,
            # in the documented shape, right before 4410); the room event would be a second.
            return
        if frame["type"] == CHAT_MESSAGE:
            await self._deliver_chat(frame, text)
            return
        if text is None:
            await self.send_frame(frame)
        else:
            await self.send_text(text)

    async def _deliver_chat(self, frame: dict[str, Any], text: str | None = None) -> None:
        """Chat reaches each socket in seq order, exactly once.

        Two instances publish in the order their commits finish, so a later seq can overtake
        an earlier one; and the layer may drop a message. A message past the next one expected
        waits in a small buffer for the missing ones to arrive live; if they have not after
        REORDER_WAIT_SECONDS they were dropped, and since seq is taken under the room lock they
        are already committed: they are read from PostgreSQL and sent first."""
        seq = frame["data"]["seq"]
        if seq <= self.delivered_seq or seq in self.reorder_buffer:
            return
        self.reorder_buffer[seq] = text if text is not None else encode(frame)
        await self._flush_in_order()
        if self.reorder_buffer and self.repair_task is None:
            self.repair_task = asyncio.get_running_loop().create_task(self._repair_gap())

    async def _flush_in_order(self) -> None:
        for seq in [seq for seq in self.reorder_buffer if seq <= self.delivered_seq]:
            del self.reorder_buffer[seq]  # already sent, by a snapshot or a repair
        while (self.delivered_seq + 1) in self.reorder_buffer:
            self.delivered_seq += 1
            await self.send_text(self.reorder_buffer.pop(self.delivered_seq))

    async def _repair_gap(self) -> None:
        try:
            await asyncio.sleep(REORDER_WAIT_SECONDS)
            await self._flush_in_order()
            if not self.reorder_buffer:
                return
            first_buffered = min(self.reorder_buffer)
            gap = first_buffered - self.delivered_seq - 1
            if 0 < gap <= MAX_GAP_REPAIR:
                missing = await _missing_messages(
                    self.membership, after_seq=self.delivered_seq, limit=gap
                )
                for message in missing:
                    if message["seq"] > self.delivered_seq:
                        self.reorder_buffer.setdefault(
                            message["seq"], encode(server_frame(CHAT_MESSAGE, message))
                        )
            else:
                # Too large to repair here: the client pages through chat.history.
                self.delivered_seq = first_buffered - 1
            await self._flush_in_order()
        except DATABASE_OUTAGE:
            logger.warning("could not repair a chat gap; the client will resync by seq")
            self.delivered_seq = min(self.reorder_buffer, default=self.delivered_seq + 1) - 1
            await self._flush_in_order()
        finally:
            self.repair_task = None
            if self.reorder_buffer:
                self.repair_task = asyncio.get_running_loop().create_task(self._repair_gap())

    async def deliver_signal(self, event: dict[str, Any]) -> None:
        if self.admitted:
            await self.send_frame(event["frame"])
        elif len(self.early_signals) < EARLY_SIGNAL_LIMIT:
            # Others may offer the moment they hear `participant.joined`, before this socket has
            # handled its own admission (another instance can be faster): keep those signals
            # for the welcome instead of losing the offer.
            self.early_signals.append(event["frame"])

    async def deliver_admitted(self, event: dict[str, Any]) -> None:
        if not self.admitted:
            await self._enter_room(after_seq=self.delivered_seq or self._after_seq_param())

    async def deliver_to_lobby(self, event: dict[str, Any]) -> None:
        assert self.room is not None  # noqa: S101
        assert self.user is not None  # noqa: S101
        self.admitted = False
        self.early_signals = []
        self.held_events = []
        await self._leave_room_audiences()
        await self.send_frame(await self._db(build_lobby_waiting, room=self.room, user=self.user))

    # Replies of the pre-call worker (types from realtime.precall_worker).

    async def precall_answer(self, event: dict[str, Any]) -> None:
        precall.reply_arrived(self, event)
        self.precall_session_id = event["session_id"]
        await self.send_frame(precall.answer_frame(event))

    async def precall_result(self, event: dict[str, Any]) -> None:
        precall.reply_arrived(self, event)
        await self.send_frame(precall.result_frame(event))

    async def precall_stopped(self, event: dict[str, Any]) -> None:
        await self.send_frame(precall.stopped_frame(event))

    async def precall_error(self, event: dict[str, Any]) -> None:
        precall.reply_arrived(self, event)
        await self.send_frame(precall.failure_frame(event))

    async def precall_closed(self, event: dict[str, Any]) -> None:
        if event.get("session_id") == self.precall_session_id:
            self.precall_session_id = None
        await self.send_frame(precall.closed_frame(event))

    async def deliver_close(self, event: dict[str, Any]) -> None:
        reason = event["reason"]
        code = CLOSE_FOR_REASON.get(reason, CloseCode.REMOVED)
        frame_type = "session.ended" if reason == "session_ended" else "removed"
        await self.send_frame(
            server_frame(frame_type, {"reason": reason, "message": event.get("message", "")})
        )
        await self.close(code=code)

    # --- helpers -------------------------------------------------------------------------

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # daphne refuses an IntEnum as a close code ("must be an integer") and answers 1011.
        await super().close(code=int(code) if code is not None else None, reason=reason)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send_text(encode(frame))

    @property
    def _send_websocket(self) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """daphne's own send, past Channels' session wrapper: that wrapper inspects every
        outgoing message for an `http.response.start` to save the session on, which a
        websocket frame never is, and at thousands of frames a second the inspection costs
        more than the send (docs/benchmarks.md)."""
        wrapper = getattr(self.base_send, "__self__", None)
        return getattr(wrapper, "real_send", None) or self.base_send

    async def send_text(self, text: str) -> None:
        try:
            await self._send_websocket({"type": "websocket.send", "text": text})
        except Exception as exc:
            # The client went away while we were sending (autobahn's Disconnected). Raising
            # would end the consumer without disconnect(), leaving a ghost Connection row that
            # keeps the person "online"; daphne delivers websocket.disconnect next instead.
            if type(exc).__name__ != "Disconnected":
                raise
            logger.info("a frame could not be sent: the socket is closing")

    async def _ack_and_publish(self, frame: ClientFrame, outcome: Outcome) -> None:
        await self.send_frame(ack_frame(frame.id))
        await self._publish(outcome)

    async def _publish(self, outcome: Outcome) -> None:
        if outcome.effects and self.room is not None:
            await broadcast.publish(str(self.room.pk), outcome.effects)

    async def _rate_limit(self, action: str) -> None:
        assert self.user is not None  # noqa: S101
        retry_after = await get_rate_limiter().hit(user_id=self.user.pk, limit=limit_for(action))
        if retry_after is not None:
            raise Reply(
                ERROR_RATE_LIMITED,
                "You are sending too quickly. Please wait a moment.",
                {"retry_after": retry_after},
            )

    async def _join(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as exc:
            if broadcast.is_layer_outage(exc):
                raise broadcast.BroadcastFailed(str(exc)) from exc
            raise
        self.joined_groups.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined_groups:
            self.joined_groups.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    @staticmethod
    async def _db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_db(func, *args, **kwargs)


# Gap repairs in flight in this process, by (room, after_seq, limit): every local socket of a
# room sees the same gap at the same moment, and one read serves them all.
_repairs: dict[tuple[Any, int, int], asyncio.Future[list[dict[str, Any]]]] = {}


async def _missing_messages(
    membership: Membership | None, *, after_seq: int, limit: int
) -> list[dict[str, Any]]:
    """Chat messages after `after_seq` (up to `limit`) for a socket that saw a gap, read once
    per room and gap however many local sockets ask: the page is the same for every member."""
    assert membership is not None  # noqa: S101 - only admitted sockets repair
    key = (membership.room_id, after_seq, limit)
    pending = _repairs.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
    _repairs[key] = future
    try:
        page = await run_db(
            messaging.messages_page, membership=membership, after_seq=after_seq, limit=limit
        )
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved here: the waiters, if any, get it too
        raise
    else:
        future.set_result(page)
        return page
    finally:
        del _repairs[key]


# --- synchronous service calls (run in the database thread) --------------------------------


@dataclass(frozen=True)
class _OpenedSocket:
    """What `_open_socket` found: a refusal (a close code), or the user, room and membership
    of a socket now recorded as open."""

    refusal: CloseCode | None
    user: User | None = None
    room: Room | None = None
    membership: Membership | None = None


def _open_socket(
    *, scope: dict[str, Any], room_id: str, channel_name: str, instance_id: str, limit: int
) -> _OpenedSocket:
    """Who is connecting, to which room, as which member, and the socket recorded: one trip
    to the database thread instead of three, because a whole family joins at once."""
    user_id = authenticate_socket(scope=scope, room_id=room_id)
    if user_id is None:
        return _OpenedSocket(CloseCode.NOT_AUTHENTICATED)
    opening = presence.connection_open(
        channel_name=channel_name,
        instance_id=instance_id,
        user_id=user_id,
        room_id=room_id,
        limit=limit,
    )
    membership = opening.membership
    if membership is None:
        # Only a refusal pays for telling "no such room" from "not yours".
        exists = Room.objects.filter(pk=room_id).exists()
        return _OpenedSocket(CloseCode.FORBIDDEN if exists else CloseCode.NO_SUCH_ROOM)
    if membership.banned_at is not None:
        return _OpenedSocket(CloseCode.FORBIDDEN)
    if not opening.accepted:
        return _OpenedSocket(CloseCode.TOO_MANY_SOCKETS)
    return _OpenedSocket(None, membership.user, membership.room, membership)


def _admit_or_wait(
    *, user: User, room: Room, membership: Membership, after_seq: int | None
) -> tuple[Outcome, dict[str, Any]]:
    """The admission decision and the first frame for the socket (`welcome` or
    `lobby.waiting`) in one trip to the database thread."""
    outcome = moderation.participant_connect(user=user, room=room, membership=membership)
    decision = outcome.value
    if decision.admitted:
        frame = build_welcome(
            room=room, user=user, after_seq=after_seq, membership=decision.membership
        )
    else:
        frame = build_lobby_waiting(room=room, user=user)
    return outcome, frame


def _chat_post(*, membership: Membership, client_msg_id: str, body: str) -> Outcome:
    return messaging.message_post(
        membership=membership, client_msg_id=client_msg_id, body=body, require_admitted=True
    )


def _mod(func: Callable[..., Outcome], **fields: str) -> Callable[..., Outcome]:
    """Adapt a moderation service to (actor, room, payload): `fields` maps service keyword ->
    payload attribute."""

    def call(*, actor: User, room: Room, payload: Any) -> Outcome:
        kwargs = {name: getattr(payload, attr) for name, attr in fields.items()}
        return func(actor=actor, room=room, **kwargs)

    call.__name__ = func.__name__
    return call


MODERATION_ACTIONS: dict[str, Callable[..., Outcome]] = {
    "mod.admit": _mod(moderation.participant_admit, participant_id="participant"),
    "mod.deny": _mod(moderation.participant_deny, participant_id="participant"),
    "mod.return_to_lobby": _mod(
        moderation.participant_return_to_lobby, participant_id="participant"
    ),
    "mod.mute": _mod(
        moderation.participant_mute,
        participant_id="participant",
        audio="audio",
        video="video",
        chat="chat",
    ),
    "mod.unmute": _mod(
        moderation.participant_unmute,
        participant_id="participant",
        audio="audio",
        video="video",
        chat="chat",
    ),
    "mod.mute_all": _mod(moderation.room_mute_all, audio="audio", video="video", chat="chat"),
    "mod.remove": _mod(moderation.participant_remove, participant_id="participant", ban="ban"),
    "mod.unban": _mod(moderation.participant_unban, participant_id="participant"),
    "mod.lock": _mod(moderation.room_lock, locked="locked"),
    "mod.lower_all_hands": _mod(moderation.hands_lower_all),
    "mod.end": _mod(moderation.session_end),
    "mod.reopen": _mod(moderation.session_reopen),
}

RoomConsumer.HANDLERS = {
    "ping": RoomConsumer.on_ping,
    "chat.send": RoomConsumer.on_chat_send,
    "chat.history": RoomConsumer.on_chat_history,
    "chat.read": RoomConsumer.on_chat_read,
    "typing.set": RoomConsumer.on_typing_set,
    "media.set": RoomConsumer.on_media_set,
    "hand.raise": RoomConsumer.on_hand_raise,
    "hand.lower": RoomConsumer.on_hand_lower,
    "signal.send": RoomConsumer.on_signal_send,
    "ice.refresh": RoomConsumer.on_ice_refresh,
    "precall.offer": RoomConsumer.on_precall,
    "precall.report": RoomConsumer.on_precall,
    "precall.stop": RoomConsumer.on_precall,
    **dict.fromkeys(MODERATION_ACTIONS, RoomConsumer.on_moderation),
}
