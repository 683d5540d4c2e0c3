"""The one way room events leave a process: effects from rooms/ services become channel-layer
messages here, after the service's transaction has committed.

Keeping this seam means the mechanism (today `group_send` on channels_redis pub/sub) can become
"one subscription per process, encode once, fan out to local sockets" without touching
consumers or services (design.md, "The broadcast path").
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
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


# Event loops whose channel layer holds the process's standing subscription.
_listening: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


async def keep_layer_listening() -> None:
    """Hold one channel-layer subscription for the life of the process (idempotent).

    channels_redis' pub/sub reader (4.3.0) looks at its connection every 0.1 s *with a sleep*
    whenever the process has no subscription at all, and only blocks on the socket while it has
    one. So on an instance that had no sockets, the first signals sent to a socket that just
    connected waited out the rest of that sleep: 0 to 100 ms, about half of a family's joins
    (docs/benchmarks.md, "Join time"). With a standing subscription the reader never sleeps."""
    channel_layer = layer()
    loop = asyncio.get_running_loop()
    if not isinstance(channel_layer, RedisPubSubChannelLayer) or loop in _listening:
        return
    _listening.add(loop)
    try:
        await channel_layer.new_channel(prefix="hearth-instance.")
    except Exception as exc:  # noqa: BLE001 - only a latency aid: the next socket retries
        _listening.discard(loop)
        logger.info("standing layer subscription failed: %s", type(exc).__name__)


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
    """redis-py raises its own ConnectionError/TimeoutError hierarchy, not the builtins. Right
    after Redis comes back, a subscribe that races the pub/sub reader's own reconnect fails
    with asyncio's RuntimeError "readuntil() called while another coroutine is already waiting
    for incoming data" (redis-py#2540): that is the outage ending, not a bug of ours."""
    if isinstance(exc, RuntimeError) and "another coroutine is already waiting" in str(exc):
        return True
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
