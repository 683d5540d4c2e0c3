"""Presence: who is online in a room, across every daphne instance.

Each open websocket is a Connection row tagged with the instance that holds it. A person is
online in a room while any of their connections exists, so two devices are one participant,
online until the last socket closes. Instances refresh a heartbeat; when one dies without
saying goodbye (SIGKILL, power loss) another instance sweeps its rows once the heartbeat is
older than PRESENCE_TIMEOUT_SECONDS, and the people it held are shown as gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from rooms.models import Connection, Instance, Membership, Participant, ParticipantState, Room, User
from rooms.sql import Shape, column, db_value, lock_clause, refresh_from_row, table


@dataclass(frozen=True, slots=True)
class Departure:
    """A person whose last connection in a room went away with a dead instance."""

    room_id: str
    user_id: int


MEMBERSHIP_ROW = Shape(Membership, "m")
ROOM_ROW = Shape(Room, "r")
USER_ROW = Shape(User, "u")
PARTICIPANT_ROW = Shape(Participant, "p")


def _lock_membership(
    *, user_id: int, room_id: Any, with_related: bool = False
) -> Membership | None:
    """Serialize one person's socket changes in one room (open, close: the count and "was it
    the last one"), on every instance. Returns the locked membership (with its room and user
    if asked); a removed member has no row left to lock, and can open no socket either."""
    if not with_related:
        rows = Membership.objects.select_for_update(of=("self",)).filter(
            user_id=user_id, room_id=room_id
        )
        return next(iter(rows), None)
    # Every socket's opening runs this one (rooms/sql.py: written by hand).
    sql = (
        f"SELECT {MEMBERSHIP_ROW.select}, {ROOM_ROW.select}, {USER_ROW.select} "  # noqa: S608
        f"FROM {MEMBERSHIP_ROW.from_} "
        f"JOIN {ROOM_ROW.from_} ON r.id = m.{column(Membership, 'room')} "
        f"JOIN {USER_ROW.from_} ON u.id = m.{column(Membership, 'user')} "
        f"WHERE m.{column(Membership, 'user')} = %s AND m.{column(Membership, 'room')} = %s"
        f"{lock_clause('m')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, db_value(Membership, "room", room_id)])
        row = cursor.fetchone()
    if row is None:
        return None
    membership = MEMBERSHIP_ROW.instance(row)
    membership.room = ROOM_ROW.instance(row, MEMBERSHIP_ROW.width)
    membership.user = USER_ROW.instance(row, MEMBERSHIP_ROW.width + ROOM_ROW.width)
    return membership


@dataclass(frozen=True, slots=True)
class SocketOpening:
    """What `connection_open` found: the person's membership with its room (None: not a
    member of that room) and whether the socket was recorded."""

    membership: Membership | None
    accepted: bool


_SOCKET_FIELDS = ("channel_name", "instance_id", "user", "room", "connected_at")
# The socket is recorded only while the person has fewer than the limit open (rooms/sql.py:
# every socket's opening runs it). The membership lock taken first makes the count exact.
_RECORD_SOCKET_SQL = (
    f"INSERT INTO {table(Connection)} "  # noqa: S608
    f"({', '.join(column(Connection, name) for name in _SOCKET_FIELDS)}) "
    f"SELECT {', '.join(['%s'] * len(_SOCKET_FIELDS))} "
    f"WHERE (SELECT COUNT(*) FROM {table(Connection)} WHERE {column(Connection, 'user')} = %s "
    f"AND {column(Connection, 'room')} = %s) < %s"
)


def connection_open(
    *, channel_name: str, instance_id: str, user_id: int, room_id: Any, limit: int
) -> SocketOpening:
    """Record a socket of a member who is not banned. Refuses past `limit` sockets per person
    per room; the lock on the person's membership row makes the count exact across instances
    without making a family that joins together queue on the room's row. The membership comes
    back with its room and user from the same locking read, so opening a socket costs one
    more statement."""
    with transaction.atomic():
        membership = _lock_membership(user_id=user_id, room_id=room_id, with_related=True)
        if membership is None or membership.banned_at is not None:
            return SocketOpening(membership, False)
        room_value = db_value(Connection, "room", membership.room_id)
        with connection.cursor() as cursor:
            cursor.execute(
                _RECORD_SOCKET_SQL,
                [
                    channel_name,
                    instance_id,
                    user_id,
                    room_value,
                    db_value(Connection, "connected_at", timezone.now()),
                    user_id,
                    room_value,
                    limit,
                ],
            )
            recorded = cursor.rowcount == 1
    return SocketOpening(membership, recorded)


def connection_close(*, channel_name: str) -> tuple[Room | None, User | None, bool]:
    """Forget a socket. Returns (room, user, was_last) — was_last is True when this was the
    person's last socket in that room, so they are now offline there."""
    with transaction.atomic():
        connection = (
            Connection.objects.select_related("room", "user")
            .filter(channel_name=channel_name)
            .first()
        )
        if connection is None:
            return None, None, False
        _lock_membership(user_id=connection.user_id, room_id=connection.room_id)
        connection.delete()
        remaining = Connection.objects.filter(
            user_id=connection.user_id, room_id=connection.room_id
        ).exists()
    return connection.room, connection.user, not remaining


