"""The consumer's side of the pre-call test: `precall.offer|report|stop` frames become requests
to the pre-call worker over the channel layer, and its replies become frames.

In production the worker is its own process (`manage.py precall_worker`, channel
PRECALL_CHANNEL): aiortc encodes and decodes on its event loop and must not share it with
everyone's sockets. The embedded mode (PRECALL_IN_PROCESS) runs the same worker as a task in
this process, on a channel named after this instance so that several instances never answer
the same request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.conf import settings

from realtime import instance
from realtime.precall_worker import (
    PRECALL_REPORT,
    PRECALL_START,
    PRECALL_STOP,
    ChannelLayerTransport,
    registry_from_settings,
    run_precall_worker,
)
from realtime.protocol import ClientFrame, ack_frame, error_frame, server_frame

if TYPE_CHECKING:
    from realtime.consumer import RoomConsumer

logger = logging.getLogger(__name__)

_local_worker: asyncio.Task[None] | None = None
_local_stop: asyncio.Event | None = None
_local_channel: asyncio.Future[str] | None = None


async def precall_channel() -> str:
    if not settings.PRECALL_IN_PROCESS:
        return str(settings.PRECALL_CHANNEL)
    # Shielded: a socket closing while it waits must not cancel the channel for everyone.
    return await asyncio.shield(_ensure_local_worker())


def _ensure_local_worker() -> asyncio.Future[str]:
    """The in-process worker's channel, resolved once the worker is subscribed to it."""
    global _local_worker, _local_stop, _local_channel  # noqa: PLW0603 - one per process
    if _local_worker is None or _local_worker.done() or _local_channel is None:
        loop = asyncio.get_running_loop()
        _local_stop = asyncio.Event()
        _local_channel = loop.create_future()
        _local_worker = loop.create_task(_serve_locally(_local_stop, _local_channel))
    return _local_channel


async def _serve_locally(stop: asyncio.Event, channel_ready: asyncio.Future[str]) -> None:
    layer = get_channel_layer()
    # The Redis pub/sub layer drops a message published to a channel nobody has subscribed
    # yet, and a worker only subscribes when it first receives: the first precall.offer of
    # every instance was lost (tests/webrtc/test_precall_socket.py). new_channel() subscribes
    # before it returns, so nothing is sent before the worker can hear it.
    try:
        channel = await layer.new_channel(f"precall-local.{instance.INSTANCE_ID}.")
    except Exception as exc:  # noqa: BLE001 - handed to the frame that is waiting
        channel_ready.set_exception(exc)
        return
    channel_ready.set_result(channel)
    registry = registry_from_settings(transport=ChannelLayerTransport(layer))
    await run_precall_worker(layer=layer, registry=registry, stop=stop, channel=channel)


async def stop_local_worker() -> None:
    """Close every in-process pre-call peer (tests and shutdown)."""
    global _local_worker, _local_channel  # noqa: PLW0603
    if _local_worker is not None and _local_stop is not None:
        _local_stop.set()
        await asyncio.gather(_local_worker, return_exceptions=True)
    _local_worker = None
    _local_channel = None


async def handle_frame(consumer: RoomConsumer, frame: ClientFrame) -> None:
    owner = consumer.precall_owner()
    request: dict[str, Any] = {
        "reply_channel": consumer.channel_name,
        "owner": owner,
        "ref": frame.id,
    }
    if frame.type == "precall.offer":
        request.update(type=PRECALL_START, offer_sdp=frame.payload.sdp)  # type: ignore[attr-defined]
    else:
        if consumer.precall_session_id is None:
            await consumer.send_frame(
                error_frame(
                    "precall_not_found",
                    "Start the connection test first.",
                    ref=frame.id,
                )
            )
            return
        request.update(
            type=PRECALL_REPORT if frame.type == "precall.report" else PRECALL_STOP,
            session_id=consumer.precall_session_id,
        )
        if frame.type == "precall.stop":
            consumer.precall_session_id = None
    await get_channel_layer().send(await precall_channel(), request)
    if frame.type != "precall.stop":
        consumer.precall_waiting[frame.id] = asyncio.get_running_loop().create_task(
            _answer_or_fail(consumer, frame.id)
        )


async def _answer_or_fail(consumer: RoomConsumer, ref: str | None) -> None:
    """A worker that is down or restarting never answers: say so instead of leaving the
    person's check spinning (the reply cancels this)."""
    await asyncio.sleep(settings.PRECALL_REPLY_TIMEOUT_SECONDS)
    consumer.precall_waiting.pop(ref, None)
    await consumer.send_frame(
        error_frame(
            "precall_failed",
            "The connection test is not available right now. You can still join the session.",
            ref=ref,
        )
    )


def reply_arrived(consumer: RoomConsumer, event: dict[str, Any]) -> None:
    waiting = consumer.precall_waiting.pop(event.get("ref"), None)
    if waiting is not None:
        waiting.cancel()


async def stop_for_disconnect(consumer: RoomConsumer) -> None:
    if consumer.precall_session_id is None:
        return
    message = {
        "type": PRECALL_STOP,
        "session_id": consumer.precall_session_id,
        "owner": consumer.precall_owner(),
    }
    consumer.precall_session_id = None
    try:
        await get_channel_layer().send(await precall_channel(), message)
    except Exception as exc:  # noqa: BLE001 - the session also ends by its own time limit
        logger.info("could not stop a pre-call session: %s", type(exc).__name__)


# Replies from the worker, as frames for the browser.


def answer_frame(event: dict[str, Any]) -> dict[str, Any]:
    return server_frame(
        "precall.answer",
        {
            "session_id": event["session_id"],
            "sdp": event["sdp"],
            "max_seconds": event["max_seconds"],
        },
        ref=event.get("ref"),
    )


RESULT_FIELDS = (
    "session_id",
    "rtt_ms",
    "packet_loss_pct",
    "relay_used",
    "verdict",
    "verdict_code",
    "audio_received",
    "video_received",
)


def result_frame(event: dict[str, Any]) -> dict[str, Any]:
    return server_frame(
        "precall.result", {key: event.get(key) for key in RESULT_FIELDS}, ref=event.get("ref")
    )


def stopped_frame(event: dict[str, Any]) -> dict[str, Any]:
    return ack_frame(event.get("ref"), {"session_id": event.get("session_id")})


def failure_frame(event: dict[str, Any]) -> dict[str, Any]:
    return error_frame(
        str(event.get("code") or "precall_failed"),
        str(event.get("message") or "The connection test failed."),
        ref=event.get("ref"),
    )


def closed_frame(event: dict[str, Any]) -> dict[str, Any]:
    return server_frame(
        "precall.closed", {"session_id": event.get("session_id"), "reason": event.get("reason")}
    )
