"""Shared set-up for the moderation tests: a support group with every role, a fixed clock, and
sockets simulated the way realtime/ drives the services (a Connection row is written before
`participant_connect` and deleted before `participant_disconnect`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rooms import moderation, services
from rooms.events import (
    CloseUser,
    Outcome,
    RoomEvent,
    UserAdmitted,
    UserEvent,
    UserReturnedToLobby,
)
from rooms.models import Connection, Membership, Participant, Room, User

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_channels = itertools.count(1)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


@dataclass
class Group:
    """A support group owned by therapist Dana, co-moderated by facilitator Fran, with client
    Alex, Alex's mother Jordan and brother Sam, and an observer, Olly."""

    room: Room
    dana: User  # therapist, owner
    fran: User  # facilitator
    alex: User  # client
    jordan: User  # family, mother
    sam: User  # family, brother
    olly: User  # observer


def make_group(make_user: Any, *, name: str = "Tuesday group", **room_settings: Any) -> Group:
    dana = make_user(f"dana-{name}", staff_role="therapist")
    fran = make_user(f"fran-{name}", staff_role="facilitator")
    alex = make_user(f"alex-{name}")
    jordan = make_user(f"jordan-{name}")
    sam = make_user(f"sam-{name}")
    olly = make_user(f"olly-{name}", staff_role="therapist")
    room = services.room_create(
        owner=dana, kind="support_group", name=name, owner_display_name="Dana", **room_settings
    )
    services.membership_add(
        actor=dana, room=room, user=fran, role="facilitator", display_name="Fran"
    )
    services.membership_add(actor=dana, room=room, user=alex, role="client", display_name="Alex")
    services.membership_add(
        actor=dana,
        room=room,
        user=jordan,
        role="family",
        display_name="Jordan",
        relationship="mother",
    )
    services.membership_add(
        actor=dana, room=room, user=sam, role="family", display_name="Sam", relationship="brother"
    )
    services.membership_add(actor=dana, room=room, user=olly, role="observer", display_name="Olly")
    return Group(room=room, dana=dana, fran=fran, alex=alex, jordan=jordan, sam=sam, olly=olly)


def pid(user: User, room: Room) -> str:
    return Membership.objects.get(user=user, room=room).participant_id


def participant(user: User, room: Room) -> Participant:
    return Participant.objects.select_related("membership", "room").get(
        membership__user=user, room=room
    )


def open_socket(user: User, room: Room, now: datetime = T0) -> Outcome:
    """A socket opens: presence row first, then the moderation decision (as realtime does)."""
    Connection.objects.create(
        channel_name=f"test.{next(_channels)}", instance_id="test-instance", user=user, room=room
    )
    return moderation.participant_connect(user=user, room=room, now=now)


def close_sockets(user: User, room: Room, now: datetime = T0) -> Outcome:
    """Every socket of the person closes (the last one triggers participant_disconnect)."""
    Connection.objects.filter(user=user, room=room).delete()
    return moderation.participant_disconnect(user=user, room=room, now=now)


def admitted(user: User, room: Room, by: User, now: datetime = T0) -> Outcome:
    """The person arrives and a moderator lets them in."""
    open_socket(user, room, now)
    return moderation.participant_admit(
        actor=by, room=room, participant_id=pid(user, room), now=now
    )


def summary(outcome: Outcome) -> list[tuple[Any, ...]]:
    """Who is told what: one tuple per effect, in order."""
    out: list[tuple[Any, ...]] = []
    for effect in outcome.effects:
        if isinstance(effect, RoomEvent):
            out.append(("room", effect.type, effect.audience))
        elif isinstance(effect, UserEvent):
            out.append(("user", effect.type, effect.user_id))
        elif isinstance(effect, CloseUser):
            out.append(("close", effect.reason, effect.user_id))
        elif isinstance(effect, UserAdmitted):
            out.append(("admitted", effect.user_id))
        elif isinstance(effect, UserReturnedToLobby):
            out.append(("to_lobby", effect.user_id))
        else:  # pragma: no cover - a new effect kind must be added here
            raise AssertionError(effect)
    return out


def event(outcome: Outcome, type_: str) -> dict[str, Any]:
    """The data of the one RoomEvent of `type_` in the outcome."""
    found = [e for e in outcome.effects if isinstance(e, RoomEvent) and e.type == type_]
    assert len(found) == 1, summary(outcome)
    return found[0].data
