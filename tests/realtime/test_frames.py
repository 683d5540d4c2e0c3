"""Bad frames get an `error` frame with their own code; the socket stays open; nothing changes."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from rooms.models import Message
from tests.realtime.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def socket(room_setup):
    socket = await open_socket(room_setup["room"].pk, user=room_setup["jordan"])
    await socket.expect("welcome")
    yield socket
    await socket.close()


async def assert_still_open(socket):
    reply = await socket.request("ping")
    assert reply["type"] == "pong"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_json"),
        ('{"v":1,"type":"chat.send","data":{"client_msg_id":"a","body":NaN}}', "invalid_json"),
        ("[" * 100000 + "]" * 100000, "frame_too_large"),
        ('{"v":2,"type":"ping","data":{}}', "unsupported_version"),
        ('{"v":1,"type":"teleport","data":{}}', "unknown_type"),
        ('{"v":1,"type":"chat.send","data":{"body":"hi"}}', "invalid_frame"),
        (
            '{"v":1,"type":"chat.send","data":{"client_msg_id":"a","body":"hi","extra":1}}',
            "invalid_frame",
        ),
        ('{"v":1,"type":"chat.send","data":{"client_msg_id":5,"body":"hi"}}', "invalid_frame"),
        ('{"v":1,"type":"ping","data":[]}', "invalid_frame"),
        ('{"v":1,"type":"ping","data":{},"surprise":true}', "invalid_frame"),
    ],
)
async def test_a_bad_text_frame_gets_its_own_error_code_and_the_socket_stays_open(
    socket, text, code
):
    await socket.send_raw(text=text)
    frame = await socket.expect("error")
    assert frame["error"]["code"] == code
    assert frame["error"]["message"]
    await assert_still_open(socket)


async def test_deep_nesting_under_the_size_limit_is_invalid_json_not_a_crash(socket):
    await socket.send_raw(text="[" * 5000 + "]" * 5000)
    frame = await socket.expect("error")
    assert frame["error"]["code"] == "invalid_json"
    await assert_still_open(socket)


async def test_a_binary_frame_gets_binary_not_supported(socket):
    await socket.send_raw(data=b"\x00\x01")
    assert (await socket.expect("error"))["error"]["code"] == "binary_not_supported"
    await assert_still_open(socket)


async def test_a_frame_over_16_kib_gets_frame_too_large_and_stores_nothing(socket):
    text = json.dumps(
        {
            "v": 1,
            "type": "chat.send",
            "id": "big",
            "data": {"client_msg_id": "x", "body": "a" * 17000},
        }
    )
    await socket.send_raw(text=text)
    frame = await socket.expect("error")
    assert frame["error"]["code"] == "frame_too_large"
    assert frame["ref"] == "big"
    assert frame["error"]["details"]["limit"] == 16 * 1024
    assert await database_sync_to_async(Message.objects.count)() == 0
    await assert_still_open(socket)


async def test_an_error_carries_the_frames_id_as_ref(socket):
    await socket.send_raw(text='{"v":1,"type":"chat.send","id":"c-9","data":{}}')
    frame = await socket.expect("error")
    assert frame["ref"] == "c-9"


async def test_ping_gets_pong(socket):
    assert (await socket.request("ping"))["type"] == "pong"
