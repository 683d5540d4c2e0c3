"""The pre-call worker: hosts signaling.precall.PrecallRegistry in its own process, reached through
the channel layer on the channel "precall" (`manage.py precall_worker`).

aiortc encodes and decodes the echo on the event loop, so pre-call peers never run inside the
daphne processes that carry everyone's sockets (issue 4). The room consumer sends requests to
the channel "precall" and gets replies on its own channel name:

    precall.start  {reply_channel, offer_sdp, owner, ref?}  -> precall.answer {session_id, sdp,
                                                              max_seconds, ref} | precall.error
    precall.report {reply_channel, session_id, owner, ref?} -> precall.result {session_id,
                                                              rtt_ms, packet_loss_pct,
                                                              relay_used, verdict, verdict_code,
                                                              audio_received, video_received,
                                                              ref} | precall.error
    precall.stop   {session_id, owner, reply_channel?, ref?} -> precall.stopped {session_id, ref}
                                                              (only with a reply_channel)
    precall.status {reply_channel}                          -> precall.status.reply {active,
                                                              max_concurrent, max_seconds}
    (unasked, to the start's reply_channel)                    precall.closed {session_id, reason}

precall.error is {code, message, request, ref, session_id?} with the codes of signaling.errors.
Every value is a plain msgpack type. `owner` is whatever the consumer uses to tie a test to its
socket (its participant id); report and stop for someone else's session are `precall_not_found`.

With channels_redis' pub/sub layer (the production setting) every process listening on a channel
name receives each message, so run ONE worker per channel name; more capacity means more
workers on distinct names (--channel precall-2) that the consumer spreads over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.consumer import AsyncConsumer, get_handler_name
from channels.layers import BaseChannelLayer
from channels.routing import ChannelNameRouter
from channels.worker import Worker
from django.conf import settings

from rooms.errors import DomainError
from signaling.errors import PrecallFailed
from signaling.precall import PrecallRegistry, server_ice_servers

logger = logging.getLogger(__name__)

PRECALL_CHANNEL = "precall"

# Requests the worker handles.
PRECALL_START = "precall.start"
PRECALL_REPORT = "precall.report"
PRECALL_STOP = "precall.stop"
PRECALL_STATUS = "precall.status"
# Replies it sends (each becomes a method name on the consumer that receives it).
PRECALL_ANSWER = "precall.answer"
PRECALL_RESULT = "precall.result"
PRECALL_STOPPED = "precall.stopped"
PRECALL_ERROR = "precall.error"
PRECALL_STATUS_REPLY = "precall.status.reply"
# PRECALL_CLOSED ("precall.closed") is sent by the registry itself, see signaling.precall.

INVALID_REQUEST = "invalid_request"


class ChannelLayerTransport:
    """signaling.precall.PrecallTransport over the channel layer."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self._layer = layer

    async def send(self, to: str, message: dict[str, Any]) -> None:
        await self._layer.send(to, message)


def registry_from_settings(*, transport: ChannelLayerTransport | None) -> PrecallRegistry:
    return PrecallRegistry(
        max_concurrent=int(settings.PRECALL_MAX_CONCURRENT),
        max_seconds=float(settings.PRECALL_MAX_SECONDS),
        ice_servers=server_ice_servers,
        transport=transport,
    )


class BadRequest(DomainError):
    code = INVALID_REQUEST
    default_message = "The pre-call request is missing a field."


