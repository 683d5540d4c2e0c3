"""Moderation rules: waiting room, admission, leases, mutes, removal and bans, hands, ending,
and attendance.

Every rule a moderator or participant runs into lives here, so it is checked on the server for
every frame and unit-testable without a socket. Services return rooms.events.Outcome: the value
for the caller plus the effects that realtime/ delivers after the transaction commits.

Concurrency: every mutation runs in one transaction and locks the Participant row (or the Room
row for room-wide actions) with SELECT ... FOR UPDATE, then re-reads the state it decides on.
An action whose result already holds is a no-op: `Change(changed=False)` and no effects, so two
moderators on two instances acting at once end in one state with no duplicate events. Lock
order is always Room before Participant (room-wide actions), never the reverse.

State of a person in a room (Participant.state) and what moves it:

    waiting  --admit / automatic admission-->  admitted
    waiting  --deny-->                         denied    (sockets closed)
    admitted --return_to_lobby-->              waiting   (sockets stay, lobby.waiting)
    any      --remove [ban]-->                 removed   (sockets closed, tickets revoked)
    any      --session_end-->                  waiting   (everyone closed; holds cleared)

"Present" means admitted with an open Attendance row (a socket is open). An admitted person
whose last socket closed keeps state `admitted` with a lease (`lease_until`): within the grace
period they come straight back in.

Effective mutes: a medium is imposed when the person's own `imposed_*` flag is set, or when the
room's `mute_all_*` stands and they are not a moderator and a moderator has not lifted it for
them (`mute_all_exempt_*`). Observers always have audio and video imposed. Imposing a medium
also switches the person's own switch off, and lifting never switches it on: nobody's
microphone is turned on by someone else.

Presence comes from rooms.models.Connection rows, written by realtime (rooms.presence) before
`participant_connect` and deleted before `participant_disconnect`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from rooms.errors import DomainError, Forbidden, NotFound, ValidationFailed
from rooms.events import (
    HANDS,
    LOBBY_UPDATED,
    MODERATION,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    PARTICIPANT_UPDATED,
    ROOM_UPDATED,
    SESSION_ENDED,
    UNMUTE_REQUESTED,
    Audience,
    CloseUser,
    Effect,
    Outcome,
    RoomEvent,
    UserAdmitted,
    UserEvent,
    UserReturnedToLobby,
)
from rooms.models import (
    MODERATOR_ROLES,
    Attendance,
    Connection,
    Membership,
    Participant,
    ParticipantState,
    Role,
    Room,
    Session,
    User,
)
from rooms.presence import MEMBERSHIP_ROW, PARTICIPANT_ROW, ROOM_ROW, USER_ROW
from rooms.schedule import Occurrence, occurrences_between
from rooms.services import audit_record, tickets_revoke
from rooms.sql import (
    column,
    db_value,
    insert_row,
    insert_unless_exists,
    lock_clause,
    table,
    update_row,
)

MEDIA: tuple[str, ...] = ("audio", "video", "chat")
_PARTICIPANT_ID = re.compile(r"p-([1-9][0-9]{0,17})")
_OCCURRENCE_ID = re.compile(r"([0-9]{1,18})-([0-9]{8}T[0-9]{6}Z)")


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinDecision:
    """What `participant_connect` decided for a socket: in the room (`admitted`) or waiting at
    `position` (1-based) in the lobby; `reconnect` when a lease let them straight back in."""

    participant: Participant
    membership: Membership
    admitted: bool
    position: int | None
    reconnect: bool


@dataclass(frozen=True, slots=True)
class Change:
    """The value of a moderation or self action. `changed` is False for a no-op (the state
    already matched): the outcome then carries no effects."""

    changed: bool
    participant: Participant | None = None
    room: Room | None = None


def _unchanged(*, participant: Participant | None = None, room: Room | None = None) -> Outcome:
    return Outcome(Change(False, participant=participant, room=room))


# --- small helpers -------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _is_observer(membership: Membership) -> bool:
    return membership.role == Role.OBSERVER


def _membership_of(*, user: User, room: Room) -> Membership | None:
    return Membership.objects.select_related("user").filter(user=user, room_id=room.pk).first()


def _membership_for_participant_id(*, room: Room, participant_id: str | None) -> Membership:
    """The member behind a wire id "p-<membership id>" in THIS room. A participant of another
    room, or text that is not an id, is not found (no leaking that it exists elsewhere)."""
    match = _PARTICIPANT_ID.fullmatch(participant_id or "")
    membership = (
        Membership.objects.select_related("user").filter(pk=int(match[1]), room_id=room.pk).first()
        if match
        else None
    )
    if membership is None:
        raise NotFound("That person is not in this room.", code="no_such_participant")
    return membership


@cache
def _LOCK_PARTICIPANT_SQL() -> str:
    return (
        f"SELECT {PARTICIPANT_ROW.select}, {MEMBERSHIP_ROW.select}, {USER_ROW.select}, "  # noqa: S608
        f"{ROOM_ROW.select} FROM {PARTICIPANT_ROW.from_} "
        f"JOIN {MEMBERSHIP_ROW.from_} ON m.id = p.{column(Participant, 'membership')} "
        f"JOIN {USER_ROW.from_} ON u.id = m.{column(Membership, 'user')} "
        f"JOIN {ROOM_ROW.from_} ON r.id = p.{column(Participant, 'room')} "
        f"WHERE p.{column(Participant, 'membership')} = %s{lock_clause('p')}"
    )


def _lock_participant(membership: Membership) -> Participant:
    """The member's Participant row, locked for this transaction (created on first use)."""

    def locked() -> Participant | None:
        # With its membership, user and room: every socket's admission runs this (rooms/sql.py).
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_PARTICIPANT_SQL(), [membership.pk])
            row = cursor.fetchone()
        if row is None:
            return None
        participant = PARTICIPANT_ROW.instance(row)
        start = PARTICIPANT_ROW.width
        locked_membership = MEMBERSHIP_ROW.instance(row, start)
        start += MEMBERSHIP_ROW.width
        locked_membership.user = USER_ROW.instance(row, start)
        participant.room = ROOM_ROW.instance(row, start + USER_ROW.width)
        participant.membership = locked_membership
        return participant

    participant = locked()
    if participant is None:
        created = Participant(membership_id=membership.pk, room_id=membership.room_id)
        if insert_unless_exists(created, unique="membership"):
            # Our own uncommitted row is as good as locked (nobody else can see it yet), so
            # a first visit skips reading it back through the four-table join.
            created.membership = membership
            created.room = (
                membership.room
                if Membership.room.is_cached(membership)
                else Room.objects.get(pk=membership.room_id)
            )
            participant = created
        else:
            participant = locked()  # the winner's row, once its transaction is done
    if participant is None:  # pragma: no cover - the membership vanished meanwhile
        raise NotFound("That person is not in this room.", code="no_such_participant")
    return participant


