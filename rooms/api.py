"""The REST API (django-ninja): thin handlers over rooms.services and rooms.selectors.

django-ninja because its request and response types are pydantic models, the same library the
websocket frames use, and it serves the OpenAPI schema from those types (`/api/schema/`).
Authentication is the Django session cookie with CSRF on every unsafe method.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import SessionAuth
from ninja.utils import check_csrf
from pydantic import Field

from rooms import calendar, selectors, services
from rooms.api_messaging import messaging_router
from rooms.api_moderation import moderation_router
from rooms.errors import DomainError, ValidationFailed
from rooms.models import Invitation, Membership, Room, Session, User
from rooms.schedule import Occurrence, is_valid_time_zone, wall_start

api = NinjaAPI(
    title="Hearth API",
    version="1",
    description="Rooms, memberships, invitations, schedules and websocket tickets.",
    openapi_url="/schema/",
    docs_url="/docs",
    auth=SessionAuth(),
    urls_namespace="api",
)


def error_response(
    request: HttpRequest, status: int, code: str, message: str, details: dict[str, Any]
) -> HttpResponse:
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "details": details}},
        status=status,
    )


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, str] = {}
    for problem in exc.errors:
        # ninja's locations start with where the value came from ("body", "query", "path")
        # and the parameter's name; the field name is what a form shows next to the input.
        location = [
            str(part)
            for part in problem.get("loc", ())
            if part not in ("body", "payload", "query", "path")
        ]
        fields[".".join(location) or "body"] = problem.get("msg", "invalid")
    return error_response(request, 400, "invalid", "Some fields are not valid.", {"fields": fields})


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "not_authenticated", "Please sign in first.", {})


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 403 and "CSRF" in str(exc):
        return error_response(
            request,
            403,
            "csrf_failed",
            "The CSRF token is missing or wrong: fetch /api/auth/csrf and send it as X-CSRFToken.",
            {},
        )
    if exc.status_code == 400:
        # ninja's only 400 of its own: a body that is not JSON.
        return error_response(
            request, 400, "malformed_body", "The request body is not valid JSON.", {}
        )
    return error_response(request, exc.status_code, "http_error", str(exc), {})


# --- schemas -------------------------------------------------------------------------------


class ErrorOut(Schema):
    error: dict[str, Any]


class LoginIn(Schema):
    username: str = Field(max_length=150)
    password: str = Field(max_length=256)


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    time_zone: str
    staff_role: str
    calendar_url: str


class MeUpdateIn(Schema):
    display_name: str | None = None
    time_zone: str | None = None


class CsrfOut(Schema):
    csrf_token: str


class RoomIn(Schema):
    kind: str
    name: str
    waiting_room_enabled: bool | None = None
    auto_admit_members: bool = False
    capacity: int | None = None


class RoomPatch(Schema):
    name: str | None = None
    waiting_room_enabled: bool | None = None
    auto_admit_members: bool | None = None
    locked: bool | None = None
    capacity: int | None = None


class RoomOut(Schema):
    id: str
    kind: str
    name: str
    owner_id: int
    waiting_room_enabled: bool
    auto_admit_members: bool
    locked: bool
    capacity: int
    your_role: str | None
    can_edit: bool


class MembershipIn(Schema):
    user_id: int
    role: str
    display_name: str = ""
    relationship: str = ""


class MembershipOut(Schema):
    id: int
    participant_id: str
    user_id: int
    role: str
    display_name: str
    relationship: str
    banned: bool


class InvitationIn(Schema):
    email: str
    role: str = "family"
    relationship: str = ""


class InvitationOut(Schema):
    id: int
    room_id: str
    email: str
    role: str
    relationship: str
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    status: str


class InvitationCreatedOut(InvitationOut):
    token: str
    accept_url: str


class InvitationPreviewOut(Schema):
    room_name: str
    room_kind: str
    role: str
    relationship: str
    email: str
    expires_at: datetime


class InvitationAcceptIn(Schema):
    token: str
    display_name: str
    password: str = ""
    time_zone: str
    relationship: str | None = None


class SessionIn(Schema):
    room_id: str
    starts_at_local: datetime = Field(description="Wall-clock start, no offset, in time_zone")
    time_zone: str
    duration_minutes: int = 60
    frequency: str = "once"
    until: date | None = None
    count: int | None = None
    title: str = ""


class SessionOut(Schema):
    id: int
    room_id: str
    title: str
    starts_at_local: datetime
    time_zone: str
    duration_minutes: int
    frequency: str
    until: date | None
    count: int | None


class OccurrenceOut(Schema):
    occurrence_id: str
    session_id: int
    room_id: str
    room_name: str
    title: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str


class TicketOut(Schema):
    ticket: str
    expires_at: datetime
    url: str


# --- helpers -------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)  # noqa: S101 - SessionAuth only ever yields our User
    return user


def _room_out(room: Room, user: User) -> dict[str, Any]:
    membership = selectors.membership_for(user=user, room=room)
    return {
        "id": str(room.pk),
        "kind": room.kind,
        "name": room.name,
        "owner_id": room.owner_id,
        "waiting_room_enabled": room.waiting_room_enabled,
        "auto_admit_members": room.auto_admit_members,
        "locked": room.locked,
        "capacity": room.capacity,
        "your_role": membership.role if membership else None,
        "can_edit": selectors.room_can_edit(user=user, room=room),
    }


def _membership_out(membership: Membership) -> dict[str, Any]:
    return {
        "id": membership.pk,
        "participant_id": membership.participant_id,
        "user_id": membership.user_id,
        "role": membership.role,
        "display_name": membership.display_name,
        "relationship": membership.relationship,
        "banned": membership.banned_at is not None,
    }


def _invitation_status(invitation: Invitation) -> str:
    if invitation.revoked_at:
        return "revoked"
    if invitation.accepted_at:
        return "accepted"
    if invitation.expires_at <= timezone.now():
        return "expired"
    return "pending"


def _invitation_out(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.pk,
        "room_id": str(invitation.room_id),
        "email": invitation.email,
        "role": invitation.role,
        "relationship": invitation.relationship,
        "expires_at": invitation.expires_at,
        "accepted_at": invitation.accepted_at,
        "revoked_at": invitation.revoked_at,
        "status": _invitation_status(invitation),
    }


def _occurrence_out(occurrence: Occurrence, time_zone: str) -> dict[str, Any]:
    starts_at, ends_at = occurrence.in_zone(time_zone)
    session = occurrence.session
    return {
        "occurrence_id": occurrence.occurrence_id,
        "session_id": session.pk,
        "room_id": str(session.room_id),
        "room_name": session.room.name,
        "title": session.title or session.room.name,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "time_zone": time_zone,
    }


def _me_out(request: HttpRequest, user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.public_name(),
        "email": user.email,
        "time_zone": user.time_zone,
        "staff_role": user.staff_role,
        "calendar_url": request.build_absolute_uri(
            f"/api/calendar.ics?token={user.calendar_token}"
        ),
    }


# --- auth ----------------------------------------------------------------------------------


@api.get("/auth/csrf", auth=None, response=CsrfOut, tags=["auth"])
def auth_csrf(request: HttpRequest) -> dict[str, str]:
    """Sets the CSRF cookie and returns the token to send as `X-CSRFToken`."""
    return {"csrf_token": get_token(request)}


def _require_csrf(request: HttpRequest) -> None:
    if check_csrf(request) is not None:
        raise HttpError(403, "CSRF check failed")


@api.post(
    "/auth/login", auth=None, response={200: MeOut, 400: ErrorOut, 403: ErrorOut}, tags=["auth"]
)
def auth_login(request: HttpRequest, payload: LoginIn) -> Any:
    _require_csrf(request)
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        raise DomainError(
            "That email or password is not right.", code="invalid_credentials", status=400
        )
    login(request, user)
    services.audit_record(action="auth.login", actor=user)
    return _me_out(request, user)


@api.post("/auth/logout", response={204: None}, tags=["auth"])
def auth_logout(request: HttpRequest) -> Any:
    services.audit_record(action="auth.logout", actor=_user(request))
    logout(request)
    return Status(204, None)


@api.get("/me", response=MeOut, tags=["auth"])
def me(request: HttpRequest) -> dict[str, Any]:
    return _me_out(request, _user(request))


@api.patch("/me", response={200: MeOut, 400: ErrorOut}, tags=["auth"])
def me_update(request: HttpRequest, payload: MeUpdateIn) -> dict[str, Any]:
    user = services.user_update_profile(
        user=_user(request), display_name=payload.display_name, time_zone=payload.time_zone
    )
    return _me_out(request, user)


# --- rooms ---------------------------------------------------------------------------------


@api.get("/rooms", response=list[RoomOut], tags=["rooms"])
def rooms_list(request: HttpRequest) -> list[dict[str, Any]]:
    user = _user(request)
    return [_room_out(room, user) for room in selectors.rooms_for_user(user=user)]


@api.post("/rooms", response={201: RoomOut, 400: ErrorOut, 403: ErrorOut}, tags=["rooms"])
def rooms_create(request: HttpRequest, payload: RoomIn) -> Any:
    user = _user(request)
    room = services.room_create(owner=user, **payload.dict())
    return Status(201, _room_out(room, user))


@api.get("/rooms/{room_id}", response={200: RoomOut, 404: ErrorOut}, tags=["rooms"])
def rooms_get(request: HttpRequest, room_id: str) -> Any:
    user = _user(request)
    return _room_out(selectors.room_get_for_user(user=user, room_id=room_id), user)


@api.patch(
    "/rooms/{room_id}",
    response={200: RoomOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    tags=["rooms"],
)
def rooms_update(request: HttpRequest, room_id: str, payload: RoomPatch) -> Any:
    user = _user(request)
    room = selectors.room_get_for_user(user=user, room_id=room_id)
    room = services.room_update(actor=user, room=room, **payload.dict(exclude_unset=True))
    return _room_out(room, user)


@api.get(
    "/rooms/{room_id}/memberships",
    response={200: list[MembershipOut], 404: ErrorOut},
    tags=["memberships"],
)
def memberships_list(request: HttpRequest, room_id: str) -> Any:
    room = selectors.room_get_for_user(user=_user(request), room_id=room_id)
    return [_membership_out(m) for m in selectors.memberships_for_room(room=room)]


@api.post(
    "/rooms/{room_id}/memberships",
    response={201: MembershipOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    tags=["memberships"],
)
def memberships_add(request: HttpRequest, room_id: str, payload: MembershipIn) -> Any:
    actor = _user(request)
    room = selectors.room_get_for_user(user=actor, room_id=room_id)
    # Refuse non-editors before looking the person up, so members cannot probe account ids.
    selectors.room_require_editor(user=actor, room=room)
    target = selectors.user_get_active(user_id=payload.user_id)
    if target is None:
        raise ValidationFailed(details={"fields": {"user_id": "No such person."}})
    membership = services.membership_add(
        actor=actor,
        room=room,
        user=target,
        role=payload.role,
        display_name=payload.display_name,
        relationship=payload.relationship,
    )
    return Status(201, _membership_out(membership))


@api.delete(
    "/rooms/{room_id}/memberships/{membership_id}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    tags=["memberships"],
)
def memberships_remove(request: HttpRequest, room_id: str, membership_id: int) -> Any:
    actor = _user(request)
    room = selectors.room_get_for_user(user=actor, room_id=room_id)
    membership = selectors.membership_get_in_room(room=room, membership_id=membership_id)
    services.membership_remove(actor=actor, membership=membership)
    return Status(204, None)


# --- invitations ---------------------------------------------------------------------------


@api.get(
    "/rooms/{room_id}/invitations",
    response={200: list[InvitationOut], 403: ErrorOut, 404: ErrorOut},
    tags=["invitations"],
)
def invitations_list(request: HttpRequest, room_id: str) -> Any:
    user = _user(request)
    room = selectors.room_get_for_user(user=user, room_id=room_id)
    selectors.room_require_editor(user=user, room=room)
    return [_invitation_out(inv) for inv in selectors.invitations_for_room(room=room)]


@api.post(
    "/rooms/{room_id}/invitations",
    response={201: InvitationCreatedOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    tags=["invitations"],
)
def invitations_create(request: HttpRequest, room_id: str, payload: InvitationIn) -> Any:
    user = _user(request)
    room = selectors.room_get_for_user(user=user, room_id=room_id)
    invitation, token = services.invitation_create(
        actor=user,
        room=room,
        email=payload.email,
        role=payload.role,
        relationship=payload.relationship,
    )
    out = _invitation_out(invitation)
    out["token"] = token
    out["accept_url"] = request.build_absolute_uri(f"/invite/{token}")
    return Status(201, out)


@api.post(
    "/invitations/{invitation_id}/revoke",
    response={200: InvitationOut, 403: ErrorOut, 404: ErrorOut, 410: ErrorOut},
    tags=["invitations"],
)
def invitations_revoke(request: HttpRequest, invitation_id: int) -> Any:
    user = _user(request)
    invitation = selectors.invitation_get_for_editor(user=user, invitation_id=invitation_id)
    services.invitation_revoke(actor=user, invitation=invitation)
    return _invitation_out(invitation)


@api.get(
    "/invitations/preview",
    auth=None,
    response={200: InvitationPreviewOut, 404: ErrorOut, 410: ErrorOut},
    tags=["invitations"],
)
def invitations_preview(request: HttpRequest, token: str) -> Any:
    """What the invitation page shows before the person sets their name and password."""
    invitation = services.invitation_check(token=token)
    return {
        "room_name": invitation.room.name,
        "room_kind": invitation.room.kind,
        "role": invitation.role,
        "relationship": invitation.relationship,
        "email": invitation.email,
        "expires_at": invitation.expires_at,
    }


@api.post(
    "/invitations/accept",
    auth=None,
    response={201: MeOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 410: ErrorOut},
    tags=["invitations"],
)
def invitations_accept(request: HttpRequest, payload: InvitationAcceptIn) -> Any:
    """Creates the person's account (or adds the room to the signed-in one) and signs them in."""
    _require_csrf(request)
    existing = request.user if request.user.is_authenticated else None
    user = services.invitation_accept(
        token=payload.token,
        display_name=payload.display_name,
        password=payload.password,
        time_zone=payload.time_zone,
        relationship=payload.relationship,
        existing_user=existing,  # type: ignore[arg-type]
    )
    if existing is None:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return Status(201, _me_out(request, user))


