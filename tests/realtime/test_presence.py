"""Presence over real sockets: several devices are one participant, and the people a dead
instance held are shown as gone once its heartbeat is too old."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from realtime import instance
from rooms import moderation
from rooms.models import Connection, Instance
from tests.realtime.moderation_kit import Cast, about

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_person_on_two_devices_joins_once_and_leaves_when_the_last_socket_closes(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    jordan_id = cast.pid(cast.jordan)
    phone, _ = await sockets.enter(cast.jordan)
    await about(dana, "participant.joined", jordan_id)
    laptop, welcome = await sockets.enter(cast.jordan)
    assert [p["id"] for p in welcome["participants"]].count(jordan_id) == 1
    assert await dana.nothing()
    await phone.close()
    assert await dana.nothing()  # still here on the laptop
    await laptop.close()
    await about(dana, "participant.left", jordan_id)
    assert await dana.nothing()  # left once


def held_by_another_instance(cast: Cast, user, *, instance_id: str) -> None:
    """A socket of `user` held by another daphne process: its Connection row, then the
    admission decision, exactly as that process's consumer would have written them."""
    Connection.objects.create(
        channel_name=f"elsewhere.{instance_id}.{user.pk}",
        instance_id=instance_id,
        user=user,
        room=cast.room,
    )
    assert moderation.participant_connect(user=user, room=cast.room).value.admitted


@pytest.mark.parametrize("heartbeat", ["too old", "never written"])
async def test_people_held_by_a_dead_instance_are_shown_as_gone(cast, sockets, heartbeat):
    now = timezone.now()
    long_ago = now - timedelta(minutes=5)

    def arrange() -> None:
        held_by_another_instance(cast, cast.alex, instance_id="dead-web")
        held_by_another_instance(cast, cast.jordan, instance_id="live-web")
        Instance.objects.create(instance_id="live-web", heartbeat_at=now)
        if heartbeat == "too old":
            Instance.objects.create(instance_id="dead-web", heartbeat_at=now)

    def dead_web_stops() -> None:
        # Time passes for dead-web only: its heartbeat (or, if it crashed before writing
        # one, its sockets) is now older than PRESENCE_TIMEOUT_SECONDS.
        if heartbeat == "too old":
            Instance.objects.filter(instance_id="dead-web").update(heartbeat_at=long_ago)
        else:
            Instance.objects.filter(instance_id="dead-web").delete()
            Connection.objects.filter(instance_id="dead-web").update(connected_at=long_ago)

    await database_sync_to_async(arrange)()
    dana, welcome = await sockets.enter(cast.dana)
    assert {p["display_name"] for p in welcome["participants"]} == {"Dana", "Alex", "Jordan"}
    await database_sync_to_async(dead_web_stops)()

    # This process's own heartbeat task may sweep first; either way one sweep announces it.
    await instance.beat_once()
    await about(dana, "participant.left", cast.pid(cast.alex))
    assert await dana.nothing()  # Jordan's instance is alive: Jordan stays
    assert not await database_sync_to_async(
        Connection.objects.filter(instance_id="dead-web").exists
    )()
    # The next sweep (here or on another instance) announces nothing again.
    assert await instance.beat_once() == 0
    assert await dana.nothing()
