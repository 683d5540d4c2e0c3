"""The waiting room over real sockets: knocking, what a waiting socket may see and do, admit,
deny, the re-admission lease, return to lobby and the lock (issue 5, items 1 to 4)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from rooms import services
from rooms.models import Message
from tests.realtime.moderation_kit import (
    Cast,
    Sockets,
    about,
    error_code,
    frames_until_close,
    make_cast,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cast(transactional_db) -> Cast:
    return make_cast(waiting_room=True)


def lobby_names(frame: dict) -> list[str]:
    return [entry["display_name"] for entry in frame["data"]["lobby"]]


# --- knocking ------------------------------------------------------------------------------


async def test_a_family_member_who_arrives_waits_with_a_position_and_a_friendly_line_and_sees_nothing_else(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    jordan, waiting = await sockets.knock(cast.jordan)
    assert set(waiting) == {"room", "you", "position", "waiting_for", "message"}
    assert waiting["position"] == 1
    assert waiting["you"] == {"id": cast.pid(cast.jordan), "display_name": "Jordan"}
    assert waiting["room"]["name"] == "Tuesday group"
    assert "Dana" in waiting["waiting_for"]
    assert "you do not need to do anything else" in waiting["message"]
    # The room carries on: chat, media, a hand. None of it reaches the waiting socket.
    await dana.request("chat.send", {"client_msg_id": "d-1", "body": "Welcome, everyone"})
    await dana.request("media.set", {"video": False})
    await dana.request("hand.raise")
    await dana.request("typing.set", {"active": True})
    assert await jordan.nothing(0.5)


async def test_moderators_see_who_waits_with_relationship_and_waited_time_and_others_do_not(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    fran, _ = await sockets.enter(cast.fran)
    _alex_wait, _ = await sockets.knock(cast.alex)
    await dana.expect("lobby.updated")
    await dana.request("mod.admit", {"participant": cast.pid(cast.alex)})
    alex = _alex_wait
    await alex.expect("welcome")
    await dana.expect("lobby.updated")
    await fran.expect("lobby.updated")
    await fran.expect("lobby.updated")

    await sockets.knock(cast.jordan)
    for moderator in (dana, fran):
        lobby = (await moderator.expect("lobby.updated"))["data"]["lobby"]
        assert len(lobby) == 1
        entry = lobby[0]
        assert entry["id"] == cast.pid(cast.jordan)
        assert entry["display_name"] == "Jordan"
        assert entry["relationship"] == "mother"
        assert entry["role"] == "family"
        assert 0 <= entry["waited_seconds"] <= 5
        assert entry["waiting_since"]
    _riley, riley_waiting = await sockets.knock(cast.riley)
    assert riley_waiting["position"] == 2
    assert lobby_names(await dana.expect("lobby.updated")) == ["Jordan", "Riley"]
    # Who waits is for moderators only. (Alex may still get the events of his own admission,
    # depending on when his socket joined the room; nothing may be about the lobby.)
    seen = []
    while not await alex.nothing(timeout=0.5):
        seen.append(await alex.recv())
    waiting_ids = {cast.pid(cast.jordan), cast.pid(cast.riley)}
    assert not [frame for frame in seen if frame["type"] == "lobby.updated"]
    assert not [frame for frame in seen if waiting_ids & set(str(frame).split("'"))]


async def test_a_waiting_person_gets_not_admitted_for_every_room_frame_and_nothing_reaches_the_room(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.knock(cast.jordan)
    await dana.expect("lobby.updated")
    frames = [
        ("chat.send", {"client_msg_id": "j-1", "body": "let me in"}),
        (
            "signal.send",
            {"to": cast.pid(cast.dana), "description": {"type": "offer", "sdp": "v=0\r\n"}},
        ),
        ("chat.history", {"after_seq": 0}),
        ("typing.set", {"active": True}),
        ("media.set", {"audio": True}),
        ("ice.refresh", {}),
        ("hand.raise", {}),
    ]
    for type_, data in frames:
        reply = await jordan.request(type_, data)
        assert error_code(reply) == "not_admitted", type_
    assert (await jordan.request("ping"))["type"] == "pong"  # still connected
    assert await dana.nothing()
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_someone_who_gives_up_waiting_leaves_the_lobby_and_cannot_be_admitted(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.knock(cast.jordan)
    assert lobby_names(await dana.expect("lobby.updated")) == ["Jordan"]
    await jordan.close()
    assert lobby_names(await dana.expect("lobby.updated")) == []
    reply = await dana.request("mod.admit", {"participant": cast.pid(cast.jordan)})
    assert error_code(reply) == "not_waiting"


# --- admit and deny ------------------------------------------------------------------------


async def test_admitting_turns_the_same_socket_into_the_room_and_the_room_sees_them_join(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    jordan, _ = await sockets.knock(cast.jordan)
    await dana.expect("lobby.updated")
    reply = await dana.request("mod.admit", {"participant": cast.pid(cast.jordan)})
    assert reply["type"] == "ack"
    welcome = await jordan.expect("welcome")
    data = welcome["data"]
    assert data["you"]["id"] == cast.pid(cast.jordan)
    assert data["you"]["state"] == "admitted"
    assert {p["display_name"] for p in data["participants"]} == {"Dana", "Jordan"}
    assert "ice_servers" in data["ice"]
    assert "lobby" not in data
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    assert lobby_names(await dana.expect("lobby.updated")) == []
    # The same socket now talks to the room.
    sent = await jordan.request("chat.send", {"client_msg_id": "j-1", "body": "Hi Dana"})
    assert sent["type"] == "ack"
    assert (await dana.expect("chat.message"))["data"]["body"] == "Hi Dana"


async def test_denying_sends_removed_denied_and_closes_4411_and_only_moderators_hear_of_it(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    fran, _ = await sockets.enter(cast.fran)
    jordan, _ = await sockets.knock(cast.jordan)
    await dana.expect("lobby.updated")
    await fran.expect("lobby.updated")
    assert (await dana.request("mod.deny", {"participant": cast.pid(cast.jordan)}))["type"] == "ack"
    frames, code = await frames_until_close(jordan)
    assert code == 4411
    assert [f["type"] for f in frames] == ["removed"]
    assert frames[0]["data"]["reason"] == "denied"
    assert frames[0]["data"]["message"]
    assert lobby_names(await fran.expect("lobby.updated")) == []
    # Knocking again is allowed; only a moderator lets them in.
    _again, waiting = await sockets.knock(cast.jordan)
    assert waiting["position"] == 1


async def test_moderators_always_go_straight_in(cast, sockets):
    _fran, welcome = await sockets.enter(cast.fran)
    assert welcome["lobby"] == []
    _dana, welcome = await sockets.enter(cast.dana)
    assert welcome["you"]["is_moderator"] is True


async def test_people_who_arrive_before_the_moderator_keep_waiting_and_are_admitted_one_by_one(
    cast, sockets
):
    jordan, _ = await sockets.knock(cast.jordan)
    riley, riley_waiting = await sockets.knock(cast.riley)
    assert riley_waiting["position"] == 2
    dana, welcome = await sockets.enter(cast.dana)
    assert [entry["display_name"] for entry in welcome["lobby"]] == ["Jordan", "Riley"]
    assert [p["display_name"] for p in welcome["participants"]] == ["Dana"]
    # The moderator's arrival lets nobody in.
    assert await jordan.nothing()
    assert await riley.nothing()
    await dana.request("mod.admit", {"participant": cast.pid(cast.jordan)})
    await jordan.expect("welcome")
    assert lobby_names(await dana.expect("lobby.updated")) == ["Riley"]
    assert await riley.nothing()
    await dana.request("mod.admit", {"participant": cast.pid(cast.riley)})
    welcome = await riley.expect("welcome")
    assert {p["display_name"] for p in welcome["data"]["participants"]} == {
        "Dana",
        "Jordan",
        "Riley",
    }


async def test_a_person_waiting_on_two_devices_is_listed_once_and_admitted_on_both(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    alex, _ = await sockets.knock(cast.alex)
    await dana.expect("lobby.updated")
    await dana.request("mod.admit", {"participant": cast.pid(cast.alex)})
    await alex.expect("welcome")
    await dana.expect("lobby.updated")

    phone, _ = await sockets.knock(cast.jordan)
    assert lobby_names(await dana.expect("lobby.updated")) == ["Jordan"]
    laptop, waiting = await sockets.knock(cast.jordan)
    assert waiting["position"] == 1
    assert await dana.nothing()  # the second device is not a second knock
    await dana.request("mod.admit", {"participant": cast.pid(cast.jordan)})
    for device in (phone, laptop):
        assert (await device.expect("welcome"))["data"]["you"]["id"] == cast.pid(cast.jordan)
    await about(alex, "participant.joined", cast.pid(cast.jordan))
    assert await alex.nothing()  # one person, one participant.joined


# --- the re-admission lease ----------------------------------------------------------------


async def admitted(cast: Cast, sockets: Sockets, dana, user):
    socket, _ = await sockets.knock(user)
    await dana.expect("lobby.updated")
    await dana.request("mod.admit", {"participant": cast.pid(user)})
    await socket.expect("welcome")
    await dana.expect("lobby.updated")
    return socket


async def test_someone_admitted_who_drops_comes_straight_back_within_the_grace_period(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    jordan = await admitted(cast, sockets, dana, cast.jordan)
    await jordan.close()
    await about(dana, "participant.left", cast.pid(cast.jordan))
    _back, welcome = await sockets.enter(cast.jordan)
    assert welcome["you"]["state"] == "admitted"
    await about(dana, "participant.joined", cast.pid(cast.jordan))
    assert await dana.nothing()  # no knock: the lobby did not change


async def test_after_the_grace_period_someone_who_dropped_knocks_again(cast, sockets, settings):
    settings.READMISSION_GRACE_SECONDS = 0
    dana, _ = await sockets.enter(cast.dana)
    jordan = await admitted(cast, sockets, dana, cast.jordan)
    await jordan.close()
    await about(dana, "participant.left", cast.pid(cast.jordan))
    await sockets.knock(cast.jordan)
    assert lobby_names(await dana.expect("lobby.updated")) == ["Jordan"]


async def test_removal_cancels_the_lease_so_the_reconnect_waits_in_the_lobby(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan = await admitted(cast, sockets, dana, cast.jordan)
    await jordan.close()
    await about(dana, "participant.left", cast.pid(cast.jordan))
    reply = await dana.request("mod.remove", {"participant": cast.pid(cast.jordan)})
    assert reply["type"] == "ack"
    back, waiting = await sockets.knock(cast.jordan)
    assert waiting["position"] == 1
    assert lobby_names(await dana.expect("lobby.updated")) == ["Jordan"]
    assert await back.nothing()


async def test_a_ban_cancels_the_lease_and_the_reconnect_is_refused_4403(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan = await admitted(cast, sockets, dana, cast.jordan)
    await jordan.close()
    await about(dana, "participant.left", cast.pid(cast.jordan))
    await dana.request("mod.remove", {"participant": cast.pid(cast.jordan), "ban": True})
    back = await sockets.open(cast.jordan)
    assert await back.expect_close() == 4403


async def test_a_removed_persons_outstanding_ticket_is_refused_4401(cast, sockets):
    dana, _ = await sockets.enter(cast.dana)
    jordan = await admitted(cast, sockets, dana, cast.jordan)
    ticket, _ = await database_sync_to_async(services.ticket_issue)(
        user=cast.jordan, room=cast.room
    )
    await dana.request("mod.remove", {"participant": cast.pid(cast.jordan)})
    _frames, code = await frames_until_close(jordan)
    assert code == 4412
    with_ticket = await sockets.open(ticket=ticket)
    assert await with_ticket.expect_close() == 4401
    # A ticket asked for after the removal works: they may knock again.
    fresh, _ = await database_sync_to_async(services.ticket_issue)(user=cast.jordan, room=cast.room)
    await sockets.knock(None, ticket=fresh)


# --- return to lobby -----------------------------------------------------------------------


async def test_return_to_lobby_sends_the_socket_back_to_waiting_without_closing_and_admit_restores(
    cast, sockets
):
    dana, _ = await sockets.enter(cast.dana)
    alex = await admitted(cast, sockets, dana, cast.alex)
    jordan = await admitted(cast, sockets, dana, cast.jordan)
    await about(alex, "participant.joined", cast.pid(cast.jordan))
    await jordan.request("hand.raise")
    await alex.expect("hands")
    reply = await dana.request("mod.return_to_lobby", {"participant": cast.pid(cast.jordan)})
    assert reply["type"] == "ack"
    waiting = await jordan.expect("lobby.waiting")
    assert waiting["data"]["position"] == 1
    await about(alex, "participant.left", cast.pid(cast.jordan))
    assert (await alex.expect("hands"))["data"]["queue"] == []  # their hand went down
    assert lobby_names(await dana.expect("lobby.updated")) == ["Jordan"]
    # Back in the lobby, the room's life does not reach them (not even their own leaving)...
    assert await jordan.nothing(0.5)
    await dana.request("chat.send", {"client_msg_id": "d-1", "body": "Just us for a moment"})
    await alex.expect("chat.message")
    assert await jordan.nothing(0.5)
    # ...and room frames are refused.
    reply = await jordan.request("chat.send", {"client_msg_id": "j", "body": "?"})
    assert error_code(reply) == "not_admitted"
    # Admitting again restores them on the same socket.
    await dana.request("mod.admit", {"participant": cast.pid(cast.jordan)})
    welcome = await jordan.expect("welcome")
    assert welcome["data"]["you"]["state"] == "admitted"
    await about(alex, "participant.joined", cast.pid(cast.jordan))


# --- lock ----------------------------------------------------------------------------------


async def test_a_locked_room_makes_newcomers_wait_while_lease_holders_and_moderators_get_in(
    transactional_db,
):
    cast = await database_sync_to_async(make_cast)(waiting_room=False, name="Open group")
    sockets = Sockets(cast.room)
    try:
        dana, _ = await sockets.enter(cast.dana)
        jordan, _ = await sockets.enter(cast.jordan)
        await jordan.close()
        await about(dana, "participant.left", cast.pid(cast.jordan))
        assert (await dana.request("mod.lock", {"locked": True}))["type"] == "ack"
        updated = await dana.expect("room.updated")
        assert updated["data"]["room"]["locked"] is True
        # A newcomer waits although the waiting room is off.
        riley, _ = await sockets.knock(cast.riley)
        assert lobby_names(await dana.expect("lobby.updated")) == ["Riley"]
        # Jordan holds a lease and the facilitator is a moderator: both go straight in.
        await sockets.enter(cast.jordan)
        await sockets.enter(cast.fran)
        # A moderator may still let someone in on purpose.
        await dana.request("mod.admit", {"participant": cast.pid(cast.riley)})
        await riley.expect("welcome")
    finally:
        await sockets.close_all()
