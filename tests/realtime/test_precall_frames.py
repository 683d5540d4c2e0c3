"""Pre-call frames on the room socket when the pre-call worker does not answer."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_offer_the_worker_never_answers_gets_precall_failed_instead_of_silence(
    room_setup, settings
):
    settings.PRECALL_IN_PROCESS = False
    settings.PRECALL_CHANNEL = "precall-nobody-listens"
    settings.PRECALL_REPLY_TIMEOUT_SECONDS = 1
    socket = await open_socket(room_setup["room"].pk, user=room_setup["jordan"])
    await socket.expect("welcome")
    reply = await socket.request("precall.offer", {"sdp": "v=0\r\n"}, timeout=5)
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "precall_failed"
    assert "still join" in reply["error"]["message"]
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_a_report_without_a_running_test_gets_precall_not_found(room_setup):
    socket = await open_socket(room_setup["room"].pk, user=room_setup["jordan"])
    await socket.expect("welcome")
    reply = await socket.request("precall.report")
    assert reply["error"]["code"] == "precall_not_found"
    await socket.close()
