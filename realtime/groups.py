"""Channel-layer group names and layer message types, each built only here.

Names come from server-side ids (a room UUID, a user's numeric id), never from client text:
Channels requires ASCII names under 100 characters, and a client-chosen layer `type` would
become a method call on the consumer.
"""

from __future__ import annotations

import uuid


def room_group(room_id: uuid.UUID | str) -> str:
    """Every admitted socket of the room."""
    return f"room.{uuid.UUID(str(room_id)).hex}"


def moderators_group(room_id: uuid.UUID | str) -> str:
    """Every socket of the room's moderators (admitted or not: moderators always are)."""
    return f"room.{uuid.UUID(str(room_id)).hex}.mods"


def user_group(room_id: uuid.UUID | str, user_id: int) -> str:
    """Every socket of one person in one room, whichever instance holds it."""
    return f"room.{uuid.UUID(str(room_id)).hex}.u.{int(user_id)}"


# Layer message types (server-chosen; each maps to a RoomConsumer method of the same name
# with dots turned into underscores).
LAYER_FRAME = "deliver.frame"  # carry one ready-made server frame to the socket
LAYER_ADMITTED = "deliver.admitted"  # the person was admitted: send welcome, join the room
LAYER_TO_LOBBY = "deliver.to_lobby"  # the person was sent back to the waiting room
LAYER_CLOSE = "deliver.close"  # close the socket with the reason's close code
LAYER_SIGNAL = "deliver.signal"  # a relayed WebRTC signal for this person
