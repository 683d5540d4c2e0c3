"""The snapshots a socket gets on entry: `welcome` once admitted, `lobby.waiting` until then.

The channel layer delivers at most once, so every (re)connect starts from a full snapshot and
clients apply events on top of it; chat `seq` lets a client spot a gap and fetch the range.
"""

from __future__ import annotations

from typing import Any

from realtime.protocol import server_frame
from rooms import messaging, moderation
from rooms.models import Membership, Participant, Room, User
from rooms.presence import room_and_admitted
from signaling import ice

WELCOME_HISTORY_LIMIT = 150


def room_wire(room: Room) -> dict[str, Any]:
    return {
        "id": str(room.pk),
        "name": room.name,
        "kind": room.kind,
        "locked": room.locked,
        "waiting_room_enabled": room.waiting_room_enabled,
        "capacity": room.capacity,
        "ended": room.ended_at is not None,
        "mute_all": {
            "audio": room.mute_all_audio,
            "video": room.mute_all_video,
            "chat": room.mute_all_chat,
        },
    }


def build_welcome(
    *, room: Room, user: User, after_seq: int | None, membership: Membership | None = None
) -> dict[str, Any]:
    """`membership`: the person's membership as their admission just read it (saves reading
    it again); the room is always read afresh, for its last_seq and flags."""
    others = room_and_admitted(room)
    if membership is None or membership.user_id != user.pk or membership.room_id != room.pk:
        membership = Membership.objects.select_related("user").get(room=room, user=user)
    membership.room = room
    # The welcomed person is admitted, so normally among `others` already.
    participant = next(
        (other for other in others if other.membership_id == membership.pk), None
    ) or Participant.objects.get(membership=membership)
    # Snapshots read the room's mute_all flags: the fresh room, not one query per person.
    participant.membership, participant.room = membership, room
    for other in others:
        other.room = room
    if room.last_seq == 0:
        # Nothing was ever posted here (the first session of a new room): nothing to read.
        messages, has_more = [], False
    elif after_seq is None:
        messages = messaging.messages_page(membership=membership, limit=50)
        has_more = bool(messages) and messages[0]["seq"] > 1
    else:
        messages = messaging.messages_page(
            membership=membership, after_seq=after_seq, limit=WELCOME_HISTORY_LIMIT + 1
        )
        has_more = len(messages) > WELCOME_HISTORY_LIMIT
        messages = messages[:WELCOME_HISTORY_LIMIT]
    data: dict[str, Any] = {
        "room": room_wire(room),
        "you": moderation.participant_snapshot(participant),
        "participants": [
            moderation.participant_snapshot(other)
            for other in others
            if other.online  # type: ignore[attr-defined]
        ],
        "ice": ice.ice_servers_for(participant_id=membership.participant_id).as_dict(),
        "chat": {
            "messages": messages,
            "has_more": has_more,
            "last_seq": room.last_seq,
            "last_read_seq": membership.last_read_seq,
            # A read position at or past the room's last seq (read just now) leaves nothing
            # unread: positions only move forward, so an older copy can only be lower.
            "unread": 0
            if membership.last_read_seq >= room.last_seq
            else messaging.unread_count(membership=membership),
        },
        "hands": moderation.hands_queue(room=room, participants=others),
    }
    if membership.is_moderator:
        data["lobby"] = moderation.lobby_snapshot(room=room)
    frame = server_frame("welcome", data)
    frame["_membership"] = membership  # for the consumer; popped before sending
    return frame


def build_lobby_waiting(*, room: Room, user: User) -> dict[str, Any]:
    membership = Membership.objects.get(room=room, user=user)
    lobby = moderation.lobby_snapshot(room=room)
    ids = [entry["id"] for entry in lobby]
    position = ids.index(membership.participant_id) + 1 if membership.participant_id in ids else 1
    moderators = [
        m.display_name
        for m in Membership.objects.filter(room=room, role__in=["therapist", "facilitator"])
    ]
    return server_frame(
        "lobby.waiting",
        {
            "room": {"id": str(room.pk), "name": room.name, "kind": room.kind},
            "you": {"id": membership.participant_id, "display_name": membership.display_name},
            "position": position,
            "waiting_for": moderators,
            "message": (
                "You are in the waiting room. Your therapist will let you in shortly; "
                "you do not need to do anything else."
            ),
        },
    )
