"""Who is on the other end of a websocket: the Django session cookie (browsers, through
channels' AuthMiddlewareStack) or a single-use `?ticket=` (bots, mobile, tests). Identity comes
from here and never from a frame's payload."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from realtime.db import run_db
from rooms import services
from rooms.models import User


def query_param(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


async def authenticate_socket(scope: dict[str, Any], room_id: str) -> User | None:
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False) and user.is_active:
        return user  # type: ignore[no-any-return]
    ticket = query_param(scope, "ticket")
    if ticket:
        return await run_db(services.ticket_consume, token=ticket, room_id=room_id)
    return None
