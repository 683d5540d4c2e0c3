"""Who is on the other end of a websocket: the Django session cookie (browsers; the session
comes from channels' SessionMiddleware) or a single-use `?ticket=` (bots, mobile, tests).
Identity comes from here and never from a frame's payload."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from django.contrib import auth

from rooms import services
from rooms.models import User


def query_param(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def session_user(scope: dict[str, Any]) -> User | None:
    """The signed-in, active user of the session cookie, or None. Synchronous (the session and
    the user are rows): Django's own get_user reads the session, checking its auth hash."""
    user = scope.get("user")
    if user is None:
        session = scope.get("session")
        if session is None or session.session_key is None:
            return None
        user = auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]
    if getattr(user, "is_authenticated", False) and user.is_active:
        return user  # type: ignore[no-any-return]
    return None


def authenticate_socket(*, scope: dict[str, Any], room_id: str) -> int | None:
    """The id of the session's user, else of the user of a valid single-use `?ticket=` for this
    room (consuming it), else None. Synchronous: sessions and tickets are rows. An id, because
    the socket's opening reads the person with their membership anyway."""
    user = session_user(scope)
    if user is not None:
        return int(user.pk)
    ticket = query_param(scope, "ticket")
    return services.ticket_claim(token=ticket, room_id=room_id) if ticket else None