def _lock_room(room: Room) -> Room:
    return Room.objects.select_for_update().get(pk=room.pk)


def _locked_participants(room: Room) -> list[Participant]:
    """Every participant row of the room, locked (room-wide actions; the Room is locked
    first). `room` is attached so snapshots see its current mute_all flags."""
    rows = list(
        Participant.objects.select_for_update(of=("self",))
        .select_related("membership", "membership__user")
        .filter(room=room)
        .order_by("pk")
    )
    for row in rows:
        row.room = room
    return rows


def _save(participant: Participant) -> None:
    participant.version += 1
    update_row(participant)


def _connected_user_ids(room: Room) -> set[int]:
    return set(Connection.objects.filter(room_id=room.pk).values_list("user_id", flat=True))


def _is_connected(*, user_id: int, room: Room) -> bool:
    return Connection.objects.filter(room_id=room.pk, user_id=user_id).exists()


def _open_attendance(*, room: Room, user_id: int) -> QuerySet[Attendance]:
    return Attendance.objects.filter(room_id=room.pk, user_id=user_id, left_at__isnull=True)


def _present_user_ids(room: Room) -> set[int]:
    return set(
        Attendance.objects.filter(room_id=room.pk, left_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )


def _is_present(participant: Participant) -> bool:
    return (
        participant.state == ParticipantState.ADMITTED
        and _open_attendance(room=participant.room, user_id=participant.membership.user_id).exists()
    )


def _close_attendance(*, room: Room, user_id: int, now: datetime) -> bool:
    return _open_attendance(room=room, user_id=user_id).update(left_at=now) > 0


def _audience(participant: Participant) -> Audience:
    """Events about someone in the room go to the room; events about someone who is not (in
    the lobby, or never came) go to moderators only, because who waits is moderator-only."""
    return "admitted" if _is_present(participant) else "moderators"


# --- snapshots (plain JSON values only: they travel through msgpack) ------------------------


def imposed_mutes(participant: Participant, *, room: Room | None = None) -> dict[str, bool]:
    """The mutes in force for this person: their own imposed flags, the room's mute_all for a
    non-moderator who has no exemption, and audio and video always for an observer."""
    room = room or participant.room
    membership = participant.membership
    moderator = membership.role in MODERATOR_ROLES
    result: dict[str, bool] = {}
    for medium in MEDIA:
        room_wide = (
            getattr(room, f"mute_all_{medium}")
            and not moderator
            and not getattr(participant, f"mute_all_exempt_{medium}")
        )
        result[medium] = bool(getattr(participant, f"imposed_{medium}_mute") or room_wide)
    if _is_observer(membership):
        result["audio"] = result["video"] = True
    return result


def participant_snapshot(participant: Participant) -> dict[str, Any]:
    """The wire shape of a person in a room (`participant.joined/updated`, `welcome`)."""
    membership = participant.membership
    imposed = imposed_mutes(participant)
    return {
        "id": membership.participant_id,
        "display_name": membership.display_name,
        "relationship": membership.relationship,
        "role": membership.role,
        "is_moderator": membership.role in MODERATOR_ROLES,
        "state": participant.state,
        "audio": bool(participant.audio_on and not imposed["audio"]),
        "video": bool(participant.video_on and not imposed["video"]),
        "imposed": imposed,
        "hand_raised_at": _iso(participant.hand_raised_at),
        # Bumped on every change, so a client can drop an update older than its snapshot.
        "version": participant.version,
    }


def room_snapshot(room: Room, *, now: datetime | None = None) -> dict[str, Any]:
    """The room as `room.updated` carries it (the same keys as the `welcome` room)."""
    return {
        "id": str(room.pk),
        "name": room.name,
        "kind": room.kind,
        "locked": room.locked,
        "waiting_room_enabled": room.waiting_room_enabled,
        "capacity": room.capacity,
        "ended": session_is_ended(room=room, now=now),
        "mute_all": {medium: getattr(room, f"mute_all_{medium}") for medium in MEDIA},
    }


def _waiting_connected(room: Room) -> QuerySet[Participant]:
    connected = Connection.objects.filter(room_id=room.pk).values("user_id")
    return Participant.objects.filter(
        room_id=room.pk,
        state=ParticipantState.WAITING,
        waiting_since__isnull=False,
        membership__user_id__in=connected,
    )


def lobby_snapshot(*, room: Room, now: datetime | None = None) -> list[dict[str, Any]]:
    """The waiting room in arrival order: people waiting now with a socket open."""
    now = _now(now)
    rows = _waiting_connected(room).select_related("membership").order_by("waiting_since", "pk")
    lobby: list[dict[str, Any]] = []
    for row in rows:
        membership = row.membership
        since = row.waiting_since
        assert since is not None  # noqa: S101 - filtered above
        lobby.append(
            {
                "id": membership.participant_id,
                "display_name": membership.display_name,
                "relationship": membership.relationship,
                "role": membership.role,
                "waiting_since": _iso(since),
                "waited_seconds": max(0, int((now - since).total_seconds())),
            }
        )
    return lobby


def _lobby_position(participant: Participant) -> int:
    since = participant.waiting_since
    ahead = (
        _waiting_connected(participant.room)
        .filter(Q(waiting_since__lt=since) | Q(waiting_since=since, pk__lt=participant.pk))
        .exclude(pk=participant.pk)
        .count()
    )
    return ahead + 1


def _lobby_event(room: Room, now: datetime) -> RoomEvent:
    return RoomEvent(LOBBY_UPDATED, {"lobby": lobby_snapshot(room=room, now=now)}, "moderators")


def hands_queue(*, room: Room, participants: Iterable[Participant] | None = None) -> list[str]:
    """Raised hands of people in the room, first raised first: participant ids.
    `participants`: the room's rows when the caller has them all loaded (a snapshot)."""
    if participants is None:
        participants = Participant.objects.filter(
            room_id=room.pk, state=ParticipantState.ADMITTED, hand_raised_at__isnull=False
        ).only("pk", "membership_id", "state", "hand_raised_at")
    raised = sorted(
        (
            row
            for row in participants
            if row.state == ParticipantState.ADMITTED and row.hand_raised_at is not None
        ),
        key=lambda row: (row.hand_raised_at, row.pk),
    )
    return [f"p-{row.membership_id}" for row in raised]


def _hands_event(room: Room) -> RoomEvent:
    return RoomEvent(HANDS, {"queue": hands_queue(room=room)})


def _moderation_event(
    action: str,
    *,
    actor: Membership,
    target: Membership | None = None,
    audience: Audience = "admitted",
    **details: Any,
) -> RoomEvent:
    data = {
        "action": action,
        "by": actor.participant_id,
        "target": target.participant_id if target is not None else None,
        **details,
    }
    return RoomEvent(MODERATION, data, audience)


def _updated_event(participant: Participant) -> RoomEvent:
    return RoomEvent(
        PARTICIPANT_UPDATED,
        {"participant": participant_snapshot(participant)},
        _audience(participant),
    )


# --- checks used by realtime ---------------------------------------------------------------


def require_moderator(*, user: User, room: Room) -> Membership:
    """The user's membership if they moderate this room (therapist or facilitator, not
    banned). Other members get Forbidden (`forbidden`); non-members NotFound."""
    membership = _membership_of(user=user, room=room)
    if membership is None:
        raise NotFound("No such room.")
    if membership.banned_at is not None or membership.role not in MODERATOR_ROLES:
        raise Forbidden("Only the therapist or a facilitator can do that.")
    return membership


def _not_admitted() -> DomainError:
    return DomainError(
        "You are in the waiting room: the therapist has not let you in yet.",
        code="not_admitted",
        status=403,
    )


def is_admitted(participant: Participant | None) -> bool:
    """The admission rule, in one place: a participant row in state `admitted`."""
    return participant is not None and participant.state == ParticipantState.ADMITTED


def require_admitted(*, user: User, room: Room) -> Participant:
    """The person's participant row if they are admitted to the room; `not_admitted`
    otherwise (waiting, denied, removed, banned, or not a member). Checked per frame."""
    participant = (
        Participant.objects.select_related("membership", "membership__user", "room")
        .filter(membership__user=user, room_id=room.pk)
        .first()
    )
    if not is_admitted(participant) or participant.membership.banned_at is not None:
        raise _not_admitted()
    return participant


def require_admitted_membership(*, membership: Membership) -> None:
    """`not_admitted` unless this membership is admitted right now (one indexed query)."""
    admitted = Participant.objects.filter(
        membership_id=membership.pk, state=ParticipantState.ADMITTED
    ).exists()
    if not admitted:
        raise _not_admitted()


def require_admitted_participant(participant: Participant | None) -> None:
    """`not_admitted` unless this already loaded participant row (None: there is none) is
    admitted: for a caller that read it in a query of its own (message_post)."""
    if not is_admitted(participant):
        raise _not_admitted()


def admitted_participant(*, room: Room, participant_id: str) -> Participant | None:
    """The admitted participant behind a wire id in this room (a signaling target), or None."""
    match = _PARTICIPANT_ID.fullmatch(participant_id or "")
    if not match:
        return None
    return (
        Participant.objects.select_related("membership", "room")
        .filter(
            membership_id=int(match[1]),
            room_id=room.pk,
            state=ParticipantState.ADMITTED,
            membership__banned_at__isnull=True,
        )
        .first()
    )


# Every offer, answer and candidate of a call is checked here, so the check is one statement
# written once (rooms/sql.py): the admitted, unbanned participants of the room among the sender
# and the target.
_SIGNAL_ROUTE_SQL = (
    f"SELECT m.id, m.user_id FROM {table(Participant)} p "  # noqa: S608
    f"JOIN {table(Membership)} m ON m.id = p.membership_id "
    "WHERE p.room_id = %s AND p.state = %s AND m.banned_at IS NULL "
    "AND (m.user_id = %s OR m.id = %s)"
)


@dataclass(frozen=True, slots=True)
class SignalRouteQuery:
    """The one statement that checks a signal's route, with its parameters: run by
    `signal_route` here, or by the live interface on its own connection (realtime/db.py),
    and decided by `decide` either way."""

    sql: str
    params: list[Any]
    sender_user_id: int
    target_membership_id: int | None

    def decide(self, rows: Iterable[tuple[int, int]]) -> tuple[int, str]:
        """(the target's user id, the sender's participant id) from the statement's rows,
        or `not_admitted` (the sender) / `no_such_participant` (the target)."""
        sender = target = None
        for membership_id, user_id in rows:
            if user_id == self.sender_user_id:
                sender = membership_id
            if membership_id == self.target_membership_id:
                target = user_id
        if sender is None:
            raise _not_admitted()
        if target is None:
            raise DomainError(
                "That person is not in this session.", code="no_such_participant", status=404
            )
        return target, f"p-{sender}"


def signal_route_query(*, user: User, room: Room, participant_id: str) -> SignalRouteQuery:
    """Who a signal from `user` to `participant_id` may go to, as a statement to run. Both
    must be admitted, unbanned participants of this room right now."""
    match = _PARTICIPANT_ID.fullmatch(participant_id or "")
    target_membership = int(match[1]) if match else None
    return SignalRouteQuery(
        sql=_SIGNAL_ROUTE_SQL,
        params=[
            db_value(Participant, "room", room.pk),
            ParticipantState.ADMITTED.value,
            user.pk,
            target_membership,
        ],
        sender_user_id=user.pk,
        target_membership_id=target_membership,
    )


def signal_route(*, user: User, room: Room, participant_id: str) -> tuple[int, str]:
    """Who a signal from `user` to `participant_id` goes to: (the target's user id, the
    sender's participant id). Both must be admitted, unbanned participants of this room right
    now: otherwise `not_admitted` (the sender) or `no_such_participant` (the target)."""
    query = signal_route_query(user=user, room=room, participant_id=participant_id)
    with connection.cursor() as cursor:
        cursor.execute(query.sql, query.params)
        return query.decide(cursor.fetchall())


def require_can_chat(*, membership: Membership) -> None:
    """Raise `chat_muted` when chat is imposed-muted for this person (chat_mute_applies)."""
    rows = Participant.objects.filter(membership_id=membership.pk).order_by()[:1]
    require_chat_unmuted(membership=membership, participant=next(iter(rows), None))


def require_chat_unmuted(*, membership: Membership, participant: Participant | None) -> None:
    """`chat_muted` when chat is imposed-muted for this person: by a moderator, or by a
    room-wide mute (which never applies to moderators, nor to someone a moderator unmuted).
    `participant` is the membership's row, already loaded (None: there is none); the
    membership's room must be loaded too, since this runs for every chat message."""
    room = membership.room
    if participant is None:
        muted = room.mute_all_chat and membership.role not in MODERATOR_ROLES
    else:
        participant.membership = membership
        muted = imposed_mutes(participant, room=room)["chat"]
    if muted:
        raise DomainError("A facilitator has muted your chat.", code="chat_muted", status=403)


def session_is_ended(*, room: Room, now: datetime | None = None) -> bool:
    """True while the live session is ended: `mod.end` set `room.ended_at` and no scheduled
    occurrence of the room has started since. The next occurrence reopens it by itself, so a
    weekly group needs nobody to press "reopen"."""
    if room.ended_at is None:
        return False
    now = _now(now)
    ended_at = room.ended_at
    for session in Session.objects.filter(room_id=room.pk):
        # occurrences_between wants `end` exclusive; include one starting exactly now.
        for occurrence in occurrences_between(
            session, start=ended_at, end=now + timedelta(microseconds=1), limit=10_000
        ):
            if ended_at < occurrence.starts_at <= now:
                return False
    return True


# --- arriving and leaving ------------------------------------------------------------------


def _admit(
    participant: Participant,
    *,
    now: datetime,
    by: User | None,
    reconnect: bool,
) -> None:
    """Put the person in the room: state, attendance, observer and room-wide mutes, audit.
    `by` is the moderator who admitted them (None when automatic); a lease keeps the
    original admitter."""
    room = participant.room
    membership = participant.membership
    participant.state = ParticipantState.ADMITTED
    participant.waiting_since = None
    participant.lease_until = None
    participant.moderator_hold = False
    if not reconnect:
        participant.admitted_by = by
        # A fresh admission is subject to a standing mute_all again.
        for medium in MEDIA:
            setattr(participant, f"mute_all_exempt_{medium}", False)
    if _is_observer(membership):
        participant.imposed_audio_mute = participant.imposed_video_mute = True
    imposed = imposed_mutes(participant)
    if imposed["audio"]:
        participant.audio_on = False
    if imposed["video"]:
        participant.video_on = False
    _save(participant)
    insert_row(
        Attendance(
            room=room,
            user_id=membership.user_id,
            joined_at=now,
            admitted_by_id=participant.admitted_by_id,
            reconnect=reconnect,
        )
    )
    details = {
        "reconnect": reconnect,
        "admitted_by": participant.admitted_by_id,
    }
    actions = (
        ["participant.joined", "participant.readmitted"] if reconnect else ["participant.joined"]
    )
    for action in actions:
        audit_record(
            action=action,
            actor=membership.user,
            room=room,
            target_user=membership.user,
            target=membership.participant_id,
            details=details,
        )


def _admits_automatically(participant: Participant) -> bool:
    """Room settings that let a newcomer in without a moderator. A lock stops all of them."""
    room = participant.room
    if room.locked or participant.moderator_hold:
        return False
    if not room.waiting_room_enabled:
        return True
    return room.auto_admit_members and (
        Attendance.objects.filter(room_id=room.pk, user_id=participant.membership.user_id).exists()
    )


def participant_connect(
    *,
    user: User,
    room: Room,
    now: datetime | None = None,
    membership: Membership | None = None,
) -> Outcome:
    """A socket of a member opened (their first or another one). Decides whether they are in
    the room or waiting; value is a JoinDecision. `membership`: the caller's fresh read of
    the person's membership with its room (the socket's opening has one), saving a query.

    Rules, in order:
    - not a member: NotFound; banned: Forbidden `banned`;
    - the session was ended (`mod.end`) and no scheduled occurrence has started since:
      DomainError `session_ended` (410), except for moderators;
    - already in the room on another socket: admitted, nothing announced;
    - moderators (therapist, facilitator) always go straight in, so a moderator who drops is
      never locked out of their own room;
    - a lease (admitted earlier, dropped less than READMISSION_GRACE_SECONDS ago): straight
      back in (reconnect=True), even while the room is locked;
    - someone denied, removed or returned to the lobby waits for a moderator's admit: no room
      setting lets them back in by itself;
    - a locked room admits nobody new;
    - waiting room off: admitted;
    - `auto_admit_members`: "known members" are admitted. Everyone who can connect holds a
      Membership, so a known member is one who has been admitted to this room before (an
      Attendance row exists); a first-time member still waits;
    - otherwise they wait (no second click: arriving is knocking). People who arrived before a
      moderator keep waiting until admitted one by one; a moderator arriving admits nobody.
      A waiting person who drops keeps their place for the grace period.
    """
    now = _now(now)
    if membership is None or membership.user_id != user.pk or membership.room_id != room.pk:
        membership = _membership_of(user=user, room=room)
    if membership is None:
        raise NotFound("No such room.")
    with transaction.atomic():
        participant = _lock_participant(membership)
        membership = participant.membership
        room = participant.room
        if membership.banned_at is not None:
            raise Forbidden("You cannot join this room.", code="banned")
        moderator = membership.role in MODERATOR_ROLES
        if not moderator and session_is_ended(room=room, now=now):
            raise DomainError(
                "This session has ended. You can join the next one when it starts.",
                code="session_ended",
                status=410,
            )
        admitted = participant.state == ParticipantState.ADMITTED
        if admitted and _open_attendance(room=room, user_id=user.pk).exists():
            decision = JoinDecision(participant, membership, True, None, False)
            return Outcome(decision)
        lease = admitted and participant.lease_until is not None and participant.lease_until > now
        if moderator or lease or _admits_automatically(participant):
            _admit(participant, now=now, by=None, reconnect=lease)
            decision = JoinDecision(participant, membership, True, None, lease)
            return Outcome(
                decision,
                [RoomEvent(PARTICIPANT_JOINED, {"participant": participant_snapshot(participant)})],
            )
        # Waiting. Already listed in the lobby (another socket open) -> nothing to announce.
        waiting = participant.state == ParticipantState.WAITING and participant.waiting_since
        listed = bool(waiting) and participant.lease_until is None
        keeps_place = bool(waiting) and (
            participant.lease_until is None or participant.lease_until > now
        )
        if not listed:
            if not keeps_place:
                participant.waiting_since = now
            participant.state = ParticipantState.WAITING
            participant.lease_until = None
            participant.hand_raised_at = None
            _save(participant)
        decision = JoinDecision(participant, membership, False, _lobby_position(participant), False)
        return Outcome(decision, [] if listed else [_lobby_event(room, now)])


def participant_disconnect(*, user: User, room: Room, now: datetime | None = None) -> Outcome:
    """The person's LAST socket in the room closed (on any instance). Someone in the room
    leaves with a lease for READMISSION_GRACE_SECONDS (their hand is lowered); someone waiting
    leaves the lobby list but keeps their place for the same time."""
    now = _now(now)
    membership = _membership_of(user=user, room=room)
    if membership is None:
        return _unchanged()
    grace = timedelta(seconds=settings.READMISSION_GRACE_SECONDS)
    with transaction.atomic():
        participant = _lock_participant(membership)
        room = participant.room
        if participant.state == ParticipantState.ADMITTED:
            if not _close_attendance(room=room, user_id=user.pk, now=now):
                return _unchanged(participant=participant)
            had_hand = participant.hand_raised_at is not None
            participant.lease_until = now + grace
            participant.hand_raised_at = None
            _save(participant)
            audit_record(
                action="participant.left",
                actor=user,
                room=room,
                target_user=user,
                target=membership.participant_id,
            )
            effects: list[Effect] = [
                RoomEvent(PARTICIPANT_LEFT, {"participant": membership.participant_id})
            ]
            if had_hand:
                effects.append(_hands_event(room))
            return Outcome(Change(True, participant=participant), effects)
        if (
            participant.state == ParticipantState.WAITING
            and participant.waiting_since is not None
            and participant.lease_until is None
        ):
            participant.lease_until = now + grace
            _save(participant)
            return Outcome(Change(True, participant=participant), [_lobby_event(room, now)])
        return _unchanged(participant=participant)


# --- moderator actions on one person -------------------------------------------------------


@dataclass(slots=True)
class _Target:
    actor: Membership
    membership: Membership
    participant: Participant
    room: Room


def _target(
    *, actor: User, room: Room, participant_id: str, protect_owner: bool = False
) -> _Target:
    """Check the actor moderates the room and lock the target. Call inside a transaction."""
    actor_membership = require_moderator(user=actor, room=room)
    membership = _membership_for_participant_id(room=room, participant_id=participant_id)
    if protect_owner and membership.user_id == room.owner_id:
        raise Forbidden("Nobody can do that to the room's owner.", code="cannot_moderate_owner")
    participant = _lock_participant(membership)
    return _Target(actor_membership, participant.membership, participant, participant.room)


def _audit_mod(target: _Target, name: str, **details: Any) -> None:
    audit_record(
        action=f"mod.{name}",
        actor=target.actor.user,
        room=target.room,
        target_user=target.membership.user,
        target=target.membership.participant_id,
        details=details,
    )


def participant_admit(
    *, actor: User, room: Room, participant_id: str, now: datetime | None = None
) -> Outcome:
    """A moderator lets one waiting person in. Works while the room is locked: the lock stops
    automatic admission only, and admitting someone on purpose is the point of a lock. Someone
    already in the room is a no-op; anyone else not waiting (denied, removed, gone from the
    lobby) is `not_waiting`."""
    now = _now(now)
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id)
        participant = t.participant
        if _is_present(participant):
            return _unchanged(participant=participant)
        if participant.state != ParticipantState.WAITING or not _is_connected(
            user_id=t.membership.user_id, room=t.room
        ):
            raise DomainError(
                f"{t.membership.display_name} is not in the waiting room.",
                code="not_waiting",
                status=409,
            )
        _admit(participant, now=now, by=actor, reconnect=False)
        _audit_mod(t, "admit")
        return Outcome(
            Change(True, participant=participant),
            [
                _moderation_event("admit", actor=t.actor, target=t.membership),
                UserAdmitted(t.membership.user_id),
                RoomEvent(PARTICIPANT_JOINED, {"participant": participant_snapshot(participant)}),
                _lobby_event(t.room, now),
            ],
        )


