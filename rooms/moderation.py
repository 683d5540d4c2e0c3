"""Moderation rules: waiting room, admission, mutes, removal and bans, hands, ending.

(Being built in the moderation issue; the chat-mute check below is what messaging needs now.)
"""

from __future__ import annotations

from rooms.errors import DomainError
from rooms.models import MODERATOR_ROLES, Membership, Participant


def require_can_chat(*, membership: Membership) -> None:
    """Raise `chat_muted` when a moderator has muted this person's chat (or all chat)."""
    if membership.role in MODERATOR_ROLES:
        return
    participant = Participant.objects.filter(membership=membership).first()
    muted = membership.room.mute_all_chat or (
        participant is not None and participant.imposed_chat_mute
    )
    if muted:
        raise DomainError("A facilitator has muted your chat.", code="chat_muted", status=403)
