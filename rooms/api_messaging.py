"""REST reads for chat and care threads: the inbox and message history.

Registered on rooms.api.api (`api.add_router("/", messaging_router)`), so it inherits the
session authentication and the DomainError -> JSON error handling there. This module must not
import rooms.api: rooms.api imports it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from rooms import messaging, selectors
from rooms.errors import NotFound
from rooms.models import User

messaging_router = Router(tags=["messages"])


class MessagingErrorOut(Schema):
    error: dict[str, Any]


class InboxThreadOut(Schema):
    room_id: str
    name: str
    unread: int
    last_message_at: str | None
    last_seq: int


class MessageOut(Schema):
    seq: int
    sender: str
    sender_name: str
    body: str
    client_msg_id: str
    sent_at: str


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)  # noqa: S101 - SessionAuth only ever yields our User
    return user


@messaging_router.get("/inbox", response=list[InboxThreadOut])
def inbox(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's care threads, most recent first, with unread counts."""
    return messaging.inbox_for_user(user=_user(request))


@messaging_router.get(
    "/rooms/{room_id}/messages",
    response={200: list[MessageOut], 400: MessagingErrorOut, 404: MessagingErrorOut},
)
def room_messages(
    request: HttpRequest,
    room_id: str,
    after_seq: int | None = None,
    before_seq: int | None = None,
    limit: int = messaging.PAGE_LIMIT_DEFAULT,
) -> Any:
    """A page of the room's messages in ascending seq: `after_seq` (the next ones),
    `before_seq` (earlier ones) or neither (the latest); `limit` 1 to 200."""
    user = _user(request)
    room = selectors.room_get_for_user(user=user, room_id=room_id)
    membership = selectors.membership_for(user=user, room=room)
    if membership is None:  # removed between the two reads
        raise NotFound("No such room.")
    return messaging.messages_page(
        membership=membership, after_seq=after_seq, before_seq=before_seq, limit=limit
    )