def participant_deny(
    *, actor: User, room: Room, participant_id: str, now: datetime | None = None
) -> Outcome:
    """A moderator turns a waiting person away: their sockets close (`denied`). They may knock
    again, but only a moderator's admit lets them in. Only moderators hear about it."""
    now = _now(now)
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id)
        participant = t.participant
        if participant.state == ParticipantState.DENIED:
            return _unchanged(participant=participant)
        if participant.state != ParticipantState.WAITING:
            raise DomainError(
                f"{t.membership.display_name} is not in the waiting room.",
                code="not_waiting",
                status=409,
            )
        participant.state = ParticipantState.DENIED
        participant.waiting_since = None
        participant.lease_until = None
        participant.moderator_hold = True
        _save(participant)
        _audit_mod(t, "deny")
        return Outcome(
            Change(True, participant=participant),
            [
                _moderation_event(
                    "deny", actor=t.actor, target=t.membership, audience="moderators"
                ),
                CloseUser(
                    t.membership.user_id,
                    "denied",
                    "The therapist has not let you into this session.",
                ),
                _lobby_event(t.room, now),
            ],
        )


def participant_return_to_lobby(
    *, actor: User, room: Room, participant_id: str, now: datetime | None = None
) -> Outcome:
    """Move someone in the room back to the waiting room without closing their sockets (a
    therapist talking privately to one family member). Cancels their lease; admitting them
    again restores them. Not for the owner (`cannot_moderate_owner`) nor another moderator
    (`cannot_moderate_moderator`: moderators always go straight in, so it could not hold)."""
    now = _now(now)
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id, protect_owner=True)
        participant = t.participant
        if t.membership.role in MODERATOR_ROLES:
            raise Forbidden(
                "A therapist or facilitator cannot be sent to the waiting room.",
                code="cannot_moderate_moderator",
            )
        if participant.state == ParticipantState.WAITING:
            return _unchanged(participant=participant)
        if participant.state != ParticipantState.ADMITTED:
            raise DomainError(
                f"{t.membership.display_name} is not in the session.",
                code="not_in_session",
                status=409,
            )
        was_present = _close_attendance(room=t.room, user_id=t.membership.user_id, now=now)
        had_hand = participant.hand_raised_at is not None
        participant.state = ParticipantState.WAITING
        participant.waiting_since = now
        participant.lease_until = None
        participant.hand_raised_at = None
        participant.moderator_hold = True
        _save(participant)
        _audit_mod(t, "return_to_lobby")
        effects: list[Effect] = [
            _moderation_event(
                "return_to_lobby",
                actor=t.actor,
                target=t.membership,
                audience="admitted" if was_present else "moderators",
            ),
            UserReturnedToLobby(t.membership.user_id),
        ]
        if was_present:
            effects.append(
                RoomEvent(PARTICIPANT_LEFT, {"participant": t.membership.participant_id})
            )
        if had_hand:
            effects.append(_hands_event(t.room))
        effects.append(_lobby_event(t.room, now))
        return Outcome(Change(True, participant=participant), effects)


