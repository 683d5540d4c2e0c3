"""Mutes over real sockets: imposed by a moderator, seen by everyone, enforced by the server,
lifted only by asking the person, room-wide for later arrivals, and always for observers
(issue 5, items 5 and 9)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from rooms.models import Message
from tests.realtime.moderation_kit import about, error_code

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_audio_mute_is_seen_by_everyone_and_the_person_cannot_switch_it_back_on(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.enter(cast.alex)
    jordan, _ = await sockets.enter(cast.jordan)
    jordan_id = cast.pid(cast.jordan)

    reply = await dana.request("mod.mute", {"participant": jordan_id, "audio": True})
    assert reply["type"] == "ack"
    moderation = await alex.expect("moderation")
    assert moderation["data"] == {
        "action": "mute",
        "by": cast.pid(cast.dana),
        "target": jordan_id,
        "audio": True,
        "video": False,
        "chat": False,
    }
    for socket in (dana, alex, jordan):
        seen = await about(socket, "participant.updated", jordan_id)
        assert seen["imposed"] == {"audio": True, "video": False, "chat": False}
        assert seen["audio"] is False
        assert seen["video"] is True

    refused = await jordan.request("media.set", {"audio": True})
    assert error_code(refused) == "muted_by_moderator"
    assert refused["error"]["details"] == {"medium": "audio"}
    assert await alex.nothing()
    # What was not muted still works.
    assert (await jordan.request("media.set", {"video": False}))["type"] == "ack"
    assert (await about(alex, "participant.updated", jordan_id))["video"] is False


async def test_a_chat_mute_refuses_chat_send_with_chat_muted_and_nothing_is_posted(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.enter(cast.jordan)
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    await dana.request("mod.mute", {"participant": cast.pid(cast.jordan), "chat": True})
    seen = await about(dana, "participant.updated", cast.pid(cast.jordan))
    assert seen["imposed"]["chat"] is True
    refused = await jordan.request("chat.send", {"client_msg_id": "j-1", "body": "hello?"})
    assert error_code(refused) == "chat_muted"
    assert await dana.nothing()
    assert await database_sync_to_async(Message.objects.count)() == 0
    # Their microphone was not touched by a chat mute.
    assert (await jordan.request("media.set", {"audio": True}))["type"] == "ack"


async def test_unmute_asks_the_person_and_their_microphone_stays_off_until_they_switch_it_on(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.enter(cast.alex)
    jordan, _ = await sockets.enter(cast.jordan)
    jordan_id = cast.pid(cast.jordan)
    await about(alex, "participant.joined", jordan_id)
    await dana.request("mod.mute", {"participant": jordan_id, "audio": True})
    await about(alex, "participant.updated", jordan_id)
    await about(jordan, "participant.updated", jordan_id)

    reply = await dana.request(
        "mod.unmute", {"participant": jordan_id, "audio": True, "video": False, "chat": False}
    )
    assert reply["type"] == "ack"
    asked = await jordan.expect("unmute.requested")
    assert asked["data"] == {"by": "Dana", "audio": True, "video": False}
    assert (await alex.expect("moderation"))["data"]["action"] == "unmute"
    lifted = await about(alex, "participant.updated", jordan_id)
    assert lifted["imposed"]["audio"] is False
    assert lifted["audio"] is False  # nobody else switches a microphone on
    assert await alex.nothing()  # only the person is asked

    assert (await jordan.request("media.set", {"audio": True}))["type"] == "ack"
    assert (await about(alex, "participant.updated", jordan_id))["audio"] is True


async def test_mute_all_applies_to_someone_who_arrives_later_but_not_to_moderators(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    reply = await dana.request("mod.mute_all", {"audio": True})
    assert reply["type"] == "ack"
    assert (await dana.expect("room.updated"))["data"]["room"]["mute_all"]["audio"] is True

    jordan, welcome = await sockets.enter(cast.jordan)
    assert welcome["room"]["mute_all"]["audio"] is True
    assert welcome["you"]["imposed"]["audio"] is True
    assert welcome["you"]["audio"] is False
    joined = await about(dana, "participant.joined", cast.pid(cast.jordan))
    assert joined["imposed"]["audio"] is True
    assert error_code(await jordan.request("media.set", {"audio": True})) == "muted_by_moderator"

    _fran, welcome = await sockets.enter(cast.fran)
    assert welcome["you"]["imposed"]["audio"] is False


async def test_observers_join_muted_and_cannot_unmute_themselves_nor_be_unmuted(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    olly, welcome = await sockets.enter(cast.olly)
    you = welcome["you"]
    assert you["imposed"] == {"audio": True, "video": True, "chat": False}
    assert (you["audio"], you["video"]) == (False, False)
    joined = await about(dana, "participant.joined", cast.pid(cast.olly))
    assert joined["imposed"]["audio"] is True
    assert joined["imposed"]["video"] is True

    for medium in ("audio", "video"):
        refused = await olly.request("media.set", {medium: True})
        assert error_code(refused) == "observer_media_off"
    assert await dana.nothing()
    # A moderator's unmute does not lift the observer rule either.
    await dana.request("mod.unmute", {"participant": cast.pid(cast.olly)})
    assert error_code(await olly.request("media.set", {"audio": True})) == "observer_media_off"
    assert await olly.nothing()