def _text(message: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = message.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(details={"field": key})
    return value


class PrecallWorker(AsyncConsumer):
    """One instance serves the "precall" channel. Each request runs in its own task, so a slow
    start (ICE gathering) does not hold up reports and stops; a failing request becomes a
    `precall.error` reply and never ends the worker."""

    def __init__(self, registry: PrecallRegistry | None = None) -> None:
        # Given by as_asgi(registry=...); without it (e.g. `runworker precall`) the instance
        # builds one from settings on its first message.
        self.registry = registry

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Requests still running when the worker stops are cancelled, not orphaned.
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None or not message["type"].startswith("precall."):
            logger.warning("precall worker: ignoring a message of type %r", message["type"])
            return
        if self.registry is None:
            self.registry = registry_from_settings(
                transport=ChannelLayerTransport(self.channel_layer)
            )
        task = asyncio.get_running_loop().create_task(self._run(handler, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, handler: Any, message: dict[str, Any]) -> None:
        request = message["type"].removeprefix("precall.")
        reply_to = message.get("reply_channel")
        try:
            await handler(message)
        except DomainError as exc:
            await self._error(reply_to, request, message, exc)
        except Exception:
            logger.exception("precall worker: %s failed", message["type"])
            await self._error(reply_to, request, message, PrecallFailed())

    async def _reply(self, reply_to: Any, message: dict[str, Any]) -> None:
        if isinstance(reply_to, str) and reply_to:
            await self.channel_layer.send(reply_to, message)

    async def _error(
        self, reply_to: Any, request: str, message: dict[str, Any], exc: DomainError
    ) -> None:
        error: dict[str, Any] = {
            "type": PRECALL_ERROR,
            "request": request,
            "code": exc.code,
            "message": exc.message,
            "ref": message.get("ref"),
        }
        if isinstance(message.get("session_id"), str):
            error["session_id"] = message["session_id"]
        try:
            await self._reply(reply_to, error)
        except Exception:
            logger.exception("precall worker: could not send %s", exc.code)

    # -- requests --------------------------------------------------------------------------

    async def precall_start(self, message: dict[str, Any]) -> None:
        assert self.registry is not None  # noqa: S101 - set in dispatch
        reply_to = _text(message, "reply_channel")
        session = await self.registry.start(
            offer_sdp=_text(message, "offer_sdp") or "",
            owner=_text(message, "owner") or "",
            reply_to=reply_to,
        )
        await self._reply(
            reply_to,
            {
                "type": PRECALL_ANSWER,
                "session_id": session.session_id,
                "sdp": session.answer_sdp,
                "max_seconds": session.max_seconds,
                "ref": message.get("ref"),
            },
        )

    async def precall_report(self, message: dict[str, Any]) -> None:
        assert self.registry is not None  # noqa: S101
        reply_to = _text(message, "reply_channel")
        report = await self.registry.report(
            _text(message, "session_id") or "", owner=_text(message, "owner")
        )
        await self._reply(reply_to, {"type": PRECALL_RESULT, **report, "ref": message.get("ref")})

    async def precall_stop(self, message: dict[str, Any]) -> None:
        assert self.registry is not None  # noqa: S101
        session_id = _text(message, "session_id") or ""
        await self.registry.close(session_id, owner=_text(message, "owner"))
        await self._reply(
            message.get("reply_channel"),
            {"type": PRECALL_STOPPED, "session_id": session_id, "ref": message.get("ref")},
        )

    async def precall_status(self, message: dict[str, Any]) -> None:
        assert self.registry is not None  # noqa: S101
        await self._reply(
            _text(message, "reply_channel"),
            {"type": PRECALL_STATUS_REPLY, **self.registry.status()},
        )


async def run_precall_worker(
    *,
    layer: BaseChannelLayer,
    registry: PrecallRegistry,
    stop: asyncio.Event,
    channel: str = PRECALL_CHANNEL,
) -> None:
    """Serve `channel` until `stop` is set (or the layer fails), then close every pre-call
    session. What `runworker precall` does, plus the orderly shutdown."""
    application = ChannelNameRouter({channel: PrecallWorker.as_asgi(registry=registry)})
    worker = Worker(application=application, channels=[channel], channel_layer=layer)
    serving = asyncio.create_task(worker.arun())
    stopping = asyncio.create_task(stop.wait())
    logger.info("precall worker listening on channel %r", channel)
    try:
        done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (serving, stopping):
            task.cancel()
        instances = [details["future"] for details in worker.application_instances.values()]
        for future in instances:
            future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(serving, stopping, *instances, return_exceptions=True)
        await registry.close_all()
        logger.info("precall worker stopped; every pre-call session is closed")
    if serving in done and not serving.cancelled() and serving.exception() is not None:
        raise serving.exception()  # type: ignore[misc]
