"""The one way room events leave a process: effects from rooms/ services become channel-layer
messages here, after the service's transaction has committed.

Keeping this seam means the mechanism (today `group_send` on channels_redis pub/sub) can become
"one subscription per process, encode once, fan out to local sockets" without touching
consumers or services (design.md, "The broadcast path").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from realtime import fanout, groups
from realtime.protocol import server_frame
from rooms.events import (
    CloseUser,
    Effect,
    RoomEvent,
    UserAdmitted,
    UserEvent,
    UserReturnedToLobby,
)

logger = logging.getLogger(__name__)


class BroadcastFailed(Exception):
    """The channel layer could not take a message (Redis down). What was committed stays
    committed; clients repair the gap by `seq` when they reconnect."""


def layer() -> BaseChannelLayer:
    channel_layer = get_channel_layer()
    assert channel_layer is not None  # noqa: S101 - settings always define a layer
    return channel_layer


def layer_message(room_id: str, effect: Effect) -> tuple[str, dict[str, Any]]:
    """The group and the layer message (plain values only: msgpack) for one effect."""
    if isinstance(effect, RoomEvent):
        group = (
            groups.moderators_group(room_id)
            if effect.audience == "moderators"
            else groups.room_group(room_id)
        )
        return group, {"type": groups.LAYER_FRAME, "frame": server_frame(effect.type, effect.data)}
    if isinstance(effect, UserEvent):
        return groups.user_group(room_id, effect.user_id), {
            "type": groups.LAYER_FRAME,
            "frame": server_frame(effect.type, effect.data),
        }
    if isinstance(effect, UserAdmitted):
        return groups.user_group(room_id, effect.user_id), {"type": groups.LAYER_ADMITTED}
    if isinstance(effect, UserReturnedToLobby):
        return groups.user_group(room_id, effect.user_id), {"type": groups.LAYER_TO_LOBBY}
    if isinstance(effect, CloseUser):
        return groups.user_group(room_id, effect.user_id), {
            "type": groups.LAYER_CLOSE,
            "reason": effect.reason,
            "message": effect.message,
        }
    raise TypeError(f"not an effect: {effect!r}")


def is_layer_outage(exc: BaseException) -> bool:
    """redis-py raises its own ConnectionError/TimeoutError hierarchy, not the builtins."""
    return isinstance(exc, OSError | ConnectionError | TimeoutError) or type(
        exc
    ).__module__.startswith("redis")


async def group_send(group: str, message: dict[str, Any]) -> None:
    try:
        await layer().group_send(group, message)
    except Exception as exc:
        if is_layer_outage(exc):
            raise BroadcastFailed(str(exc)) from exc
        raise


async def publish(room_id: str, effects: Iterable[Effect]) -> None:
    """Deliver effects to every instance, in order. Raises BroadcastFailed if the layer is
    unreachable. Room-wide events go through the per-process fan-out hub (realtime/fanout.py)
    unless BROADCAST_HUB is off; events for one person through the channel layer's groups."""
    for effect in effects:
        if isinstance(effect, RoomEvent) and settings.BROADCAST_HUB:
            try:
                await fanout.get_hub().publish(
                    fanout.hub_channel(room_id, effect.audience),
                    server_frame(effect.type, effect.data),
                )
            except fanout.HubUnavailable as exc:
                raise BroadcastFailed(str(exc)) from exc
            continue
        await group_send(*layer_message(room_id, effect))


async def send_to_user(room_id: str, user_id: int, message: dict[str, Any]) -> None:
    await group_send(groups.user_group(room_id, user_id), message)
