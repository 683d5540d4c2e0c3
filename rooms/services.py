"""Writes to the Hearth domain. Every rule about who may change what lives here.

Functions are keyword-only and named `<entity>_<action>`. They raise rooms.errors.DomainError
subclasses; an interface (REST or websocket) turns those into its own error shape. Each write
that matters to a clinical record leaves an AuditEvent in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import (
    CommonPasswordValidator,
    MinimumLengthValidator,
    NumericPasswordValidator,
    UserAttributeSimilarityValidator,
    get_default_password_validators,
    validate_password,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rooms import events, selectors
from rooms.errors import Forbidden, Gone, NotFound, ValidationFailed
from rooms.models import (
    DEFAULT_CAPACITY,
    AuditEvent,
    Frequency,
    Invitation,
    Membership,
    Role,
    Room,
    RoomKind,
    Session,
    StaffRole,
    User,
    WebsocketTicket,
)
from rooms.schedule import is_valid_time_zone, wall_to_stored
from rooms.sql import column, db_value, insert_row, table
from rooms.tokens import new_token, token_hash


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    room: Room | None = None,
    target_user: User | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Callers never pass message text in `details`."""
    event = AuditEvent(
        action=action,
        actor=actor,
        room=room,
        target_user=target_user,
        target=target,
        details=details or {},
    )
    # Every admission and departure writes one (rooms/sql.py: the statement built once).
    insert_row(event)
    return event


# --- rooms ---------------------------------------------------------------------------------

ROOM_EDITABLE_FIELDS = ("name", "waiting_room_enabled", "auto_admit_members", "locked", "capacity")
_ROOM_FLAGS = ("waiting_room_enabled", "auto_admit_members", "locked")


def _room_field_errors(fields: dict[str, Any]) -> dict[str, str]:
    """Field errors for room settings; strips the name in place. A key present with None
    is an error (every room setting has a value), except `capacity` at creation, where the
    caller drops None first to get the kind's default."""
    errors: dict[str, str] = {}
    if "name" in fields:
        name = fields["name"].strip() if isinstance(fields["name"], str) else ""
        if not name or len(name) > 120:
            errors["name"] = "Give the room a name of 1 to 120 characters."
        fields["name"] = name
    if "capacity" in fields:
        cap = fields["capacity"]
        # bool is an int subclass: `true` is not a capacity.
        if not isinstance(cap, int) or isinstance(cap, bool) or not 2 <= cap <= 50:
            errors["capacity"] = "Capacity must be a whole number from 2 to 50."
    for flag in _ROOM_FLAGS:
        if flag in fields and not isinstance(fields[flag], bool):
            errors[flag] = "Use true or false."
    return errors


def room_create(
    *,
    owner: User,
    kind: str,
    name: str,
    waiting_room_enabled: bool | None = None,
    auto_admit_members: bool = False,
    capacity: int | None = None,
    owner_display_name: str | None = None,
) -> Room:
    """A therapist opens a room and becomes its owner and first (therapist) member."""
    if owner.staff_role != StaffRole.THERAPIST:
        raise Forbidden("Only therapists can create rooms.", code="therapists_only")
    fields: dict[str, Any] = {"name": name, "auto_admit_members": auto_admit_members}
    if capacity is not None:
        fields["capacity"] = capacity
    if waiting_room_enabled is not None:
        fields["waiting_room_enabled"] = waiting_room_enabled
    errors = _room_field_errors(fields)
    if kind not in RoomKind.values:
        errors["kind"] = f"Choose one of: {', '.join(RoomKind.values)}."
    if errors:
        raise ValidationFailed(details={"fields": errors})
    if waiting_room_enabled is None:
        # A care thread is messages between sessions: nobody waits to be admitted to it.
        waiting_room_enabled = kind != RoomKind.CARE_THREAD
    with transaction.atomic():
        room = Room.objects.create(
            kind=kind,
            name=fields["name"],
            owner=owner,
            waiting_room_enabled=waiting_room_enabled,
            auto_admit_members=auto_admit_members,
            capacity=capacity if capacity is not None else DEFAULT_CAPACITY[kind],
        )
        Membership.objects.create(
            user=owner,
            room=room,
            role=Role.THERAPIST,
            display_name=owner_display_name or owner.public_name(),
        )
        audit_record(action="room.created", actor=owner, room=room, details={"kind": kind})
    return room


