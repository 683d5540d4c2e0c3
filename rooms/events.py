"""What a service asks the live interface to deliver once its transaction has committed.

Services in rooms/ decide *what* people must be told (a rule: who hears about an admit, who is
closed by a removal); realtime/ decides *how* (channel layer, sockets, close codes). Event type
strings are the wire names fixed in docs/protocol.md and are built only here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import transaction

logger = logging.getLogger(__name__)

# Wire event names that services emit (the rest of the protocol lives in realtime/protocol.py).
PARTICIPANT_JOINED = "participant.joined"
PARTICIPANT_UPDATED = "participant.updated"
PARTICIPANT_LEFT = "participant.left"
CHAT_MESSAGE = "chat.message"
CHAT_READ = "chat.read"
LOBBY_UPDATED = "lobby.updated"
MODERATION = "moderation"
UNMUTE_REQUESTED = "unmute.requested"
HANDS = "hands"
ROOM_UPDATED = "room.updated"
SESSION_ENDED = "session.ended"
REMOVED = "removed"

# Who in a room hears a RoomEvent.
Audience = Literal["admitted", "moderators"]

# Why a person's sockets are closed; realtime maps each to its documented close code.
CloseReason = Literal["removed", "banned", "denied", "session_ended"]


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """An event for everyone admitted to the room (or only its moderators, on any instance)."""

    type: str
    data: dict[str, Any]
    audience: Audience = "admitted"


@dataclass(frozen=True, slots=True)
class UserEvent:
    """An event for every socket of one person in the room."""

    user_id: int
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UserAdmitted:
    """The person's sockets leave the waiting room: they get `welcome` and join the room."""

    user_id: int


@dataclass(frozen=True, slots=True)
class UserReturnedToLobby:
    """The person's sockets go back to the waiting room (`lobby.waiting`), without closing."""

    user_id: int


@dataclass(frozen=True, slots=True)
class CloseUser:
    """Close every socket of the person in this room, on every instance."""

    user_id: int
    reason: CloseReason
    message: str = ""


Effect = RoomEvent | UserEvent | UserAdmitted | UserReturnedToLobby | CloseUser


@dataclass(slots=True)
class Outcome:
    """A service's result plus the effects to deliver after commit."""

    value: Any = None
    effects: list[Effect] = field(default_factory=list)


# --- delivery from outside a socket --------------------------------------------------------
# A REST call (removing a member, say) changes who may be in a live room, but rooms/ must not
# import the transport. The live interface registers how to publish at start-up
# (realtime/apps.py) and services hand it their effects once their transaction commits.

Publisher = Callable[[str, list[Effect]], None]
_publisher: Publisher | None = None


def publisher_register(publisher: Publisher | None) -> None:
    global _publisher  # noqa: PLW0603 - one publisher per process, set once at start-up
    _publisher = publisher


def publish_on_commit(room_id: str, effects: list[Effect]) -> None:
    """Deliver `effects` to the live room after the current transaction commits (no-op when
    no live interface is running in this process, as in a management command)."""
    if not effects or _publisher is None:
        return
    publisher = _publisher

    def deliver() -> None:
        try:
            publisher(room_id, effects)
        except Exception:  # a failed fan-out must not fail the committed request
            logger.exception("could not deliver effects for room %s", room_id)

    transaction.on_commit(deliver)