# --- sessions ------------------------------------------------------------------------------


def _session_out(session: Session) -> dict[str, Any]:
    return {
        "id": session.pk,
        "room_id": str(session.room_id),
        "title": session.title,
        "starts_at_local": wall_start(session),
        "time_zone": session.time_zone,
        "duration_minutes": session.duration_minutes,
        "frequency": session.frequency,
        "until": session.until,
        "count": session.count,
    }


@api.post(
    "/sessions",
    response={201: SessionOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    tags=["sessions"],
)
def sessions_create(request: HttpRequest, payload: SessionIn) -> Any:
    user = _user(request)
    room = selectors.room_get_for_user(user=user, room_id=payload.room_id)
    data = payload.dict(exclude={"room_id"})
    session = services.session_create(actor=user, room=room, **data)
    return Status(201, _session_out(session))


@api.get("/sessions", response=list[SessionOut], tags=["sessions"])
def sessions_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_session_out(s) for s in selectors.sessions_for_user(user=_user(request))]


@api.get(
    "/sessions/upcoming", response={200: list[OccurrenceOut], 400: ErrorOut}, tags=["sessions"]
)
def sessions_upcoming(
    request: HttpRequest, days: int = 30, tz: str | None = None, room_id: str | None = None
) -> Any:
    """Upcoming occurrences in the caller's time zone (or `tz`), soonest first."""
    user = _user(request)
    zone = tz or user.time_zone
    errors: dict[str, str] = {}
    if not is_valid_time_zone(zone):
        errors["tz"] = "Unknown time zone."
    if not 1 <= days <= 366:
        errors["days"] = "From 1 to 366."
    if errors:
        raise ValidationFailed(details={"fields": errors})
    room = selectors.room_get_for_user(user=user, room_id=room_id) if room_id else None
    occurrences = selectors.upcoming_occurrences(
        user=user, now=timezone.now(), days=days, room=room
    )
    return [_occurrence_out(occ, zone) for occ in occurrences]


