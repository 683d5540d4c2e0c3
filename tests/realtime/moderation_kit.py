"""Shared set-up for the moderation, waiting-room and presence consumer tests: a room with every
role, quick accounts, and a set of sockets that the test closes however it ends.

The sockets are the real ASGI application over the real Redis channel layer
(tests/realtime/conftest.py `open_socket`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from rooms import services
from rooms.models import AuditEvent, Membership, Message, Participant, Room, User
from tests.realtime.conftest import ConnectionClosed, Socket, open_socket


def new_user(name: str, *, staff_role: str = "") -> User:
    """An account without a usable password: the sockets sign in with a session cookie, and
    skipping PBKDF2 keeps each test's set-up short."""
    return User.objects.create_user(
        username=f"{name}@test.hearth",
        email=f"{name}@test.hearth",
        password=None,
        display_name=name.title(),
        staff_role=staff_role,
    )


@dataclass
class Cast:
    """A support group owned by therapist Dana, co-moderated by facilitator Fran, with client
    Alex, Alex's mother Jordan and brother Riley, and Olly, an observer."""

    room: Room
    dana: User
    fran: User
    alex: User
    jordan: User
    riley: User
    olly: User
    pids: dict[int, str] = field(default_factory=dict)

    def pid(self, user: User) -> str:
        return self.pids[user.pk]


def make_cast(*, waiting_room: bool, name: str = "Tuesday group") -> Cast:
    slug = name.split(maxsplit=1)[0].lower()
    dana = new_user(f"dana-{slug}", staff_role="therapist")
    room = services.room_create(
        owner=dana,
        kind="support_group",
        name=name,
        waiting_room_enabled=waiting_room,
        owner_display_name="Dana",
    )
    people: dict[str, User] = {"dana": dana}
    for person, role, relationship, staff_role in (
        ("fran", "facilitator", "", "facilitator"),
        ("alex", "client", "", ""),
        ("jordan", "family", "mother", ""),
        ("riley", "family", "brother", ""),
        ("olly", "observer", "", "therapist"),
    ):
        user = new_user(f"{person}-{slug}", staff_role=staff_role)
        services.membership_add(
            actor=dana,
            room=room,
            user=user,
            role=role,
            display_name=person.title(),
            relationship=relationship,
        )
        people[person] = user
    pids = {m.user_id: m.participant_id for m in Membership.objects.filter(room=room)}
    return Cast(room=room, pids=pids, **people)


class Sockets:
    """Opens sockets to one room and closes every one of them at the end of the test."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.opened: list[Socket] = []

    async def open(
        self, user: User | None = None, *, room: Room | None = None, **kwargs: Any
    ) -> Socket:
        socket = await open_socket((room or self.room).pk, user=user, **kwargs)
        self.opened.append(socket)
        return socket

    async def enter(self, user: User, **kwargs: Any) -> tuple[Socket, dict[str, Any]]:
        """Connect someone who goes straight in: their first frame is `welcome`."""
        socket = await self.open(user, **kwargs)
        first = await socket.recv()
        assert first["type"] == "welcome", first
        return socket, first["data"]

    async def knock(self, user: User, **kwargs: Any) -> tuple[Socket, dict[str, Any]]:
        """Connect someone who must wait: their first frame is `lobby.waiting`."""
        socket = await self.open(user, **kwargs)
        first = await socket.recv()
        assert first["type"] == "lobby.waiting", first
        return socket, first["data"]

    async def close_all(self) -> None:
        async def close(socket: Socket) -> None:
            # A socket the server closed has nothing left to disconnect.
            with contextlib.suppress(Exception):
                await socket.close()

        await asyncio.gather(*(close(socket) for socket in self.opened))


async def frames_until_close(
    socket: Socket, timeout: float = 5
) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame a socket receives until the server closes it, and the close code."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"socket still open after {timeout}s; got {frames}")
        try:
            frames.append(await socket.recv(timeout=remaining))
        except ConnectionClosed as closed:
            return frames, closed.code


async def about(socket: Socket, type_: str, participant_id: str) -> dict[str, Any]:
    """The next `participant.joined/updated/left` about one participant (others skipped);
    joined and updated give the participant object."""
    while True:
        frame = await socket.expect(type_)
        subject = frame["data"]["participant"]
        if subject == participant_id:
            return {"id": subject}
        if isinstance(subject, dict) and subject["id"] == participant_id:
            return subject


def error_code(reply: dict[str, Any]) -> str | None:
    assert reply["type"] == "error", reply
    return reply["error"]["code"]


@database_sync_to_async
def state_of(cast: Cast) -> dict[str, Any]:
    """Everything a moderation action could change, to prove a refused one changed nothing."""
    room = Room.objects.get(pk=cast.room.pk)
    return {
        "room": {
            name: getattr(room, name)
            for name in (
                "locked",
                "ended_at",
                "mute_all_audio",
                "mute_all_video",
                "mute_all_chat",
                "waiting_room_enabled",
            )
        },
        "participants": sorted(
            Participant.objects.filter(room=room).values_list(
                "membership_id",
                "state",
                "version",
                "imposed_audio_mute",
                "imposed_video_mute",
                "imposed_chat_mute",
                "hand_raised_at",
                "lease_until",
            )
        ),
        "bans": sorted(
            Membership.objects.filter(room=room, banned_at__isnull=False).values_list(
                "pk", flat=True
            )
        ),
        "audit": AuditEvent.objects.filter(room=room, action__startswith="mod.").count(),
        "messages": Message.objects.filter(room=room).count(),
    }
