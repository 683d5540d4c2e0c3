"""Ending the session over real sockets: everyone is told and closed 4410, only a moderator
may come back and reopen it (issue 5, item 8)."""

from __future__ import annotations

import pytest

from tests.realtime.moderation_kit import about, frames_until_close

pytestmark = pytest.mark.django_db(transaction=True)


async def test_ending_the_session_tells_everyone_and_closes_every_socket_4410(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    fran, _ = await sockets.enter(cast.fran)
    alex, _ = await sockets.enter(cast.alex)
    jordan, _ = await sockets.enter(cast.jordan)
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    # Someone waiting in the lobby (the room is locked) is part of everyone.
    await dana.request("mod.lock", {"locked": True})
    riley, _ = await sockets.knock(cast.riley)
    await dana.expect("lobby.updated")
    await dana.send("mod.end")
    for socket in (dana, fran, alex, jordan, riley):
        frames, code = await frames_until_close(socket)
        assert code == 4410
        # Told once, just before the close, in the documented shape.
        assert [f["type"] for f in frames].count("session.ended") == 1
        assert frames[-1]["type"] == "session.ended"
        assert frames[-1]["data"]["reason"] == "session_ended"
        assert frames[-1]["data"]["message"]


async def test_after_the_end_only_a_moderator_gets_back_in_and_can_reopen_it(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.enter(cast.jordan)
    await dana.send("mod.end")
    assert (await frames_until_close(jordan))[1] == 4410
    assert (await frames_until_close(dana))[1] == 4410

    refused = await sockets.open(cast.jordan)
    closing = await refused.recv()
    assert closing["type"] == "closing"
    assert closing["data"]["code"] == "session_ended"
    assert await refused.expect_close() == 4410

    dana, welcome = await sockets.enter(cast.dana)
    assert welcome["room"]["ended"] is True
    assert (await dana.request("mod.reopen"))["type"] == "ack"
    updated = await dana.expect("room.updated")
    assert updated["data"]["room"]["ended"] is False
    _jordan, welcome = await sockets.enter(cast.jordan)
    assert welcome["room"]["ended"] is False
