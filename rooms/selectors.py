"""Reads of the Hearth domain, with the visibility rules: a person sees only rooms they
belong to, and someone else's room is NotFound (never Forbidden: no leaking that it exists)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import QuerySet

from rooms.errors import Forbidden, NotFound
from rooms.models import (
    AuditEvent,
    Invitation,
    Membership,
    Role,
    Room,
    Session,
    User,
)
from rooms.schedule import Occurrence, occurrences_between


def rooms_for_user(*, user: User) -> QuerySet[Room]:
    return (
        Room.objects.filter(memberships__user=user, memberships__banned_at__isnull=True)
        .select_related("owner")
        .distinct()
    )


def _room_key(room_id: uuid.UUID | str) -> uuid.UUID | None:
    """The room id as a UUID, or None for text that cannot be one (a typo in a URL)."""
    try:
        return uuid.UUID(str(room_id))
    except ValueError:
        return None


def membership_for(*, user: User, room: Room | uuid.UUID | str) -> Membership | None:
    """The person's membership of the room, banned or not; None when there is none."""
    room_id = room.pk if isinstance(room, Room) else _room_key(room)
    if room_id is None:
        return None
    return (
        Membership.objects.select_related("room", "user").filter(user=user, room_id=room_id).first()
    )


def room_get_for_user(
    *, user: User, room_id: uuid.UUID | str, include_banned: bool = False
) -> Room:
    """The room if `user` is a member (not banned); NotFound otherwise, whether or not it
    exists. `include_banned` also finds rooms the person was banned from, for the one caller
    that must say "banned" rather than "not found" (the websocket ticket)."""
    key = _room_key(room_id)
    if key is None:
        raise NotFound("No such room.")
    memberships = Membership.objects.select_related("room", "room__owner").filter(
        user=user, room_id=key
    )
    if not include_banned:
        memberships = memberships.filter(banned_at__isnull=True)
    membership = memberships.first()
    if membership is None:
        raise NotFound("No such room.")
    return membership.room


def room_can_edit(*, user: User, room: Room) -> bool:
    if room.owner_id == user.pk:
        return True
    return Membership.objects.filter(
        user=user, room=room, role=Role.THERAPIST, banned_at__isnull=True
    ).exists()


def room_require_editor(*, user: User, room: Room) -> None:
    """Only the owner or a therapist member changes a room; other members get Forbidden,
    non-members NotFound."""
    if room_can_edit(user=user, room=room):
        return
    if Membership.objects.filter(user=user, room=room, banned_at__isnull=True).exists():
        raise Forbidden("Only the room's owner or one of its therapists can change it.")
    raise NotFound("No such room.")


def memberships_for_room(*, room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("created_at")


def membership_get_in_room(*, room: Room, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("room", "user")
        .filter(pk=membership_id, room=room)
        .first()
    )
    if membership is None:
        raise NotFound("No such membership.")
    return membership


def user_get_active(*, user_id: int) -> User | None:
    """An active account by id (for adding an existing person to a room)."""
    return User.objects.filter(pk=user_id, is_active=True).first()


def user_get_by_calendar_token(*, token: str) -> User | None:
    """The active account whose private calendar-feed token this is."""
    if not token:
        return None
    return User.objects.filter(calendar_token=token, is_active=True).first()


def invitations_for_room(*, room: Room) -> QuerySet[Invitation]:
    return Invitation.objects.filter(room=room).order_by("-created_at")


def invitation_get_for_editor(*, user: User, invitation_id: int) -> Invitation:
    invitation = Invitation.objects.select_related("room").filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No such invitation.")
    # One answer whether the id is unknown, in someone else's room or in a room the person
    # may not manage: nothing tells a prober that the invitation exists.
    try:
        room_require_editor(user=user, room=invitation.room)
    except (Forbidden, NotFound) as exc:
        raise NotFound("No such invitation.") from exc
    return invitation


def sessions_for_user(*, user: User) -> QuerySet[Session]:
    """Schedules of the rooms the person belongs to (not banned from). One filter() call, so
    both conditions hold for the same membership row."""
    return (
        Session.objects.filter(
            room__memberships__user=user, room__memberships__banned_at__isnull=True
        )
        .select_related("room")
        .order_by("pk")
    )


def session_get_for_user(*, user: User, session_id: int) -> Session:
    session = sessions_for_user(user=user).filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such session.")
    return session


def upcoming_occurrences(
    *, user: User, now: datetime, days: int = 60, room: Room | None = None
) -> list[Occurrence]:
    """Occurrences of the person's sessions that have not ended by `now` and start within
    `days`, soonest first. Convert each with `Occurrence.in_zone` for the viewer."""
    sessions = sessions_for_user(user=user)
    if room is not None:
        sessions = sessions.filter(room=room)
    found: list[Occurrence] = []
    for session in sessions:
        found.extend(occurrences_between(session, start=now, end=now + timedelta(days=days)))
    found.sort(key=lambda occ: occ.starts_at)
    return found


def audit_for_room(*, room: Room) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(room=room).select_related("actor", "target_user")