def room_update(*, actor: User, room: Room, **changes: Any) -> Room:
    """The owner or a therapist member changes a room's settings. Nothing is written unless
    every change is valid."""
    selectors.room_require_editor(user=actor, room=room)
    errors = dict.fromkeys(
        sorted(set(changes) - set(ROOM_EDITABLE_FIELDS)), "This field cannot be changed."
    )
    errors.update(_room_field_errors(changes))
    if errors:
        raise ValidationFailed(details={"fields": errors})
    if not changes:
        return room
    with transaction.atomic():
        for field, value in changes.items():
            setattr(room, field, value)
        room.save(update_fields=[*changes.keys(), "updated_at"])
        audit_record(
            action="room.updated",
            actor=actor,
            room=room,
            details={key: value for key, value in changes.items() if key != "name"},
        )
    return room


# --- memberships ---------------------------------------------------------------------------


def membership_add(
    *,
    actor: User,
    room: Room,
    user: User,
    role: str,
    display_name: str = "",
    relationship: str = "",
) -> Membership:
    """The owner or a therapist member adds an existing account to the room."""
    selectors.room_require_editor(user=actor, room=room)
    if role not in Role.values:
        raise ValidationFailed(
            details={"fields": {"role": f"Choose one of: {', '.join(Role.values)}."}}
        )
    # A therapist member may edit the room, so only a therapist account can hold that role;
    # facilitators are clinical staff of either kind.
    if role == Role.THERAPIST and user.staff_role != StaffRole.THERAPIST:
        raise ValidationFailed(
            details={"fields": {"role": "Only a therapist's account can be a therapist here."}}
        )
    if role == Role.FACILITATOR and user.staff_role == StaffRole.NONE:
        raise ValidationFailed(
            details={"fields": {"role": "Only clinical staff can be facilitators."}}
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user,
                room=room,
                role=role,
                display_name=(display_name or user.public_name())[:80],
                relationship=relationship[:60],
            )
            audit_record(
                action="membership.added",
                actor=actor,
                room=room,
                target_user=user,
                details={"role": role},
            )
    except IntegrityError as exc:
        raise ValidationFailed(
            details={"fields": {"user": "This person is already a member of the room."}}
        ) from exc
    return membership


def membership_remove(*, actor: User, membership: Membership) -> None:
    """The owner or a therapist member takes someone out of the room. The owner stays: a
    room always has someone who may change it."""
    room = membership.room
    selectors.room_require_editor(user=actor, room=room)
    if membership.user_id == room.owner_id:
        raise Forbidden("The room's owner cannot be removed from it.", code="owner_not_removable")
    with transaction.atomic():
        audit_record(
            action="membership.removed",
            actor=actor,
            room=room,
            target_user=membership.user,
            details={"role": membership.role},
        )
        # A ticket fetched before the removal must not open the room afterwards.
        tickets_revoke(user=membership.user, room=room)
        participant_id = membership.participant_id
        user_id = membership.user_id
        membership.delete()
        # Open sockets of the person close at once, and the room sees them leave.
        events.publish_on_commit(
            str(room.pk),
            [
                events.CloseUser(
                    user_id=user_id,
                    reason="removed",
                    message="You are no longer a member of this room.",
                ),
                events.RoomEvent(events.PARTICIPANT_LEFT, {"participant": participant_id}),
            ],
        )


# --- invitations ---------------------------------------------------------------------------