# --- calendar feed -------------------------------------------------------------------------


@api.get(
    "/calendar.ics",
    auth=None,
    tags=["sessions"],
    openapi_extra={
        "responses": {
            200: {
                "description": "An iCalendar (RFC 5545) feed",
                "content": {"text/calendar": {"schema": {"type": "string"}}},
            },
            404: {"description": "Unknown calendar link (error body as elsewhere)"},
        }
    },
)
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The person's sessions as an iCalendar feed. The private token in the URL is the
    credential, so a calendar app can subscribe without a cookie."""
    user = selectors.user_get_by_calendar_token(token=token)
    if user is None:
        return JsonResponse(
            {"error": {"code": "not_found", "message": "Unknown calendar link.", "details": {}}},
            status=404,
        )
    body = calendar.feed_for_user(user=user, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="hearth.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- websocket tickets ---------------------------------------------------------------------


@api.post(
    "/rooms/{room_id}/ticket",
    response={201: TicketOut, 403: ErrorOut, 404: ErrorOut},
    tags=["realtime"],
)
def rooms_ticket(request: HttpRequest, room_id: str) -> Any:
    """A single-use websocket ticket valid for 60 s: `/ws/rooms/<room_id>/?ticket=...`."""
    user = _user(request)
    # A banned member must hear "banned" (403), not "not found": the service decides.
    room = selectors.room_get_for_user(user=user, room_id=room_id, include_banned=True)
    token, expires_at = services.ticket_issue(user=user, room=room)
    return Status(
        201,
        {
            "ticket": token,
            "expires_at": expires_at,
            "url": f"/ws/rooms/{room.pk}/?ticket={token}",
        },
    )


api.add_router("/", messaging_router)
api.add_router("/", moderation_router)