def _requested(audio: bool | None, video: bool | None, chat: bool | None) -> dict[str, bool]:
    return {"audio": bool(audio), "video": bool(video), "chat": bool(chat)}


def participant_mute(
    *,
    actor: User,
    room: Room,
    participant_id: str,
    audio: bool = False,
    video: bool = False,
    chat: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Impose a mute on the given media. It is stored, so reconnecting (on any instance) never
    lifts it; the person's own switch for the medium goes off too. Not on the owner."""
    requested = _requested(audio, video, chat)
    if not any(requested.values()):
        raise ValidationFailed(
            "Choose what to mute: audio, video or chat.",
            details={"fields": {"audio": "Choose at least one medium."}},
        )
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id, protect_owner=True)
        participant = t.participant
        changed = False
        for medium, wanted in requested.items():
            if not wanted:
                continue
            for field, value in (
                (f"imposed_{medium}_mute", True),
                (f"mute_all_exempt_{medium}", False),
            ):
                if getattr(participant, field) != value:
                    setattr(participant, field, value)
                    changed = True
            own = {"audio": "audio_on", "video": "video_on"}.get(medium)
            if own and getattr(participant, own):
                setattr(participant, own, False)
                changed = True
        if not changed:
            return _unchanged(participant=participant)
        _save(participant)
        _audit_mod(t, "mute", **requested)
        return Outcome(
            Change(True, participant=participant),
            [
                _moderation_event(
                    "mute",
                    actor=t.actor,
                    target=t.membership,
                    audience=_audience(participant),
                    **requested,
                ),
                _updated_event(participant),
            ],
        )


