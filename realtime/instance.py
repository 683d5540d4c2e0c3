"""This process as a presence instance: its id, its heartbeat and the sweep of dead peers.

One background task per process (started by the first socket) refreshes the heartbeat and
sweeps instances that stopped refreshing theirs, announcing the people they held as gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from django.conf import settings

from realtime import broadcast
from realtime.db import run_db
from rooms import moderation, presence
from rooms.events import Outcome
from rooms.models import Room, User

logger = logging.getLogger(__name__)

INSTANCE_ID = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

_task: asyncio.Task[None] | None = None


def ensure_running() -> None:
    global _task  # noqa: PLW0603 - one heartbeat task per process
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_heartbeat_loop())


def _beat_and_sweep() -> list[tuple[str, Outcome]]:
    presence.instance_heartbeat(instance_id=INSTANCE_ID)
    outcomes = []
    for departure in presence.sweep_dead_instances(instance_id=INSTANCE_ID):
        room = Room.objects.filter(pk=departure.room_id).first()
        user = User.objects.filter(pk=departure.user_id).first()
        if room is None or user is None:
            continue
        outcomes.append(
            (departure.room_id, moderation.participant_disconnect(user=user, room=room))
        )
    return outcomes


async def beat_once() -> int:
    """One heartbeat and sweep; returns how many departures were announced."""
    outcomes = await run_db(_beat_and_sweep)
    for room_id, outcome in outcomes:
        try:
            await broadcast.publish(room_id, outcome.effects)
        except broadcast.BroadcastFailed:
            logger.warning("could not announce a departure in room %s", room_id)
    return len(outcomes)


async def _heartbeat_loop() -> None:
    while True:
        try:
            await beat_once()
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must outlive a database or Redis outage
            logger.exception("presence heartbeat failed; retrying")
        await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
