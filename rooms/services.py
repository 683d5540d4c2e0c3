"""Writes to the Hearth domain. Every rule about who may change what lives here.

Functions are keyword-only and named `<entity>_<action>`. They raise rooms.errors.DomainError
subclasses; an interface (REST or websocket) turns those into its own error shape. Each write
that matters to a clinical record leaves an AuditEvent in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rooms import selectors
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
from rooms.schedule import is_valid_time_zone
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
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        room=room,
        target_user=target_user,
        target=target,
        details=details or {},
    )


# --- rooms ---------------------------------------------------------------------------------

ROOM_EDITABLE_FIELDS = ("name", "waiting_room_enabled", "auto_admit_members", "locked", "capacity")


def _check_room_fields(fields: dict[str, Any]) -> None:
    errors: dict[str, str] = {}
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name or len(name) > 120:
            errors["name"] = "Give the room a name of 1 to 120 characters."
        fields["name"] = name
    if "capacity" in fields and fields["capacity"] is not None:
        cap = fields["capacity"]
        if not isinstance(cap, int) or not 2 <= cap <= 50:
            errors["capacity"] = "Capacity must be a whole number from 2 to 50."
    if errors:
        raise ValidationFailed(details={"fields": errors})


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
        raise Forbidden("Only therapists can create rooms.")
    if kind not in RoomKind.values:
        raise ValidationFailed(
            details={"fields": {"kind": f"Choose one of: {', '.join(RoomKind.values)}."}}
        )
    fields: dict[str, Any] = {"name": name, "capacity": capacity}
    _check_room_fields(fields)
    if waiting_room_enabled is None:
        waiting_room_enabled = kind != RoomKind.CARE_THREAD
    with transaction.atomic():
        room = Room.objects.create(
            kind=kind,
            name=fields["name"],
            owner=owner,
            waiting_room_enabled=waiting_room_enabled,
            auto_admit_members=auto_admit_members,
            capacity=capacity or DEFAULT_CAPACITY[kind],
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
    """The owner or a therapist member changes a room's settings."""
    selectors.room_require_editor(user=actor, room=room)
    unknown = set(changes) - set(ROOM_EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(
            details={"fields": dict.fromkeys(sorted(unknown), "This field cannot be changed.")}
        )
    _check_room_fields(changes)
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
    selectors.room_require_editor(user=actor, room=room)
    if role not in Role.values:
        raise ValidationFailed(
            details={"fields": {"role": f"Choose one of: {', '.join(Role.values)}."}}
        )
    if role in (Role.THERAPIST, Role.FACILITATOR) and user.staff_role == StaffRole.NONE:
        raise ValidationFailed(
            details={"fields": {"role": "Only clinical staff can be therapists or facilitators."}}
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
    room = membership.room
    selectors.room_require_editor(user=actor, room=room)
    if membership.user_id == room.owner_id:
        raise Forbidden("The room's owner cannot be removed from it.")
    with transaction.atomic():
        audit_record(
            action="membership.removed",
            actor=actor,
            room=room,
            target_user=membership.user,
            details={"role": membership.role},
        )
        membership.delete()


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
    if "@" not in email or len(email) > 254:
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
    if invitation.accepted_at or invitation.revoked_at:
        raise Gone("This invitation was already used or revoked.")
    with transaction.atomic():
        invitation.revoked_at = now or timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action="invitation.revoked",
            actor=actor,
            room=invitation.room,
            target=f"invitation:{invitation.pk}",
        )


def invitation_check(*, token: str, now: datetime | None = None) -> Invitation:
    """The invitation behind `token`, or Gone with the reason it can no longer be used."""
    now = now or timezone.now()
    invitation = (
        Invitation.objects.select_related("room").filter(token_hash=token_hash(token)).first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
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
    if existing_user is None:
        try:
            validate_password(password or "")
        except DjangoValidationError as exc:
            errors["password"] = " ".join(exc.messages)
    with transaction.atomic():
        # Lock the row so two accepts of one link cannot both succeed.
        invitation = invitation_check(token=token, now=now)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None:
            raise Gone("This invitation was already used. Sign in instead.", code="invitation_used")
        room = invitation.room
        if existing_user is None and User.objects.filter(username=invitation.email).exists():
            errors["email"] = "An account with this email exists: sign in, then open the link."
        if errors:
            raise ValidationFailed(details={"fields": errors})
        if existing_user is not None:
            user = existing_user
            if selectors.membership_for(user=user, room=room) is not None:
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
        if Membership.objects.filter(room=room, user=user, banned_at__isnull=False).exists():
            raise Forbidden("You cannot join this room.")
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
    selectors.room_require_editor(user=actor, room=room)
    errors: dict[str, str] = {}
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
    if errors:
        raise ValidationFailed(details={"fields": errors})
    with transaction.atomic():
        session = Session.objects.create(
            room=room,
            title=title[:120],
            starts_at_local=starts_at_local.replace(tzinfo=None),
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
    """A single-use ticket for opening the room's websocket without a cookie."""
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


def ticket_consume(*, token: str, room_id: str, now: datetime | None = None) -> User | None:
    """The user a ticket was issued to, marking it used; None if unknown, used, expired or for
    another room. The conditional UPDATE makes the use single even across instances."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = (
            WebsocketTicket.objects.select_related("user")
            .filter(token_hash=token_hash(token), room_id=room_id)
            .first()
        )
        if ticket is None:
            return None
        claimed = WebsocketTicket.objects.filter(
            pk=ticket.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if claimed != 1:
            return None
    return ticket.user


def tickets_revoke(*, user: User, room: Room) -> int:
    """Outstanding tickets stop working (removal, ban)."""
    return WebsocketTicket.objects.filter(user=user, room=room, used_at__isnull=True).delete()[0]