def invitation_create(
    *,
    actor: User,
    room: Room,
    email: str,
    role: str = Role.FAMILY,
    relationship: str = "",
    now: datetime | None = None,
) -> tuple[Invitation, str]:
    """Returns the invitation and its token. The token is shown once and only its hash kept."""
    selectors.room_require_editor(user=actor, room=room)
    errors: dict[str, str] = {}
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = "Enter a valid email address."
    if role not in (Role.CLIENT, Role.FAMILY, Role.OBSERVER):
        errors["role"] = "Invitations are for clients, family members and observers."
    if errors:
        raise ValidationFailed(details={"fields": errors})
    now = now or timezone.now()
    token = new_token()
    with transaction.atomic():
        invitation = Invitation.objects.create(
            room=room,
            email=email,
            role=role,
            relationship=relationship[:60],
            token_hash=token_hash(token),
            created_by=actor,
            expires_at=now + timedelta(hours=settings.INVITATION_TTL_HOURS),
        )
        audit_record(
            action="invitation.created",
            actor=actor,
            room=room,
            target=f"invitation:{invitation.pk}",
            details={"role": role},
        )
    return invitation, token


def invitation_revoke(*, actor: User, invitation: Invitation, now: datetime | None = None) -> None:
    selectors.room_require_editor(user=actor, room=invitation.room)
    if invitation.revoked_at:
        raise Gone("This invitation was already withdrawn.", code="invitation_revoked")
    if invitation.accepted_at:
        raise Gone("This invitation was already used.", code="invitation_used")
    with transaction.atomic():
        invitation.revoked_at = now or timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action="invitation.revoked",
            actor=actor,
            room=invitation.room,
            target=f"invitation:{invitation.pk}",
        )


def invitation_check(
    *, token: str, now: datetime | None = None, for_update: bool = False
) -> Invitation:
    """The invitation behind `token`, or Gone with the reason it can no longer be used
    (`invitation_revoked`, `invitation_used`, `invitation_expired`). `for_update` locks the
    row (inside a transaction) so that the check and the accept are one step."""
    now = now or timezone.now()
    rows = Invitation.objects.select_related("room")
    if for_update:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(token_hash=token_hash(token or "")).first()
    if invitation is None:
        raise NotFound("This invitation link is not valid.", code="invitation_not_found")
    if invitation.revoked_at is not None:
        raise Gone(
            "This invitation was withdrawn. Ask your therapist for a new one.",
            code="invitation_revoked",
        )
    if invitation.accepted_at is not None:
        raise Gone("This invitation was already used. Sign in instead.", code="invitation_used")
    if invitation.expires_at <= now:
        raise Gone(
            "This invitation has expired. Ask your therapist for a new one.",
            code="invitation_expired",
        )
    return invitation


def _password_validators() -> list[Any]:
    """The configured AUTH_PASSWORD_VALIDATORS, or Django's recommended four when none are
    configured: an account that guards clinical conversations never gets a password like
    "123" because a setting was left empty."""
    if settings.AUTH_PASSWORD_VALIDATORS:
        return get_default_password_validators()
    return [
        UserAttributeSimilarityValidator(),
        MinimumLengthValidator(min_length=10),
        CommonPasswordValidator(),
        NumericPasswordValidator(),
    ]


def _password_problem(password: str, user: User) -> str:
    """A sentence saying what is wrong with the password, or "" when it is acceptable."""
    try:
        validate_password(password or "", user=user, password_validators=_password_validators())
    except DjangoValidationError as exc:
        return " ".join(exc.messages)
    return ""