def participant_unmute(
    *,
    actor: User,
    room: Room,
    participant_id: str,
    audio: bool = True,
    video: bool = True,
    chat: bool = True,
    now: datetime | None = None,
) -> Outcome:
    """Lift imposed mutes for one person: their own, and the room-wide mute_all for them only
    (while it stands). Nobody's microphone or camera is switched on: the person gets
    `unmute.requested` and decides. An observer's audio and video stay off."""
    requested = _requested(audio, video, chat)
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id)
        participant = t.participant
        before = imposed_mutes(participant)
        observer = _is_observer(t.membership)
        moderator = t.membership.role in MODERATOR_ROLES
        changed = False
        for medium, wanted in requested.items():
            if not wanted or (observer and medium in ("audio", "video")):
                continue
            if getattr(participant, f"imposed_{medium}_mute"):
                setattr(participant, f"imposed_{medium}_mute", False)
                changed = True
            exempt = f"mute_all_exempt_{medium}"
            if (
                getattr(t.room, f"mute_all_{medium}")
                and not moderator
                and not getattr(participant, exempt)
            ):
                setattr(participant, exempt, True)
                changed = True
        if not changed:
            return _unchanged(participant=participant)
        _save(participant)
        after = imposed_mutes(participant)
        lifted = {medium: before[medium] and not after[medium] for medium in MEDIA}
        _audit_mod(t, "unmute", **lifted)
        effects: list[Effect] = [
            _moderation_event(
                "unmute",
                actor=t.actor,
                target=t.membership,
                audience=_audience(participant),
                **lifted,
            ),
            _updated_event(participant),
        ]
        if (lifted["audio"] or lifted["video"]) and _is_present(participant):
            effects.append(
                UserEvent(
                    t.membership.user_id,
                    UNMUTE_REQUESTED,
                    {
                        "by": t.actor.display_name,
                        "audio": lifted["audio"],
                        "video": lifted["video"],
                    },
                )
            )
        return Outcome(Change(True, participant=participant), effects)


