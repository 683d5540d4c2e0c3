"""REST reads of moderation records for a room's moderators: the audit log and attendance per
occurrence (JSON, or CSV for a clinical record). Thin handlers over rooms.moderation and
rooms.selectors; errors become the API's error body through the handlers on `rooms.api.api`.

This module does not import rooms.api (rooms.api imports it to register the router).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import Field

from rooms import moderation, selectors
from rooms.errors import ValidationFailed
from rooms.models import AuditEvent, User

moderation_router = Router(tags=["moderation"])

AUDIT_LIMIT_MAX = 1000
# A cell starting with one of these is a formula to a spreadsheet; names are typed by people.
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ATTENDANCE_CSV_COLUMNS = (
    "participant",
    "display_name",
    "role",
    "relationship",
    "joined",
    "left",
    "reconnects",
    "minutes_present",
    "admitted_by",
)


class PersonOut(Schema):
    id: int
    name: str


class AuditEventOut(Schema):
    id: int
    at: datetime
    action: str
    actor: PersonOut | None
    target_user: PersonOut | None
    target: str
    details: dict[str, Any]


class StretchOut(Schema):
    joined: str
    left: str | None
    reconnect: bool
    admitted_by: str | None


class AttendeeOut(Schema):
    participant: str | None
    user_id: int
    display_name: str | None
    role: str | None
    relationship: str
    joined: str
    left: str | None
    reconnects: int
    minutes_present: float
    admitted_by: str | None
    stretches: list[StretchOut]


class AttendanceOut(Schema):
    session_id: int
    room_id: str
    occurrence_id: str
    starts_at: datetime
    ends_at: datetime
    people: list[AttendeeOut]


class ErrorBody(Schema):
    error: dict[str, Any] = Field(description="code, message, details")


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)  # noqa: S101 - SessionAuth only ever yields our User
    return user


def _person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.pk, "name": user.public_name()}


def _audit_out(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "at": event.created_at,
        "action": event.action,
        "actor": _person(event.actor),
        "target_user": _person(event.target_user),
        "target": event.target,
        "details": event.details,
    }


@moderation_router.get(
    "/rooms/{room_id}/audit",
    response={200: list[AuditEventOut], 403: ErrorBody, 404: ErrorBody},
)
def room_audit(request: HttpRequest, room_id: str, limit: int = 200) -> Any:
    """The room's audit log, newest first (room moderators only)."""
    user = _user(request)
    room = selectors.room_get_for_user(user=user, room_id=room_id)
    moderation.require_moderator(user=user, room=room)
    if not 1 <= limit <= AUDIT_LIMIT_MAX:
        raise ValidationFailed(details={"fields": {"limit": f"From 1 to {AUDIT_LIMIT_MAX}."}})
    return [_audit_out(event) for event in selectors.audit_for_room(room=room)[:limit]]


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_FORMULA_START) else text


@moderation_router.get(
    "/sessions/{session_id}/attendance",
    response={200: AttendanceOut, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody},
)
def session_attendance(
    request: HttpRequest,
    session_id: int,
    occurrence: str | None = None,
    format: str = "json",
) -> Any:
    """Attendance of one occurrence (`occurrence` = an occurrence id or its ISO start; the
    latest started one when omitted), for the room's moderators. `format=csv` downloads it."""
    user = _user(request)
    if format not in ("json", "csv"):
        raise ValidationFailed(details={"fields": {"format": "Choose json or csv."}})
    session = selectors.session_get_for_user(user=user, session_id=session_id)
    room = session.room
    moderation.require_moderator(user=user, room=room)
    found = moderation.occurrence_resolve(session=session, occurrence=occurrence)
    people = moderation.attendance_for_occurrence(
        room=room, session=session, occurrence_start=found.starts_at
    )
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(ATTENDANCE_CSV_COLUMNS)
        for person in people:
            writer.writerow([_csv_cell(person[column]) for column in ATTENDANCE_CSV_COLUMNS])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="attendance-{found.occurrence_id}.csv"'
        )
        response["Cache-Control"] = "private, no-store"
        return response
    return {
        "session_id": session.pk,
        "room_id": str(room.pk),
        "occurrence_id": found.occurrence_id,
        "starts_at": found.starts_at.astimezone(UTC),
        "ends_at": found.ends_at.astimezone(UTC),
        "people": people,
    }
