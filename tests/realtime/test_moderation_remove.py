"""Remove and ban over real sockets: every socket of the person closes with a `removed` frame
first, their signaling stops, a ban keeps them out until lifted (issue 5, item 6)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.realtime.moderation_kit import about, frames_until_close

pytestmark = pytest.mark.django_db(transaction=True)

CANDIDATE = {
    "candidate": "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}


def ask_for_ticket(user, room) -> tuple[int, dict]:
    client = Client()
    client.force_login(user)
    response = client.post(f"/api/rooms/{room.pk}/ticket", content_type="application/json")
    return response.status_code, response.json()


async def test_remove_closes_every_socket_of_the_person_within_a_second_with_removed_first(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.enter(cast.alex)
    phone, _ = await sockets.enter(cast.jordan)
    laptop, _ = await sockets.enter(cast.jordan)
    await about(alex, "participant.joined", cast.pid(cast.jordan))
    assert await alex.nothing()  # the second device was not a second arrival

    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await dana.request("mod.remove", {"participant": cast.pid(cast.jordan)})
    assert reply["type"] == "ack"
    for device in (phone, laptop):
        frames, code = await frames_until_close(device, timeout=1)
        assert code == 4412
        assert frames[-1]["type"] == "removed"
        assert frames[-1]["data"]["reason"] == "removed"
    assert loop.time() - started < 1.0
    moderation = await alex.expect("moderation")
    assert moderation["data"]["action"] == "remove"
    assert moderation["data"]["target"] == cast.pid(cast.jordan)
    await about(alex, "participant.left", cast.pid(cast.jordan))
    assert await alex.nothing()  # one person left once


async def test_a_removed_persons_signaling_is_no_longer_relayed(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.enter(cast.alex)
    jordan, _ = await sockets.enter(cast.jordan)
    await about(alex, "participant.joined", cast.pid(cast.jordan))
    to_alex = {"to": cast.pid(cast.alex), "description": OFFER}
    assert (await jordan.request("signal.send", to_alex))["type"] == "ack"
    relayed = await alex.expect("signal")
    assert relayed["data"]["from"] == cast.pid(cast.jordan)

    await dana.request("mod.remove", {"participant": cast.pid(cast.jordan)})
    # Sent after the removal committed, before Jordan's socket has been closed.
    await jordan.send("signal.send", to_alex)
    await jordan.send("signal.send", {"to": cast.pid(cast.alex), "candidate": CANDIDATE})
    _frames, code = await frames_until_close(jordan)
    assert code == 4412
    await about(alex, "participant.left", cast.pid(cast.jordan))
    assert await alex.nothing(0.5)


async def test_a_banned_person_cannot_reconnect_nor_get_a_ticket_until_a_moderator_unbans(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.enter(cast.jordan)
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    reply = await dana.request("mod.remove", {"participant": cast.pid(cast.jordan), "ban": True})
    assert reply["type"] == "ack"
    frames, code = await frames_until_close(jordan)
    assert code == 4412
    assert frames[-1]["type"] == "removed"
    assert frames[-1]["data"]["reason"] == "banned"

    again = await sockets.open(cast.jordan)
    assert await again.expect_close() == 4403
    status, body = await database_sync_to_async(ask_for_ticket)(cast.jordan, cast.room)
    assert (status, body["error"]["code"]) == (403, "banned")

    assert (await dana.request("mod.unban", {"participant": cast.pid(cast.jordan)}))["type"] == (
        "ack"
    )
    status, body = await database_sync_to_async(ask_for_ticket)(cast.jordan, cast.room)
    assert status == 201
    # Unbanned is not admitted: they knock and a moderator lets them in.
    back, _ = await sockets.knock(None, ticket=body["ticket"])
    await dana.expect("lobby.updated")
    await dana.request("mod.admit", {"participant": cast.pid(cast.jordan)})
    await back.expect("welcome")


async def test_someone_removed_without_a_ban_who_comes_back_waits_for_a_moderator(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.enter(cast.jordan)
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    await dana.request("mod.remove", {"participant": cast.pid(cast.jordan)})
    _frames, code = await frames_until_close(jordan)
    assert code == 4412
    # The waiting room is off, yet a removed person does not walk back in by themselves.
    again, waiting = await sockets.knock(cast.jordan)
    assert waiting["position"] == 1
    lobby = (await dana.expect("lobby.updated"))["data"]["lobby"]
    assert [entry["display_name"] for entry in lobby] == ["Jordan"]
    assert await again.nothing()
