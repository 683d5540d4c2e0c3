"""Consumer-test helpers: open the real ASGI websocket application (Origin check, session auth,
routing) in-process with channels' WebsocketCommunicator over the real Redis channel layer."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application

ORIGIN = (b"origin", b"http://localhost")
_ids = itertools.count(1)


def session_cookie_for(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


class Socket:
    """A test client speaking protocol v1 on one communicator."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.comm = communicator
        self.close_code: int | None = None
        # Frames that arrived while `request` waited for its reply, kept for `expect`: events
        # and replies may interleave, since a socket's requests and events are independent.
        self.pending: list[dict[str, Any]] = []

    async def send(
        self, type_: str, data: dict[str, Any] | None = None, *, id_: str | None = None
    ) -> str:
        frame_id = id_ or f"c-{next(_ids)}"
        await self.comm.send_to(
            text_data=json.dumps({"v": 1, "type": type_, "id": frame_id, "data": data or {}})
        )
        return frame_id

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.comm.send_to(text_data=text, bytes_data=data)

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        message = await self.comm.receive_output(timeout)
        if message["type"] == "websocket.close":
            self.close_code = message.get("code")
            raise ConnectionClosed(self.close_code)
        return json.loads(message["text"])

    async def expect(
        self, type_: str, *, timeout: float = 5, ref: str | None = None
    ) -> dict[str, Any]:
        """Read frames until one of `type_` (and `ref`) arrives; other frames are skipped."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {type_} frame within {timeout}s")
            frame = await self.recv(timeout=remaining)
            if frame["type"] == type_ and (ref is None or frame.get("ref") == ref):
                return frame

    async def request(
        self, type_: str, data: dict[str, Any] | None = None, *, timeout: float = 5
    ) -> dict[str, Any]:
        """Send a frame and return its reply (ack, error or typed reply) by `ref`."""
        frame_id = await self.send(type_, data)
        deadline = asyncio.get_running_loop().time() + timeout
        for index, frame in enumerate(self.pending):
            if frame.get("ref") == frame_id:
                return self.pending.pop(index)
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise AssertionError(f"no reply to {type_} within {timeout}s")
                message = await self.comm.receive_output(remaining)
                if message["type"] == "websocket.close":
                    self.close_code = message.get("code")
                    raise ConnectionClosed(self.close_code)
                frame = json.loads(message["text"])
                if frame.get("ref") == frame_id:
                    return frame
                skipped.append(frame)
        finally:
            self.pending.extend(skipped)

    async def expect_close(self, timeout: float = 5) -> int | None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError("socket was not closed")
            try:
                await self.recv(timeout=remaining)
            except ConnectionClosed as closed:
                return closed.code

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.comm.disconnect()


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


async def open_socket(
    room_id: Any,
    *,
    user: Any = None,
    ticket: str | None = None,
    after_seq: int | None = None,
    origin: bytes | None = b"http://localhost",
) -> Socket:
    query = []
    if ticket:
        query.append(f"ticket={ticket}")
    if after_seq is not None:
        query.append(f"after_seq={after_seq}")
    path = f"/ws/rooms/{room_id}/" + (f"?{'&'.join(query)}" if query else "")
    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie_for)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    socket = Socket(communicator)
    if not connected:
        socket.close_code = code
    return socket


@pytest.fixture
def room_setup(db: Any, make_user: Any) -> dict[str, Any]:
    """A family session with the waiting room OFF: therapist owner, client, mother, brother."""
    from rooms import services

    therapist = make_user("dana", staff_role="therapist")
    room = services.room_create(
        owner=therapist, kind="family_session", name="Morgan family", waiting_room_enabled=False
    )
    people = {"therapist": therapist}
    for name, role, relationship in (
        ("alex", "client", ""),
        ("jordan", "family", "mother"),
        ("riley", "family", "brother"),
    ):
        user = make_user(name)
        services.membership_add(
            actor=therapist, room=room, user=user, role=role, relationship=relationship
        )
        people[name] = user
    people["room"] = room
    return people


@pytest.fixture
def cast(transactional_db: Any) -> Any:
    """The moderation cast (tests/realtime/moderation_kit.py) in a room with the waiting room
    off; test_waiting_room.py overrides it with the waiting room on."""
    from tests.realtime.moderation_kit import make_cast

    return make_cast(waiting_room=False)


@pytest.fixture
async def sockets(cast: Any) -> Any:
    from tests.realtime.moderation_kit import Sockets

    tracker = Sockets(cast.room)
    yield tracker
    await tracker.close_all()