def invitation_accept(
    *,
    token: str,
    display_name: str,
    password: str,
    time_zone: str,
    relationship: str | None = None,
    existing_user: User | None = None,
    now: datetime | None = None,
) -> User:
    """Accept an invitation: creates the person's own account (or uses the signed-in one) and
    their membership. Single use: a second accept of the same token is Gone."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    display_name = (display_name or "").strip()
    if not 1 <= len(display_name) <= 80:
        errors["display_name"] = "Enter the name others will see (1 to 80 characters)."
    if not is_valid_time_zone(time_zone or ""):
        errors["time_zone"] = "Choose a time zone such as Europe/London or America/Chicago."
    with transaction.atomic():
        # The row stays locked until commit, so of two accepts of one link the second waits
        # and then finds it used: it cannot also succeed.
        invitation = invitation_check(token=token, now=now, for_update=True)
        room = invitation.room
        if existing_user is None:
            password_error = _password_problem(
                password, User(username=invitation.email, email=invitation.email)
            )
            if password_error:
                errors["password"] = password_error
            if User.objects.filter(username=invitation.email).exists():
                errors["email"] = "An account with this email exists: sign in, then open the link."
        if errors:
            raise ValidationFailed(details={"fields": errors})
        if existing_user is not None:
            user = existing_user
            existing = selectors.membership_for(user=user, room=room)
            if existing is not None and existing.banned_at is not None:
                raise Forbidden("You cannot join this room.", code="banned")
            if existing is not None:
                raise ValidationFailed(
                    details={"fields": {"token": "You are already a member of this room."}}
                )
        else:
            user = User.objects.create_user(
                username=invitation.email,
                email=invitation.email,
                password=password,
                display_name=display_name,
                time_zone=time_zone,
            )
        Membership.objects.create(
            user=user,
            room=room,
            role=invitation.role,
            display_name=display_name,
            relationship=(relationship if relationship is not None else invitation.relationship)[
                :60
            ],
        )
        invitation.accepted_at = now
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            action="invitation.accepted",
            actor=user,
            room=room,
            target=f"invitation:{invitation.pk}",
            details={"role": invitation.role},
        )
    return user


# --- sessions (schedules) ------------------------------------------------------------------


def session_create(
    *,
    actor: User,
    room: Room,
    starts_at_local: datetime,
    time_zone: str,
    duration_minutes: int = 60,
    frequency: str = Frequency.ONCE,
    until: date | None = None,
    count: int | None = None,
    title: str = "",
) -> Session:
    """Schedule a room: a one-off, or a weekly or fortnightly series ending on a date
    (`until`, inclusive) or after `count` sessions. `starts_at_local` is the organiser's
    wall-clock time in `time_zone`, without an offset."""
    selectors.room_require_editor(user=actor, room=room)
    errors: dict[str, str] = {}
    if starts_at_local.tzinfo is not None:
        # An offset would fix the instant and break "18:00 local" across DST; refuse it rather
        # than guess which of the two the caller meant.
        errors["starts_at_local"] = (
            "Give the local wall-clock time without an offset; the zone goes in time_zone."
        )
    if not is_valid_time_zone(time_zone or ""):
        errors["time_zone"] = "Choose a time zone such as Europe/London or America/Chicago."
    if frequency not in Frequency.values:
        errors["frequency"] = f"Choose one of: {', '.join(Frequency.values)}."
    if not 5 <= duration_minutes <= 600:
        errors["duration_minutes"] = "A session lasts from 5 to 600 minutes."
    if until is not None and count is not None:
        errors["until"] = "Give an end date or a number of sessions, not both."
    if count is not None and not 1 <= count <= 520:
        errors["count"] = "The number of sessions must be from 1 to 520."
    if until is not None and until < starts_at_local.date():
        errors["until"] = "The end date is before the first session."
    if frequency == Frequency.ONCE and (until is not None or count not in (None, 1)):
        errors["frequency"] = "A one-off session has no end date or count."
    if frequency in (Frequency.WEEKLY, Frequency.FORTNIGHTLY) and until is None and count is None:
        # A programme has an end: an open series would fill calendars forever.
        errors["until"] = "Give an end date or a number of sessions for a repeating series."
    if errors:
        raise ValidationFailed(details={"fields": errors})
    with transaction.atomic():
        session = Session.objects.create(
            room=room,
            title=title[:120],
            starts_at_local=wall_to_stored(starts_at_local),
            time_zone=time_zone,
            duration_minutes=duration_minutes,
            frequency=frequency,
            until=until,
            count=count,
            created_by=actor,
        )
        audit_record(
            action="session.created",
            actor=actor,
            room=room,
            target=f"session:{session.pk}",
            details={"frequency": frequency},
        )
    return session


# --- profile -------------------------------------------------------------------------------


def user_update_profile(
    *, user: User, display_name: str | None = None, time_zone: str | None = None
) -> User:
    errors: dict[str, str] = {}
    if display_name is not None and not 1 <= len(display_name.strip()) <= 80:
        errors["display_name"] = "Enter a name of 1 to 80 characters."
    if time_zone is not None and not is_valid_time_zone(time_zone):
        errors["time_zone"] = "Choose a time zone such as Europe/London or America/Chicago."
    if errors:
        raise ValidationFailed(details={"fields": errors})
    if display_name is not None:
        user.display_name = display_name.strip()
    if time_zone is not None:
        user.time_zone = time_zone
    user.save(update_fields=["display_name", "time_zone"])
    return user


# --- websocket tickets ---------------------------------------------------------------------


def ticket_issue(*, user: User, room: Room, now: datetime | None = None) -> tuple[str, datetime]:
    """A single-use ticket for opening the room's websocket without a cookie. A non-member
    gets NotFound; a banned member gets Forbidden `banned`."""
    membership = selectors.membership_for(user=user, room=room)
    if membership is None:
        raise NotFound("No such room.")
    if membership.banned_at is not None:
        raise Forbidden("You cannot join this room.", code="banned")
    now = now or timezone.now()
    token = new_token()
    expires_at = now + timedelta(seconds=settings.WS_TICKET_TTL_SECONDS)
    WebsocketTicket.objects.create(
        token_hash=token_hash(token), user=user, room=room, expires_at=expires_at
    )
    return token, expires_at


# One conditional UPDATE claims a ticket (rooms/sql.py): it is on every ticket socket's path.
def _ticket_column(name: str) -> str:
    return column(WebsocketTicket, name)


_CLAIM_TICKET_SQL = (
    f"UPDATE {table(WebsocketTicket)} SET {_ticket_column('used_at')} = %s "  # noqa: S608
    f"WHERE {_ticket_column('token_hash')} = %s AND {_ticket_column('room')} = %s "
    f"AND {_ticket_column('used_at')} IS NULL AND {_ticket_column('expires_at')} > %s "
    f"RETURNING {_ticket_column('user')}"
)


def ticket_claim(*, token: str, room_id: str, now: datetime | None = None) -> int | None:
    """The id of the user a ticket was issued to, marking it used; None if unknown, used,
    expired or for another room. The conditional UPDATE makes the use single even across
    instances."""
    now = now or timezone.now()
    try:
        room_key = uuid.UUID(str(room_id))
    except ValueError:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_TICKET_SQL,
            [
                db_value(WebsocketTicket, "used_at", now),
                token_hash(token or ""),
                db_value(WebsocketTicket, "room", room_key),
                db_value(WebsocketTicket, "expires_at", now),
            ],
        )
        claimed = cursor.fetchone()
    return None if claimed is None else int(claimed[0])


def ticket_consume(*, token: str, room_id: str, now: datetime | None = None) -> User | None:
    """ticket_claim, returning the user."""
    user_id = ticket_claim(token=token, room_id=room_id, now=now)
    return None if user_id is None else User.objects.filter(pk=user_id).first()


def tickets_revoke(*, user: User, room: Room) -> int:
    """Outstanding tickets stop working (removal, ban)."""
    return WebsocketTicket.objects.filter(user=user, room=room, used_at__isnull=True).delete()[0]