def participant_remove(
    *,
    actor: User,
    room: Room,
    participant_id: str,
    ban: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Remove someone: their sockets close on every instance (`removed`, or `banned`), their
    lease ends, their outstanding websocket tickets stop working. Without a ban they may
    knock again and wait for a moderator; with a ban they cannot connect, get a ticket or
    accept an invitation to this room until `participant_unban`. Not on the owner."""
    now = _now(now)
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id, protect_owner=True)
        participant = t.participant
        already_banned = t.membership.banned_at is not None
        if participant.state == ParticipantState.REMOVED and (already_banned or not ban):
            return _unchanged(participant=participant)
        user_id = t.membership.user_id
        was_present = participant.state == ParticipantState.ADMITTED and _close_attendance(
            room=t.room, user_id=user_id, now=now
        )
        was_listed = participant.state == ParticipantState.WAITING and _is_connected(
            user_id=user_id, room=t.room
        )
        had_hand = participant.hand_raised_at is not None
        participant.state = ParticipantState.REMOVED
        participant.waiting_since = None
        participant.lease_until = None
        participant.hand_raised_at = None
        participant.moderator_hold = True
        _save(participant)
        tickets_revoke(user=t.membership.user, room=t.room)
        if ban and not already_banned:
            Membership.objects.filter(pk=t.membership.pk).update(banned_at=now, banned_by=actor)
        _audit_mod(t, "remove", ban=ban)
        effects: list[Effect] = [
            _moderation_event(
                "remove",
                actor=t.actor,
                target=t.membership,
                audience="admitted" if was_present else "moderators",
                ban=ban,
            ),
            CloseUser(
                user_id,
                "banned" if ban else "removed",
                "You have been removed from this session.",
            ),
        ]
        if was_present:
            effects.append(
                RoomEvent(PARTICIPANT_LEFT, {"participant": t.membership.participant_id})
            )
        if had_hand:
            effects.append(_hands_event(t.room))
        if was_listed:
            effects.append(_lobby_event(t.room, now))
        return Outcome(Change(True, participant=participant), effects)


def participant_unban(
    *, actor: User, room: Room, participant_id: str, now: datetime | None = None
) -> Outcome:
    """Lift a ban. The person may connect and accept invitations again; they still wait in
    the lobby for a moderator's admit."""
    with transaction.atomic():
        t = _target(actor=actor, room=room, participant_id=participant_id)
        if t.membership.banned_at is None:
            return _unchanged(participant=t.participant)
        Membership.objects.filter(pk=t.membership.pk).update(banned_at=None, banned_by=None)
        t.membership.banned_at = None
        t.membership.banned_by = None
        _audit_mod(t, "unban")
        return Outcome(
            Change(True, participant=t.participant),
            [_moderation_event("unban", actor=t.actor, target=t.membership, audience="moderators")],
        )


# --- room-wide moderator actions -----------------------------------------------------------


def room_lock(*, actor: User, room: Room, locked: bool, now: datetime | None = None) -> Outcome:
    """Lock or unlock the room. While locked nobody new is admitted automatically; moderators
    and people holding a lease still get in, and a moderator may still admit someone."""
    with transaction.atomic():
        actor_membership = require_moderator(user=actor, room=room)
        room = _lock_room(room)
        if room.locked == locked:
            return _unchanged(room=room)
        room.locked = locked
        room.save(update_fields=["locked", "updated_at"])
        audit_record(action="mod.lock", actor=actor, room=room, details={"locked": locked})
        return Outcome(
            Change(True, room=room),
            [
                _moderation_event("lock", actor=actor_membership, locked=locked),
                RoomEvent(ROOM_UPDATED, {"room": room_snapshot(room, now=now)}),
            ],
        )


def room_mute_all(
    *,
    actor: User,
    room: Room,
    audio: bool = True,
    video: bool = False,
    chat: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Set the room-wide mute to exactly the given media (`mod.mute_all`): True imposes it on
    every non-moderator, including people admitted later while it stands; False lifts the
    room-wide mute of that medium (individual mutes stay). Imposing again also re-mutes
    people a moderator had unmuted individually. People whose state changes get
    `participant.updated`; people whose audio or video became free get `unmute.requested`."""
    wanted = _requested(audio, video, chat)
    with transaction.atomic():
        actor_membership = require_moderator(user=actor, room=room)
        room = _lock_room(room)
        participants = _locked_participants(room)
        before = {row.pk: (participant_snapshot(row), imposed_mutes(row)) for row in participants}
        room_changed = False
        for medium, value in wanted.items():
            if getattr(room, f"mute_all_{medium}") != value:
                setattr(room, f"mute_all_{medium}", value)
                room_changed = True
        dirty: list[Participant] = []
        for row in participants:
            row_changed = False
            for medium in MEDIA:
                # Imposing again re-mutes everyone; lifting makes an exemption meaningless.
                exempt = f"mute_all_exempt_{medium}"
                if getattr(row, exempt):
                    setattr(row, exempt, False)
                    row_changed = True
            imposed = imposed_mutes(row)
            for medium, own in (("audio", "audio_on"), ("video", "video_on")):
                if imposed[medium] and getattr(row, own):
                    setattr(row, own, False)
                    row_changed = True
            if row_changed:
                dirty.append(row)
        if not room_changed and not dirty:
            return _unchanged(room=room)
        if room_changed:
            room.save(update_fields=[*(f"mute_all_{m}" for m in MEDIA), "updated_at"])
        for row in dirty:
            _save(row)
        audit_record(action="mod.mute_all", actor=actor, room=room, details=wanted)
        present = _present_user_ids(room)
        effects: list[Effect] = [
            _moderation_event("mute_all", actor=actor_membership, **wanted),
            RoomEvent(ROOM_UPDATED, {"room": room_snapshot(room, now=now)}),
        ]
        for row in participants:
            if row.state != ParticipantState.ADMITTED or row.membership.user_id not in present:
                continue
            old_snapshot, old_imposed = before[row.pk]
            snapshot = participant_snapshot(row)
            if {**snapshot, "version": 0} == {**old_snapshot, "version": 0}:
                continue
            effects.append(RoomEvent(PARTICIPANT_UPDATED, {"participant": snapshot}))
            freed = {m: old_imposed[m] and not snapshot["imposed"][m] for m in ("audio", "video")}
            if any(freed.values()):
                effects.append(
                    UserEvent(
                        row.membership.user_id,
                        UNMUTE_REQUESTED,
                        {"by": actor_membership.display_name, **freed},
                    )
                )
        return Outcome(Change(True, room=room), effects)


def hand_raise(*, user: User, room: Room, now: datetime | None = None) -> Outcome:
    """Raise one's hand: joins the end of the room's queue. A muted person may; someone not
    in the room may not (`not_admitted`)."""
    now = _now(now)
    membership = _membership_of(user=user, room=room)
    if membership is None:
        raise NotFound("No such room.")
    with transaction.atomic():
        participant = _lock_participant(membership)
        if participant.state != ParticipantState.ADMITTED or participant.membership.banned_at:
            raise DomainError(
                "You can raise your hand once you are in the session.",
                code="not_admitted",
                status=403,
            )
        if participant.hand_raised_at is not None:
            return _unchanged(participant=participant)
        participant.hand_raised_at = now
        _save(participant)
        return Outcome(Change(True, participant=participant), [_hands_event(participant.room)])


def hand_lower(
    *,
    actor: User,
    room: Room,
    participant_id: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Lower a hand: one's own (no `participant_id`, or one's own id), or, for a moderator,
    anyone's (audited as `mod.lower_hand` and announced as a moderation)."""
    actor_membership = _membership_of(user=actor, room=room)
    if actor_membership is None:
        raise NotFound("No such room.")
    own = participant_id is None or participant_id == actor_membership.participant_id
    with transaction.atomic():
        if own:
            participant = _lock_participant(actor_membership)
            if participant.hand_raised_at is None:
                return _unchanged(participant=participant)
            participant.hand_raised_at = None
            _save(participant)
            return Outcome(Change(True, participant=participant), [_hands_event(participant.room)])
        t = _target(actor=actor, room=room, participant_id=participant_id or "")
        if t.participant.hand_raised_at is None:
            return _unchanged(participant=t.participant)
        t.participant.hand_raised_at = None
        _save(t.participant)
        _audit_mod(t, "lower_hand")
        return Outcome(
            Change(True, participant=t.participant),
            [
                _moderation_event("lower_hand", actor=t.actor, target=t.membership),
                _hands_event(t.room),
            ],
        )


def hands_lower_all(*, actor: User, room: Room, now: datetime | None = None) -> Outcome:
    """A moderator lowers every raised hand."""
    with transaction.atomic():
        actor_membership = require_moderator(user=actor, room=room)
        room = _lock_room(room)
        raised = [row for row in _locked_participants(room) if row.hand_raised_at is not None]
        if not raised:
            return _unchanged(room=room)
        for row in raised:
            row.hand_raised_at = None
            _save(row)
        audit_record(
            action="mod.lower_all_hands", actor=actor, room=room, details={"count": len(raised)}
        )
        return Outcome(
            Change(True, room=room),
            [_moderation_event("lower_all_hands", actor=actor_membership), _hands_event(room)],
        )


def session_end(*, actor: User, room: Room, now: datetime | None = None) -> Outcome:
    """End the live session for everyone (`mod.end`). Every open socket of every member,
    moderators included, gets `session.ended` and is closed: the session is over for all, and
    a moderator who reconnects is let in (moderators may reopen it). Leases are cancelled,
    attendance closed, hands lowered, the lobby emptied, and per-session holds (deny, removal
    without ban, return to lobby) cleared. Stored mutes, the lock and bans stay until a
    moderator lifts them. Non-moderators cannot connect again (`session_ended`) until a
    moderator reopens the room or its next scheduled occurrence starts."""
    now = _now(now)
    with transaction.atomic():
        actor_membership = require_moderator(user=actor, room=room)
        room = _lock_room(room)
        if session_is_ended(room=room, now=now):
            return _unchanged(room=room)
        room.ended_at = now
        room.save(update_fields=["ended_at", "updated_at"])
        for row in _locked_participants(room):
            row.state = ParticipantState.WAITING
            row.waiting_since = None
            row.lease_until = None
            row.hand_raised_at = None
            row.moderator_hold = False
            _save(row)
        Attendance.objects.filter(room_id=room.pk, left_at__isnull=True).update(left_at=now)
        audit_record(action="mod.end", actor=actor, room=room, details={})
        effects: list[Effect] = [
            _moderation_event("end", actor=actor_membership),
            RoomEvent(
                SESSION_ENDED, {"by": actor_membership.participant_id, "ended_at": _iso(now)}
            ),
        ]
        effects.extend(
            CloseUser(user_id, "session_ended", "The session has ended.")
            for user_id in sorted(_connected_user_ids(room))
        )
        return Outcome(Change(True, room=room), effects)


def session_reopen(*, actor: User, room: Room, now: datetime | None = None) -> Outcome:
    """A moderator reopens an ended session before its next scheduled occurrence."""
    now = _now(now)
    with transaction.atomic():
        actor_membership = require_moderator(user=actor, room=room)
        room = _lock_room(room)
        if not session_is_ended(room=room, now=now):
            return _unchanged(room=room)
        room.ended_at = None
        room.save(update_fields=["ended_at", "updated_at"])
        audit_record(action="mod.reopen", actor=actor, room=room, details={})
        return Outcome(
            Change(True, room=room),
            [
                _moderation_event("reopen", actor=actor_membership),
                RoomEvent(ROOM_UPDATED, {"room": room_snapshot(room, now=now)}),
            ],
        )


# --- the person's own media ----------------------------------------------------------------


def media_set(
    *,
    user: User,
    room: Room,
    audio: bool | None = None,
    video: bool | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Switch one's own microphone or camera (None leaves it as it is). Turning on a medium a
    moderator muted is refused with `muted_by_moderator` and changes nothing; observers
    cannot turn either on (`observer_media_off`)."""
    membership = _membership_of(user=user, room=room)
    if membership is None:
        raise NotFound("No such room.")
    with transaction.atomic():
        participant = _lock_participant(membership)
        if participant.state != ParticipantState.ADMITTED:
            raise DomainError(
                "You can switch your microphone and camera once you are in the session.",
                code="not_admitted",
                status=403,
            )
        wanted = {"audio": audio, "video": video}
        if _is_observer(participant.membership) and any(wanted.values()):
            raise DomainError(
                "Observers take part with their microphone and camera off.",
                code="observer_media_off",
                status=403,
            )
        imposed = imposed_mutes(participant)
        for medium, value in wanted.items():
            if value and imposed[medium]:
                thing = "microphone" if medium == "audio" else "camera"
                raise DomainError(
                    f"A facilitator has muted your {thing}.",
                    code="muted_by_moderator",
                    status=403,
                    details={"medium": medium},
                )
        changed = False
        for medium, value in wanted.items():
            field = f"{medium}_on"
            if value is not None and getattr(participant, field) != value:
                setattr(participant, field, value)
                changed = True
        if not changed:
            return _unchanged(participant=participant)
        _save(participant)
        return Outcome(Change(True, participant=participant), [_updated_event(participant)])


# --- attendance ----------------------------------------------------------------------------


def occurrence_resolve(
    *, session: Session, occurrence: str | None, now: datetime | None = None
) -> Occurrence:
    """The occurrence of `session` named by an occurrence id ("<session id>-<UTC start>"), an
    ISO start time (naive means UTC), or, when None, the latest one that has started.
    NotFound `no_such_occurrence` when the session has no such occurrence."""
    now = _now(now)
    missing = NotFound("This session has no such occurrence.", code="no_such_occurrence")
    if occurrence is None or not occurrence.strip():
        started = occurrences_between(
            session,
            start=datetime(1970, 1, 1, tzinfo=UTC),
            end=now + timedelta(microseconds=1),
            limit=100_000,
        )
        if not started:
            raise missing
        return started[-1]
    text = occurrence.strip()
    match = _OCCURRENCE_ID.fullmatch(text)
    try:
        if match:
            if int(match[1]) != session.pk:
                raise missing
            start = datetime.strptime(match[2], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        else:
            start = datetime.fromisoformat(text)
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
    except ValueError as exc:
        raise missing from exc
    for found in occurrences_between(
        session, start=start, end=start + timedelta(microseconds=1), limit=100_000
    ):
        if found.starts_at == start:
            return found
    raise missing


def _name_of(user: User | None, names: dict[int, str]) -> str | None:
    if user is None:
        return None
    return names.get(user.pk) or user.public_name()


def attendance_for_occurrence(
    *,
    room: Room,
    session: Session,
    occurrence_start: datetime,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Who attended one occurrence, per person, first arrival first: `joined` (first join),
    `left` (last leave; None while still there), `reconnects` (how many times they came back
    after leaving during the occurrence), `minutes_present` (the stretches clipped to the
    occurrence window), `admitted_by` (who let them in first; None when admission was
    automatic) and the stretches themselves."""
    if session.room_id != room.pk:
        raise NotFound("No such session.")
    now = _now(now)
    window_start = occurrence_start
    window_end = occurrence_start + timedelta(minutes=session.duration_minutes)
    rows = (
        Attendance.objects.filter(room_id=room.pk, joined_at__lt=window_end)
        .filter(Q(left_at__isnull=True) | Q(left_at__gt=window_start))
        .select_related("user", "admitted_by")
        .order_by("joined_at", "pk")
    )
    memberships = {
        m.user_id: m for m in Membership.objects.filter(room_id=room.pk).select_related("user")
    }
    names = {user_id: m.display_name for user_id, m in memberships.items()}
    people: dict[int, dict[str, Any]] = {}
    for row in rows:
        membership = memberships.get(row.user_id)
        person = people.get(row.user_id)
        if person is None:
            person = people[row.user_id] = {
                "participant": membership.participant_id if membership else None,
                "user_id": row.user_id,
                "display_name": _name_of(row.user, names),
                "role": membership.role if membership else None,
                "relationship": membership.relationship if membership else "",
                "joined": _iso(row.joined_at),
                "left": None,
                "reconnects": 0,
                "seconds": 0.0,
                "admitted_by": _name_of(row.admitted_by, names),
                "stretches": [],
                "_open": False,
                "_last_left": None,
            }
        else:
            person["reconnects"] += 1
        until = min(row.left_at or now, window_end)
        since = max(row.joined_at, window_start)
        person["seconds"] += max(0.0, (until - since).total_seconds())
        person["stretches"].append(
            {
                "joined": _iso(row.joined_at),
                "left": _iso(row.left_at),
                "reconnect": row.reconnect,
                "admitted_by": _name_of(row.admitted_by, names),
            }
        )
        person["_open"] = person["_open"] or row.left_at is None
        if row.left_at is not None and (
            person["_last_left"] is None or row.left_at > person["_last_left"]
        ):
            person["_last_left"] = row.left_at
    result = []
    for person in people.values():
        last_left = person.pop("_last_left")
        person["left"] = None if person.pop("_open") else _iso(last_left)
        person["minutes_present"] = round(person.pop("seconds") / 60, 1)
        result.append(person)
    return result
