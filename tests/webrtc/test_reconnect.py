"""Reconnection: a person whose websocket drops comes back without leaving the room, the others
are told, the pairs restart ICE and media flows again (scenario: scenarios/reconnect.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


def test_a_dropped_socket_comes_back_on_its_lease_and_the_call_restarts_ice_and_resumes(
    transactional_db: Any, make_user: Callable[..., Any]
) -> None:
    from rooms import services

    therapist = make_user("dana", staff_role="therapist")
    # The waiting room is on: the first entry needs an admit, the way back must not.
    room = services.room_create(owner=therapist, kind="family_session", name="Morgan family")
    assert room.waiting_room_enabled
    client = make_user("alex")
    mother = make_user("jordan")
    services.membership_add(actor=therapist, room=room, user=client, role="client")
    services.membership_add(
        actor=therapist, room=room, user=mother, role="family", relationship="mother"
    )
    spec = {
        "database": connection.settings_dict["NAME"],
        "room": str(room.pk),
        "people": [
            {"name": "therapist", "user_id": therapist.pk, "instance": 0},
            {"name": "client", "user_id": client.pk, "instance": 1},
            {"name": "mother", "user_id": mother.pk, "instance": 0},
        ],
    }

    result = run_in_netns("tests.webrtc.scenarios.reconnect", json.dumps(spec), timeout=170)

    ids = result["ids"]
    assert result["first_entry"] == ["welcome", "lobby.waiting", "lobby.waiting"]
    # The drop was abrupt (no closing handshake) and the others were told...
    assert result["dropped_close_code"] == 1006
    assert result["left"] == [{"participant": ids["client"]}] * 2
    # ...and the person came back on the other instance straight into the room: no waiting
    # room, no lobby entry for the therapist, the same participant, still admitted.
    assert result["instances"]["first"] != result["instances"]["back"]
    assert result["returned"]["type"] == "welcome"
    assert "lobby.waiting" not in result["returned_frames"]
    assert result["returned"]["you"]["id"] == ids["client"]
    assert result["returned"]["you"]["state"] == "admitted"
    assert result["lobby_updates_after_drop"] == []
    assert sorted(result["returned"]["participants"]) == sorted(ids.values())
    assert [p["id"] for p in result["joined"]] == [ids["client"]] * 2
    assert result["therapist_events_after_drop"][-2:] == ["participant.left", "participant.joined"]
    # Chat resumed after the last message it had, exactly once.
    assert result["returned"]["chat"] == ["We will wait for you."]
    assert result["chat_away"]["data"]["seq"] == result["last_seq_before_drop"] + 1

    endpoints = result["endpoints"]
    for name, endpoint in endpoints.items():
        assert endpoint["errors"] == [], name
        assert endpoint["socket_errors"] == [], name
        for other, peer in endpoint["peers"].items():
            assert peer["state"] == "connected", (name, other)
            assert peer["frames"]["audio"] >= 10, (name, other)
            assert peer["frames"]["video"] >= 10, (name, other)
    # The person who came back restarted ICE towards both others (restart: true), each of
    # whom answered on a fresh connection; media counted above is on those connections, and
    # a new data channel greeted each side again.
    client_side = endpoints["client"]["peers"]
    for name in ("therapist", "mother"):
        assert client_side[ids[name]]["restarts"] == 1
        assert endpoints[name]["peers"][ids["client"]]["restart_offers_received"] == 1
        assert client_side[ids[name]]["messages"] == [f"hello from {ids[name]}"] * 2
        assert (
            endpoints[name]["peers"][ids["client"]]["messages"]
            == [f"hello from {ids['client']}"] * 2
        )
    # The pair that did not drop was left alone.
    untouched = endpoints["therapist"]["peers"][ids["mother"]]
    assert untouched["restarts"] == 0
    assert untouched["restart_offers_received"] == 0
    assert untouched["messages"] == [f"hello from {ids['mother']}"]
