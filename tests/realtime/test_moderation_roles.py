"""Who may moderate whom, checked on the server for every frame: forged `mod.*` frames from a
family member, actions aimed at someone in another room, and the room's owner, whom nobody can
mute, remove or send to the lobby (issue 5, item 9)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.realtime.moderation_kit import (
    Sockets,
    about,
    error_code,
    make_cast,
    state_of,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_forged_mod_frames_from_a_family_member_are_forbidden_and_change_nothing(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.enter(cast.alex)
    jordan, _ = await sockets.enter(cast.jordan)
    await alex.request("hand.raise")
    await dana.request("mod.lock", {"locked": True})
    riley, _ = await sockets.knock(cast.riley)  # waits: the room is locked
    await dana.expect("lobby.updated")
    await about(alex, "participant.joined", cast.pid(cast.jordan))
    await alex.expect("room.updated")
    await jordan.expect("room.updated")
    before = await state_of(cast)

    alex_id, riley_id, dana_id = cast.pid(cast.alex), cast.pid(cast.riley), cast.pid(cast.dana)
    forged = [
        ("mod.admit", {"participant": riley_id}),
        ("mod.deny", {"participant": riley_id}),
        ("mod.return_to_lobby", {"participant": alex_id}),
        ("mod.mute", {"participant": alex_id, "audio": True, "video": True, "chat": True}),
        ("mod.mute", {"participant": dana_id, "audio": True}),
        ("mod.unmute", {"participant": alex_id}),
        ("mod.mute_all", {"audio": True, "video": True, "chat": True}),
        ("mod.remove", {"participant": alex_id, "ban": True}),
        ("mod.unban", {"participant": alex_id}),
        ("mod.lock", {"locked": False}),
        ("mod.lower_all_hands", {}),
        ("mod.end", {}),
        ("mod.reopen", {}),
        ("hand.lower", {"participant": alex_id}),
    ]
    for type_, data in forged:
        reply = await jordan.request(type_, data)
        assert error_code(reply) == "forbidden", type_
    for socket in (dana, alex, riley, jordan):
        assert await socket.nothing()
    assert await state_of(cast) == before


async def test_actions_aimed_at_a_participant_of_another_room_find_no_such_participant(
    cast, sockets
):
    other = await database_sync_to_async(make_cast)(waiting_room=False, name="Thursday group")
    elsewhere = Sockets(other.room)
    try:
        dana, _ = await sockets.enter(cast.dana)
        other_dana, _ = await elsewhere.enter(other.dana)
        other_jordan, _ = await elsewhere.enter(other.jordan)
        await about(other_dana, "participant.joined", other.pid(other.jordan))
        await about(other_jordan, "participant.joined", other.pid(other.jordan))
        before = await state_of(other)

        stranger = other.pid(other.jordan)
        aimed = [
            ("mod.admit", {"participant": stranger}),
            ("mod.deny", {"participant": stranger}),
            ("mod.return_to_lobby", {"participant": stranger}),
            ("mod.mute", {"participant": stranger, "audio": True}),
            ("mod.unmute", {"participant": stranger}),
            ("mod.remove", {"participant": stranger, "ban": True}),
            ("mod.unban", {"participant": stranger}),
            ("hand.lower", {"participant": stranger}),
            ("mod.mute", {"participant": "p-999999999", "audio": True}),
            ("mod.remove", {"participant": "jordan"}),
        ]
        for type_, data in aimed:
            reply = await dana.request(type_, data)
            assert error_code(reply) == "no_such_participant", (type_, data)
        assert await other_jordan.nothing()
        assert await other_dana.nothing()
        assert await state_of(other) == before
    finally:
        await elsewhere.close_all()


async def test_nobody_can_mute_remove_or_send_the_owner_to_the_lobby(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    fran, _ = await sockets.enter(cast.fran)
    await about(dana, "participant.joined", cast.pid(cast.fran))
    before = await state_of(cast)
    owner = cast.pid(cast.dana)
    for moderator in (fran, dana):
        for type_, data in (
            ("mod.mute", {"participant": owner, "audio": True, "chat": True}),
            ("mod.remove", {"participant": owner}),
            ("mod.remove", {"participant": owner, "ban": True}),
            ("mod.return_to_lobby", {"participant": owner}),
        ):
            reply = await moderator.request(type_, data)
            assert error_code(reply) == "cannot_moderate_owner", (type_, data)
    assert await dana.nothing()
    assert await fran.nothing()
    assert await state_of(cast) == before
    # The owner is still in the room and can speak.
    sent = await dana.request("chat.send", {"client_msg_id": "d-1", "body": "Still here"})
    assert sent["type"] == "ack"
