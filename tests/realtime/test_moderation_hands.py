"""Raised hands over real sockets: one ordered queue everyone sees, moderators lower anyone's
or all, a muted person can still ask to speak (issue 5, item 7)."""

from __future__ import annotations

import pytest

from tests.realtime.moderation_kit import Cast, Sockets, about, error_code

pytestmark = pytest.mark.django_db(transaction=True)


async def queue(socket) -> list[str]:
    return (await socket.expect("hands"))["data"]["queue"]


async def in_the_room(cast: Cast, sockets: Sockets):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.enter(cast.alex)
    jordan, _ = await sockets.enter(cast.jordan)
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    await about(alex, "participant.joined", cast.pid(cast.jordan))
    return dana, alex, jordan


async def test_raised_hands_form_one_queue_in_order_that_everyone_sees(cast, sockets):
    dana, alex, jordan = await in_the_room(cast, sockets)
    jordan_id, alex_id = cast.pid(cast.jordan), cast.pid(cast.alex)
    assert (await jordan.request("hand.raise"))["type"] == "ack"
    for socket in (dana, alex, jordan):
        assert await queue(socket) == [jordan_id]
    await alex.request("hand.raise")
    for socket in (dana, alex, jordan):
        assert await queue(socket) == [jordan_id, alex_id]
    # Raising again keeps one's place and tells nobody anything.
    assert (await jordan.request("hand.raise"))["type"] == "ack"
    assert await dana.nothing()
    await jordan.request("hand.lower")
    for socket in (dana, alex, jordan):
        assert await queue(socket) == [alex_id]
    _late, welcome = await sockets.enter(cast.riley)
    assert welcome["hands"] == [alex_id]


async def test_a_moderator_lowers_anyones_hand_or_all_of_them(cast, sockets):
    dana, alex, jordan = await in_the_room(cast, sockets)
    jordan_id, alex_id = cast.pid(cast.jordan), cast.pid(cast.alex)
    await jordan.request("hand.raise")
    await alex.request("hand.raise")
    assert await queue(alex) == [jordan_id]
    assert await queue(alex) == [jordan_id, alex_id]

    reply = await dana.request("hand.lower", {"participant": jordan_id})
    assert reply["type"] == "ack"
    moderation = await jordan.expect("moderation")
    assert moderation["data"]["action"] == "lower_hand"
    assert moderation["data"]["target"] == jordan_id
    assert await queue(alex) == [alex_id]

    await jordan.request("hand.raise")
    assert await queue(alex) == [alex_id, jordan_id]
    assert (await dana.request("mod.lower_all_hands"))["type"] == "ack"
    assert (await alex.expect("moderation"))["data"]["action"] == "lower_all_hands"
    assert await queue(alex) == []


async def test_a_family_member_cannot_lower_someone_elses_hand(cast, sockets):
    _dana, alex, jordan = await in_the_room(cast, sockets)
    await alex.request("hand.raise")
    assert await queue(jordan) == [cast.pid(cast.alex)]
    assert await queue(alex) == [cast.pid(cast.alex)]
    reply = await jordan.request("hand.lower", {"participant": cast.pid(cast.alex)})
    assert error_code(reply) == "forbidden"
    assert await alex.nothing()


async def test_a_muted_person_can_still_raise_a_hand(cast, sockets):
    dana, alex, jordan = await in_the_room(cast, sockets)
    jordan_id = cast.pid(cast.jordan)
    await dana.request(
        "mod.mute", {"participant": jordan_id, "audio": True, "video": True, "chat": True}
    )
    muted = await about(alex, "participant.updated", jordan_id)
    assert muted["imposed"] == {"audio": True, "video": True, "chat": True}
    assert (await jordan.request("hand.raise"))["type"] == "ack"
    assert await queue(dana) == [jordan_id]
    assert await queue(alex) == [jordan_id]
