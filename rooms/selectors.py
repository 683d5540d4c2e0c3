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


def membership_for(*, user: User, room: Room | str) -> Membership | None:
    room_id = room.pk if isinstance(room, Room) else room
    return (
        Membership.objects.select_related("room", "user").filter(user=user, room_id=room_id).first()
    )


def room_get_for_user(*, user: User, room_id: uuid.UUID | str) -> Room:
    """The room if `user` is a member (not banned); NotFound otherwise, whether or not it
    exists."""
    try:
        key = uuid.UUID(str(room_id))
    except ValueError as exc:
        raise NotFound("No such room.") from exc
    membership = (
        Membership.objects.select_related("room", "room__owner")
        .filter(user=user, room_id=key, banned_at__isnull=True)
        .first()
    )
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


def invitations_for_room(*, room: Room) -> QuerySet[Invitation]:
    return Invitation.objects.filter(room=room).order_by("-created_at")


def invitation_get_for_editor(*, user: User, invitation_id: int) -> Invitation:
    invitation = Invitation.objects.select_related("room").filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No such invitation.")
    try:
        room_require_editor(user=user, room=invitation.room)
    except Forbidden as exc:
        raise NotFound("No such invitation.") from exc
    return invitation


def sessions_for_user(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(
        room__memberships__user=user, room__memberships__banned_at__isnull=True
    ).select_related("room")


def session_get_for_user(*, user: User, session_id: int) -> Session:
    session = sessions_for_user(user=user).filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such session.")
    return session


def upcoming_occurrences(
    *, user: User, now: datetime, days: int = 60, room: Room | None = None
) -> list[Occurrence]:
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
