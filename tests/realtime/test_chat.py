"""Chat over the room socket: commit, ack, broadcast; idempotent resends; history; resume."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from rooms.models import Membership, Message
from tests.realtime.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def enter(room_setup, name, **kwargs):
    socket = await open_socket(room_setup["room"].pk, user=room_setup[name], **kwargs)
    welcome = await socket.expect("welcome")
    return socket, welcome


async def test_a_message_is_acknowledged_with_its_seq_and_reaches_everyone_in_the_room(room_setup):
    mother, _ = await enter(room_setup, "jordan")
    brother, _ = await enter(room_setup, "riley")
    reply = await mother.request(
        "chat.send", {"client_msg_id": "m-1", "body": "  Hello from home  "}
    )
    assert reply["type"] == "ack"
    assert reply["data"] == {"seq": 1, "client_msg_id": "m-1", "created": True}
    event = await brother.expect("chat.message")
    assert event["data"]["seq"] == 1
    assert event["data"]["body"] == "Hello from home"
    assert event["data"]["sender_name"] == "Jordan"
    own = await mother.expect("chat.message")
    assert own["data"]["seq"] == 1
    await mother.close()
    await brother.close()


async def test_resending_a_client_msg_id_is_acknowledged_with_the_first_seq_and_not_broadcast(
    room_setup,
):
    mother, _ = await enter(room_setup, "jordan")
    brother, _ = await enter(room_setup, "riley")
    first = await mother.request("chat.send", {"client_msg_id": "m-1", "body": "once"})
    await brother.expect("chat.message")
    again = await mother.request("chat.send", {"client_msg_id": "m-1", "body": "once"})
    assert again["data"] == {"seq": first["data"]["seq"], "client_msg_id": "m-1", "created": False}
    assert await brother.nothing()
    assert await database_sync_to_async(Message.objects.count)() == 1
    await mother.close()
    await brother.close()


@pytest.mark.parametrize(("body", "code"), [("   ", "body_empty"), ("x" * 4001, "body_too_long")])
async def test_an_invalid_body_gets_its_code_and_nothing_is_stored(room_setup, body, code):
    mother, _ = await enter(room_setup, "jordan")
    reply = await mother.request("chat.send", {"client_msg_id": "m-1", "body": body})
    assert reply["type"] == "error"
    assert reply["error"]["code"] == code
    assert await database_sync_to_async(Message.objects.count)() == 0
    assert (await mother.request("ping"))["type"] == "pong"
    await mother.close()


async def test_history_pages_backwards_and_forwards(room_setup):
    mother, _ = await enter(room_setup, "jordan")
    for n in range(1, 8):
        await mother.request("chat.send", {"client_msg_id": f"m-{n}", "body": f"message {n}"})
    older = await mother.request("chat.history", {"before_seq": 6, "limit": 3})
    assert [m["seq"] for m in older["data"]["messages"]] == [3, 4, 5]
    assert older["data"]["has_more"] is True
    newer = await mother.request("chat.history", {"after_seq": 5, "limit": 10})
    assert [m["seq"] for m in newer["data"]["messages"]] == [6, 7]
    assert newer["data"]["has_more"] is False
    both = await mother.request("chat.history", {"after_seq": 1, "before_seq": 5})
    assert both["error"]["code"] == "invalid_range"
    await mother.close()


async def test_connecting_with_after_seq_delivers_every_later_message_exactly_once(room_setup):
    mother, _ = await enter(room_setup, "jordan")
    for n in range(1, 6):
        await mother.request("chat.send", {"client_msg_id": f"m-{n}", "body": f"message {n}"})
    brother, welcome = await enter(room_setup, "riley", after_seq=2)
    assert [m["seq"] for m in welcome["data"]["chat"]["messages"]] == [3, 4, 5]
    await mother.request("chat.send", {"client_msg_id": "m-6", "body": "message 6"})
    live = await brother.expect("chat.message")
    assert live["data"]["seq"] == 6
    assert await brother.nothing()
    await mother.close()
    await brother.close()


async def test_chat_read_stores_the_position_and_tells_the_room(room_setup):
    mother, _ = await enter(room_setup, "jordan")
    brother, _ = await enter(room_setup, "riley")
    await mother.request("chat.send", {"client_msg_id": "m-1", "body": "hi"})
    assert (await brother.request("chat.read", {"seq": 1}))["type"] == "ack"
    event = await mother.expect("chat.read")
    riley = await database_sync_to_async(Membership.objects.get)(user=room_setup["riley"])
    assert event["data"] == {"participant": riley.participant_id, "seq": 1}
    assert riley.last_read_seq == 1
    await mother.close()
    await brother.close()


async def test_typing_is_relayed_and_never_stored(room_setup):
    mother, _ = await enter(room_setup, "jordan")
    brother, _ = await enter(room_setup, "riley")
    await mother.request("typing.set", {"active": True})
    event = await brother.expect("typing")
    assert event["data"]["active"] is True
    assert await database_sync_to_async(Message.objects.count)() == 0
    await mother.close()
    await brother.close()


async def test_past_the_chat_rate_limit_the_sender_gets_rate_limited_and_stays_connected(
    room_setup, settings
):
    settings.CHAT_RATE_PER_10S = 3
    mother, _ = await enter(room_setup, "jordan")
    codes = []
    for n in range(5):
        reply = await mother.request("chat.send", {"client_msg_id": f"r-{n}", "body": "quick"})
        codes.append(reply["type"] if reply["type"] == "ack" else reply["error"]["code"])
    assert codes[:3] == ["ack", "ack", "ack"]
    assert codes[3:] == ["rate_limited", "rate_limited"]
    limited = await mother.request("chat.send", {"client_msg_id": "r-9", "body": "quick"})
    assert 0 < limited["error"]["details"]["retry_after"] <= 10
    brother, _ = await enter(room_setup, "riley")
    assert (await brother.request("chat.send", {"client_msg_id": "b-1", "body": "not slowed"}))[
        "type"
    ] == "ack"
    assert (await mother.request("ping"))["type"] == "pong"
    await mother.close()
    await brother.close()


async def test_messages_the_layer_dropped_are_repaired_from_the_database_in_order(room_setup):
    """The channel layer delivers at most once. Two messages are committed but their events
    never published (as if dropped); the next live message makes each socket fetch the gap, so
    everyone still sees 1, 2, 3 exactly once, in order."""
    from rooms import messaging

    mother, _ = await enter(room_setup, "jordan")
    brother, _ = await enter(room_setup, "riley")
    membership = await database_sync_to_async(Membership.objects.select_related("room").get)(
        user=room_setup["riley"]
    )
    for n in (1, 2):  # committed, never published
        await database_sync_to_async(messaging.message_post)(
            membership=membership, client_msg_id=f"lost-{n}", body=f"lost {n}"
        )
    await mother.request("chat.send", {"client_msg_id": "m-3", "body": "three"})
    # Both sockets see the same gap at once (the process reads it once for both).
    for socket in (brother, mother):
        messages = [(await socket.expect("chat.message"))["data"] for _ in range(3)]
        assert [m["seq"] for m in messages] == [1, 2, 3]
        assert [m["body"] for m in messages] == ["lost 1", "lost 2", "three"]
        assert await socket.nothing()
    await mother.close()
    await brother.close()
