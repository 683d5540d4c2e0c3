"""Chat and care threads: posting, history, read positions, unread counts, the inbox and the
offline email for care threads.

Services here return rooms.events.Outcome: the value for the caller plus the RoomEvents that
realtime/ delivers once the transaction has committed. Bodies are stored only encrypted
(rooms.crypto); wire dicts hold plain JSON values only, because they travel through msgpack on
the channel layer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from rooms.crypto import decrypt_body, encrypt_body
from rooms.errors import Forbidden, ValidationFailed
from rooms.events import CHAT_MESSAGE, CHAT_READ, Outcome, RoomEvent
from rooms.models import (
    MODERATOR_ROLES,
    Connection,
    Membership,
    Message,
    Participant,
    Room,
    RoomKind,
    User,
)
from rooms.moderation import require_admitted_participant, require_chat_unmuted
from rooms.services import audit_record
from rooms.sql import attnames, columns, db_value, table

logger = logging.getLogger(__name__)

BODY_MAX_CHARS = 4000
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
# Letters, digits and . _ : - so an id is safe in logs and URLs; fullmatch, so no newline.
_CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class PostedMessage:
    """What `message_post` did: the message's `seq`, whether this call created it (False for a
    resend of a known client_msg_id) and its wire dict."""

    seq: int
    created: bool
    message: dict[str, Any]


# --- helpers -------------------------------------------------------------------------------


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wire(message: Message, *, sender: str, sender_name: str, body: str) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "sender": sender,
        "sender_name": sender_name,
        "body": body,
        "client_msg_id": message.client_msg_id,
        "sent_at": _iso_utc(message.created_at),
    }


def _wires(room_id: Any, messages: list[Message]) -> list[dict[str, Any]]:
    """Wire dicts for messages of one room, naming each sender as they appear in that room."""
    if not messages:
        return []
    members = {
        user_id: (f"p-{pk}", name)
        for user_id, pk, name in Membership.objects.filter(room_id=room_id).values_list(
            "user_id", "pk", "display_name"
        )
    }
    missing = {m.sender_id for m in messages} - members.keys()
    if missing:
        # A sender whose membership was deleted: no participant id any more, only a name.
        for user in User.objects.filter(pk__in=missing):
            members[user.pk] = ("", user.public_name())
    return [
        _wire(m, sender=members[m.sender_id][0], sender_name=members[m.sender_id][1], body=b)
        for m, b in ((m, decrypt_body(m.body_encrypted)) for m in messages)
    ]


def _require_not_banned(membership: Membership) -> None:
    if membership.banned_at is not None:
        raise Forbidden("You cannot take part in this room.", code="banned")


def _clean_body(body: str) -> str:
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        raise ValidationFailed("Write a message before sending it.", code="body_empty")
    if len(text) > BODY_MAX_CHARS:
        raise ValidationFailed(
            f"A message can be at most {BODY_MAX_CHARS} characters.",
            code="body_too_long",
            details={"max_chars": BODY_MAX_CHARS, "chars": len(text)},
        )
    return text


def _check_client_msg_id(client_msg_id: str) -> None:
    if not isinstance(client_msg_id, str) or not _CLIENT_MSG_ID.fullmatch(client_msg_id):
        raise ValidationFailed(
            "client_msg_id must be 1 to 64 letters, digits or . _ : - characters.",
            code="invalid_client_msg_id",
        )


def _existing(*, room_id: Any, sender_id: int, client_msg_id: str) -> Message | None:
    # At most one row (unique constraint): no ORDER BY for Django to build on the hot path.
    rows = Message.objects.filter(
        room_id=room_id, sender_id=sender_id, client_msg_id=client_msg_id
    ).order_by()[:1]
    return next(iter(rows), None)


# --- posting -------------------------------------------------------------------------------


def message_post(
    *,
    membership: Membership,
    client_msg_id: str,
    body: str,
    now: datetime | None = None,
    require_admitted: bool = False,
) -> Outcome:
    """Post a chat message as `membership`. Outcome.value is a PostedMessage; effects hold one
    `chat.message` RoomEvent only when a message was created.

    Idempotent per (room, sender, client_msg_id): a resend returns the first message and its
    seq (even if the resent body differs) and announces nothing. seq is gap-free per room
    across processes because it is taken under a row lock on the Room. Raises ValidationFailed
    (`body_empty`, `body_too_long`, `invalid_client_msg_id`), Forbidden (`banned`,
    `not_member`) or `chat_muted`; with `require_admitted` (the live room's rule) also
    `not_admitted` unless the sender is admitted right now. In a care thread, members who are
    offline get an email once the transaction commits (care_thread_notify_offline).
    """
    text = _clean_body(body)
    _check_client_msg_id(client_msg_id)
    _require_not_banned(membership)
    try:
        posted = _post_locked(
            membership=membership,
            client_msg_id=client_msg_id,
            text=text,
            now=now,
            require_admitted=require_admitted,
        )
    except IntegrityError:
        # A concurrent resend of the same client_msg_id (a second device, or a retry racing
        # the first attempt) committed between our resend check and our insert; our attempt
        # was rolled back with its seq, so answer with theirs.
        existing = _existing(
            room_id=membership.room_id, sender_id=membership.user_id, client_msg_id=client_msg_id
        )
        if existing is None:
            raise
        wire = _wires(existing.room_id, [existing])[0]
        return Outcome(value=PostedMessage(seq=existing.seq, created=False, message=wire))
    effects = [RoomEvent(CHAT_MESSAGE, posted.message)] if posted.created else []
    return Outcome(value=posted, effects=effects)


# --- posting: the hot path's SQL ----------------------------------------------------------
#
# chat.send runs this for every message, and building these statements with the ORM cost more
# CPU than everything else a message does (docs/benchmarks.md), so they are written once here:
# standard SQL that PostgreSQL and SQLite (3.35+, for RETURNING) both run, with table and
# column names taken from the models. The rules stay in Python: the rows below are only read.


_ROOM_FIELDS = ("kind", "last_seq", "mute_all_audio", "mute_all_video", "mute_all_chat")
_MEMBERSHIP_FIELDS = ("id", "user", "room", "role", "display_name", "relationship", "banned_at")
_PARTICIPANT_FIELDS = (
    "id",
    "membership",
    "room",
    "state",
    "imposed_audio_mute",
    "imposed_video_mute",
    "imposed_chat_mute",
    "mute_all_exempt_audio",
    "mute_all_exempt_video",
    "mute_all_exempt_chat",
)
_MESSAGE_INSERT_FIELDS = ("room", "seq", "sender", "client_msg_id", "body_encrypted", "created_at")

# Identifiers come from the models, values only ever as parameters (hence the noqa).
_TAKE_NEXT_SEQ_SQL = (
    f"UPDATE {table(Room)} SET last_seq = last_seq + 1 WHERE id = %s "  # noqa: S608
    f"RETURNING {', '.join(Room._meta.get_field(n).column for n in _ROOM_FIELDS)}"
)
_POSTER_SQL = (
    f"SELECT {columns(Membership, 'm', _MEMBERSHIP_FIELDS)}, "  # noqa: S608
    f"{columns(Participant, 'p', _PARTICIPANT_FIELDS)}, "
    f"(SELECT e.seq FROM {table(Message)} e WHERE e.room_id = m.room_id "
    "AND e.sender_id = m.user_id AND e.client_msg_id = %s) "
    f"FROM {table(Membership)} m "
    f"LEFT JOIN {table(Participant)} p ON p.membership_id = m.id WHERE m.id = %s"
)
_INSERT_MESSAGE_SQL = (
    f"INSERT INTO {table(Message)} "  # noqa: S608
    f"({', '.join(Message._meta.get_field(n).column for n in _MESSAGE_INSERT_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_MESSAGE_INSERT_FIELDS))})"
)


@dataclass(frozen=True)
class _Poster:
    """What the post path reads under the room lock. The instances hold only the fields the
    rules look at (the others are deferred); values are as the driver returns them, which the
    rules only test for truth or None."""

    room: Room | None
    membership: Membership | None
    participant: Participant | None
    resent_seq: int | None


def _take_seq_and_read_poster(*, room_id: Any, membership_pk: int, client_msg_id: str) -> _Poster:
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_NEXT_SEQ_SQL, [db_value(Room, "id", room_id)])
        room_row = cursor.fetchone()
        cursor.execute(_POSTER_SQL, [client_msg_id, membership_pk])
        row = cursor.fetchone()
    room = None
    if room_row is not None:
        room = Room.from_db(
            connection.alias, ["id", *attnames(Room, _ROOM_FIELDS)], [room_id, *room_row]
        )
    if row is None:
        return _Poster(room=room, membership=None, participant=None, resent_seq=None)
    n_membership = len(_MEMBERSHIP_FIELDS)
    membership = Membership.from_db(
        connection.alias, attnames(Membership, _MEMBERSHIP_FIELDS), row[:n_membership]
    )
    participant_row = row[n_membership : n_membership + len(_PARTICIPANT_FIELDS)]
    participant = None
    if participant_row[0] is not None:
        participant = Participant.from_db(
            connection.alias, attnames(Participant, _PARTICIPANT_FIELDS), participant_row
        )
    if room is not None:
        membership.room = room
    return _Poster(room=room, membership=membership, participant=participant, resent_seq=row[-1])


def _post_locked(
    *,
    membership: Membership,
    client_msg_id: str,
    text: str,
    now: datetime | None,
    require_admitted: bool,
) -> PostedMessage:
    with transaction.atomic():
        # Taking the next seq first takes the room's row lock: every post in the room queues
        # here, so seq can never repeat, and the read that follows, a new statement under READ
        # COMMITTED, sees every ban, mute and message committed before the lock was ours. A
        # post refused below rolls back, so seq never skips either.
        poster = _take_seq_and_read_poster(
            room_id=membership.room_id, membership_pk=membership.pk, client_msg_id=client_msg_id
        )
        if require_admitted:
            require_admitted_participant(poster.participant)
        current, room = poster.membership, poster.room
        if current is None or room is None:
            raise Forbidden("You are no longer a member of this room.", code="not_member")
        _require_not_banned(current)
        if poster.resent_seq is not None:
            existing = _existing(
                room_id=membership.room_id, sender_id=current.user_id, client_msg_id=client_msg_id
            )
            if existing is not None:
                # Nothing new: give the seq taken above back.
                transaction.set_rollback(True)
                wire = _wire(
                    existing,
                    sender=current.participant_id,
                    sender_name=current.display_name,
                    body=decrypt_body(existing.body_encrypted),
                )
                return PostedMessage(seq=existing.seq, created=False, message=wire)
        # After the resend check: a message already accepted stays acknowledged even if its
        # sender was muted since.
        require_chat_unmuted(membership=current, participant=poster.participant)
        message = Message(
            room_id=membership.room_id,
            seq=room.last_seq,
            sender_id=current.user_id,
            client_msg_id=client_msg_id,
            body_encrypted=encrypt_body(text),
            created_at=now or timezone.now(),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_MESSAGE_SQL,
                [
                    db_value(Message, name, getattr(message, Message._meta.get_field(name).attname))
                    for name in _MESSAGE_INSERT_FIELDS
                ],
            )
        if room.kind == RoomKind.CARE_THREAD:
            room_id, sender_user_id = membership.room_id, current.user_id
            # robust: a failing mail server must not turn a committed message into an error.
            transaction.on_commit(
                lambda: care_thread_notify_offline(
                    room_id=room_id, sender_user_id=sender_user_id, now=now
                ),
                robust=True,
            )
    if Membership.room.is_cached(membership):
        # The caller's copy (a long-lived socket's) keeps the room's position current.
        membership.room.last_seq = message.seq
    wire = _wire(
        message, sender=current.participant_id, sender_name=current.display_name, body=text
    )
    return PostedMessage(seq=message.seq, created=True, message=wire)


# --- reading -------------------------------------------------------------------------------


def messages_page(
    *,
    membership: Membership,
    after_seq: int | None = None,
    before_seq: int | None = None,
    limit: int = PAGE_LIMIT_DEFAULT,
) -> list[dict[str, Any]]:
    """Wire dicts of the room's messages in ascending seq.

    after_seq: the first `limit` messages with seq > after_seq (resuming after a reconnect).
    before_seq: the last `limit` messages with seq < before_seq (scrolling back).
    Neither: the latest `limit`. Both: ValidationFailed `invalid_range`. limit is clamped to
    1..200.
    """
    _require_not_banned(membership)
    if after_seq is not None and before_seq is not None:
        raise ValidationFailed(
            "Ask for messages after a seq or before a seq, not both.", code="invalid_range"
        )
    limit = max(1, min(PAGE_LIMIT_MAX, limit))
    query = Message.objects.filter(room_id=membership.room_id)
    if after_seq is not None:
        messages = list(query.filter(seq__gt=after_seq).order_by("seq")[:limit])
    else:
        if before_seq is not None:
            query = query.filter(seq__lt=before_seq)
        messages = list(query.order_by("-seq")[:limit])
        messages.reverse()
    return _wires(membership.room_id, messages)


def read_mark(*, membership: Membership, seq: int) -> Outcome:
    """Record that `membership` has read up to `seq`. The stored position never moves backwards
    and never passes the room's last seq. Outcome.value is the stored position; effects hold a
    `chat.read` RoomEvent only when it moved. In a care thread a move is audited as
    `thread.read` (with the seq only, never message text)."""
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValidationFailed("seq must be a whole number.", code="invalid_seq")
    with transaction.atomic():
        current = (
            Membership.objects.select_for_update()
            .select_related("room", "user")
            .filter(pk=membership.pk)
            .first()
        )
        if current is None:
            raise Forbidden("You are no longer a member of this room.", code="not_member")
        _require_not_banned(current)
        room = current.room
        position = max(current.last_read_seq, min(seq, room.last_seq))
        if position == current.last_read_seq:
            membership.last_read_seq = position
            return Outcome(value=position)
        Membership.objects.filter(pk=current.pk).update(last_read_seq=position)
        if room.kind == RoomKind.CARE_THREAD:
            audit_record(
                action="thread.read",
                actor=current.user,
                room=room,
                details={"seq": position},
            )
    membership.last_read_seq = position
    event = RoomEvent(CHAT_READ, {"participant": current.participant_id, "seq": position})
    return Outcome(value=position, effects=[event])


def unread_count(*, membership: Membership) -> int:
    """Messages from others after the member's stored read position (read fresh from the
    database, not from the possibly stale `membership` object)."""
    position = Membership.objects.filter(pk=membership.pk).values("last_read_seq")
    return (
        Message.objects.filter(room_id=membership.room_id, seq__gt=Subquery(position))
        .exclude(sender_id=membership.user_id)
        .count()
    )


def inbox_for_user(*, user: User) -> list[dict[str, Any]]:
    """The care threads `user` belongs to (not banned from), most recent activity first (a
    thread without messages counts from its creation): room_id, name, unread, last_message_at
    (ISO UTC or None), last_seq."""
    unread = (
        Message.objects.filter(room_id=OuterRef("room_id"), seq__gt=OuterRef("last_read_seq"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("room_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_at = (
        Message.objects.filter(room_id=OuterRef("room_id")).order_by("-seq").values("created_at")
    )
    memberships = (
        Membership.objects.filter(
            user=user, banned_at__isnull=True, room__kind=RoomKind.CARE_THREAD
        )
        .select_related("room")
        .annotate(
            unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            last_message_at=Subquery(last_at[:1]),
            activity=Coalesce(Subquery(last_at[:1]), F("room__created_at")),
        )
        .order_by("-activity", "room__name")
    )
    return [
        {
            "room_id": str(m.room_id),
            "name": m.room.name,
            "unread": m.unread,
            "last_message_at": _iso_utc(m.last_message_at) if m.last_message_at else None,
            "last_seq": m.room.last_seq,
        }
        for m in memberships
    ]


# --- care thread notifications -------------------------------------------------------------


def _notification_text(*, membership: Membership, link: str) -> str:
    # No message text, no sender, no room name: an email leaves the system and may be read on
    # a shared family device.
    if membership.role in MODERATOR_ROLES:
        opening = "You have a new message in one of your Hearth care threads."
    else:
        opening = "You have a new message from your care team in Hearth."
    return (
        f"Hello,\n\n{opening}\n\nRead it after signing in:\n{link}\n\n"
        "For your privacy this email does not contain the message itself.\n"
    )


def care_thread_notify_offline(
    *, room_id: Any, sender_user_id: int, now: datetime | None = None
) -> int:
    """Email each member of a care thread (other than the sender) who has no open socket in it,
    at most once per CARE_THREAD_EMAIL_INTERVAL_MINUTES per thread and member. The email holds
    only a link to the thread. Returns the number of emails sent.

    The throttle holds across processes: a conditional UPDATE of Membership.last_notified_at
    claims the right to send, and only the process whose UPDATE touched the row sends.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.CARE_THREAD_EMAIL_INTERVAL_MINUTES)
    online = Connection.objects.filter(room_id=room_id).values("user_id")
    candidates = (
        Membership.objects.filter(room_id=room_id, banned_at__isnull=True)
        .exclude(user_id=sender_user_id)
        .exclude(user_id__in=Subquery(online))
        .select_related("user")
    )
    link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/threads/{room_id}/"
    sent = 0
    for membership in candidates:
        user = membership.user
        if not user.is_active or not user.email:
            continue
        claimed = (
            Membership.objects.filter(pk=membership.pk)
            .filter(Q(last_notified_at__isnull=True) | Q(last_notified_at__lte=cutoff))
            .update(last_notified_at=now)
        )
        if claimed != 1:
            continue
        try:
            send_mail(
                subject="New message in Hearth",
                message=_notification_text(membership=membership, link=link),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[user.email],
            )
        except Exception:
            logger.exception("care thread email to membership %s failed", membership.pk)
            # Give the claim back so the next message tries again instead of waiting out the
            # interval for an email that never left.
            Membership.objects.filter(pk=membership.pk, last_notified_at=now).update(
                last_notified_at=membership.last_notified_at
            )
            continue
        sent += 1
    return sent