def is_online(*, user_id: int, room: Room) -> bool:
    return Connection.objects.filter(user_id=user_id, room=room).exists()


def room_and_admitted(room: Room) -> list[Participant]:
    """Reread `room` in place (its last_seq and flags) and return its admitted participants,
    each with its membership and `online` (a socket open in the room), in membership order:
    what a `welcome` is made of. One statement, written by hand (every socket's welcome reads
    it): the room's row comes with every participant's. Raises Room.DoesNotExist if the room
    is gone."""
    connections = table(Connection)
    sql = (
        f"SELECT {ROOM_ROW.select}, {PARTICIPANT_ROW.select}, {MEMBERSHIP_ROW.select}, "  # noqa: S608
        f"EXISTS (SELECT 1 FROM {connections} c WHERE c.{column(Connection, 'room')} = "
        f"p.{column(Participant, 'room')} AND c.{column(Connection, 'user')} = "
        f"m.{column(Membership, 'user')}) "
        f"FROM {ROOM_ROW.from_} LEFT JOIN {PARTICIPANT_ROW.from_} "
        f"ON p.{column(Participant, 'room')} = r.id AND p.{column(Participant, 'state')} = %s "
        f"LEFT JOIN {MEMBERSHIP_ROW.from_} ON m.id = p.{column(Participant, 'membership')} "
        f"WHERE r.id = %s ORDER BY p.{column(Participant, 'membership')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ParticipantState.ADMITTED, db_value(Room, "id", room.pk)])
        rows = cursor.fetchall()
    if not rows:
        raise Room.DoesNotExist
    refresh_from_row(room, ROOM_ROW.instance(rows[0]))
    participants = []
    start = ROOM_ROW.width
    for row in rows:
        if row[start] is None:  # the room has nobody admitted (the LEFT JOIN's empty side)
            continue
        participant = PARTICIPANT_ROW.instance(row, start)
        participant.membership = MEMBERSHIP_ROW.instance(row, start + PARTICIPANT_ROW.width)
        participant.online = bool(row[-1])  # type: ignore[attr-defined]
        participants.append(participant)
    return participants


def instance_heartbeat(*, instance_id: str, now: datetime | None = None) -> None:
    Instance.objects.update_or_create(
        instance_id=instance_id, defaults={"heartbeat_at": now or timezone.now()}
    )


def instance_forget(*, instance_id: str) -> list[Departure]:
    """A graceful shutdown: drop this instance's rows at once."""
    return _sweep_instance(instance_id)


def sweep_dead_instances(
    *, instance_id: str, now: datetime | None = None, timeout_seconds: int | None = None
) -> list[Departure]:
    """Remove the connections of instances whose heartbeat is too old. Each dead instance is
    claimed by deleting its Instance row, so only one sweeper reports its departures."""
    now = now or timezone.now()
    timeout = timeout_seconds or settings.PRESENCE_TIMEOUT_SECONDS
    cutoff = now - timedelta(seconds=timeout)
    departures: list[Departure] = []
    stale = list(
        Instance.objects.filter(heartbeat_at__lt=cutoff)
        .exclude(instance_id=instance_id)
        .values_list("instance_id", flat=True)
    )
    # Connections whose instance never wrote a heartbeat at all (crashed at start-up).
    orphaned = (
        Connection.objects.exclude(instance_id__in=Instance.objects.values("instance_id"))
        .exclude(instance_id=instance_id)
        .filter(connected_at__lt=cutoff)
        .values_list("instance_id", flat=True)
        .distinct()
    )
    for dead in {*stale, *orphaned}:
        departures.extend(_sweep_instance(dead))
    return departures


def _sweep_instance(dead_instance_id: str) -> list[Departure]:
    with transaction.atomic():
        claimed = Instance.objects.filter(instance_id=dead_instance_id).delete()[0]
        rows = list(
            Connection.objects.select_for_update()
            .filter(instance_id=dead_instance_id)
            .values_list("pk", "room_id", "user_id")
        )
        if not rows and not claimed:
            return []
        Connection.objects.filter(pk__in=[pk for pk, _room, _user in rows]).delete()
        departures = []
        for room_id, user_id in {(room_id, user_id) for _pk, room_id, user_id in rows}:
            if not Connection.objects.filter(room_id=room_id, user_id=user_id).exists():
                departures.append(Departure(room_id=str(room_id), user_id=user_id))
    return departures
