"""Room fan-out: one subscription per process, encode once, write the same text to every
local socket (design.md, "The broadcast path").

Through `group_send`, every delivery to every socket pays the channel layer's per-channel
deserialisation (msgpack, plus decryption) and Channels' per-message dispatch, and the event is
JSON-encoded again per socket. Measured here, that cost about 1 ms of server CPU per delivery
and a 100-message/s load saturated a core (docs/benchmarks.md). The hub below publishes each
room event once to Redis (one PUBLISH, encrypted with the message keys), each process
subscribes once per room and audience, decodes once, and hands the same text to its local
sockets. Events for one person (admission, removal, signals) still use the channel layer's
groups: they are few and need no fan-out.

Without Redis (the embedded mode) the hub delivers in-process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, Protocol

import redis.asyncio as aioredis
from django.conf import settings

from realtime.protocol import encode
from rooms.crypto import decrypt_body, encrypt_body

logger = logging.getLogger(__name__)


class LocalSocket(Protocol):
    async def hub_deliver(self, frame: dict[str, Any], text: str) -> None: ...

    async def hub_lost(self) -> None: ...


class HubUnavailable(Exception):
    """Redis could not take or carry a room event."""


def hub_channel(room_id: uuid.UUID | str, audience: str) -> str:
    return f"{settings.CHANNEL_LAYER_PREFIX}:hub:{uuid.UUID(str(room_id)).hex}:{audience}"


class RoomHub:
    def __init__(self, *, redis_url: str) -> None:
        self.local: dict[str, set[LocalSocket]] = {}
        self._redis = (
            aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
            if redis_url
            else None
        )
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def join(self, channel: str, socket: LocalSocket) -> None:
        sockets = self.local.setdefault(channel, set())
        first = not sockets
        sockets.add(socket)
        if first and self._redis is not None:
            try:
                async with self._lock:
                    if self._pubsub is None:
                        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    await self._pubsub.subscribe(channel)
                    self._ensure_reader()
            except Exception as exc:
                sockets.discard(socket)
                raise HubUnavailable(str(exc)) from exc

    async def leave(self, channel: str, socket: LocalSocket) -> None:
        sockets = self.local.get(channel)
        if not sockets or socket not in sockets:
            return
        sockets.discard(socket)
        if not sockets:
            del self.local[channel]
            if self._pubsub is not None:
                try:
                    async with self._lock:
                        await self._pubsub.unsubscribe(channel)
                except Exception as exc:  # noqa: BLE001 - leaving must never fail a socket
                    logger.info("hub unsubscribe failed: %s", type(exc).__name__)

    async def publish(self, channel: str, frame: dict[str, Any]) -> None:
        text = encode(frame)
        if self._redis is None:
            await self._deliver(channel, text, frame)
            return
        payload = encrypt_body(text)  # chat bodies cross Redis here: encrypted (rooms.crypto)
        for attempt in (1, 2):
            try:
                await self._redis.publish(channel, payload)
                return
            except aioredis.ConnectionError as exc:
                # After a Redis restart the pool still holds a dead connection; the failed
                # command drops it, so one retry on a fresh connection tells dead from back.
                if attempt == 2:
                    raise HubUnavailable(str(exc)) from exc
            except Exception as exc:
                raise HubUnavailable(str(exc)) from exc

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the hub outlives a Redis outage
                logger.warning("hub lost Redis (%s): resyncing local sockets", type(exc).__name__)
                await self._lost()
                return
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            try:
                text = decrypt_body(message["data"])
            except Exception:
                logger.exception("hub dropped a message it could not decrypt")
                continue
            await self._deliver(channel, text, json.loads(text))

    async def _deliver(self, channel: str, text: str, frame: dict[str, Any]) -> None:
        for socket in list(self.local.get(channel, ())):
            try:
                await socket.hub_deliver(frame, text)
            except Exception:
                logger.exception("delivering a room event to a local socket failed")

    async def _lost(self) -> None:
        """Events published while the subscription was down are gone: every local socket
        closes with the retryable code and resyncs from its snapshot when it returns."""
        sockets = {socket for members in self.local.values() for socket in members}
        self.local.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception as exc:  # noqa: BLE001
                logger.info("closing the hub subscription failed: %s", type(exc).__name__)
        for socket in sockets:
            try:
                await socket.hub_lost()
            except Exception:
                logger.exception("closing a socket after a hub outage failed")


_hubs: dict[asyncio.AbstractEventLoop, RoomHub] = {}


def get_hub() -> RoomHub:
    """One hub per event loop (redis.asyncio connections belong to their loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        hub = RoomHub(redis_url=settings.REDIS_URL)
        _hubs[loop] = hub
    return hub
