"""A family session end to end: four homes, two daphne instances, one Redis, a full mesh of
real aiortc peers that signal only through the room websocket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


def test_therapist_client_and_two_family_homes_all_see_hear_and_message_each_other(
    transactional_db: Any, make_user: Callable[..., Any]
) -> None:
    from rooms import services

    therapist = make_user("dana", staff_role="therapist")
    room = services.room_create(
        owner=therapist,
        kind="family_session",
        name="Morgan family session",
        waiting_room_enabled=False,
    )
    client = make_user("alex")
    mother = make_user("jordan")
    grandfather = make_user("sam")
    services.membership_add(actor=therapist, room=room, user=client, role="client")
    services.membership_add(
        actor=therapist, room=room, user=mother, role="family", relationship="mother"
    )
    services.membership_add(
        actor=therapist, room=room, user=grandfather, role="family", relationship="grandfather"
    )
    people = [
        {"name": "therapist", "user_id": therapist.pk, "instance": 0},
        {"name": "client", "user_id": client.pk, "instance": 1},
        {"name": "mother", "user_id": mother.pk, "instance": 0},
        {"name": "grandfather", "user_id": grandfather.pk, "instance": 1},
    ]
    spec = {"database": connection.settings_dict["NAME"], "room": str(room.pk), "people": people}

    result = run_in_netns("tests.webrtc.scenarios.family_session", json.dumps(spec), timeout=170)

    # Everyone went straight in (waiting room off), across both instances, and was given
    # no ICE server at all: nothing public is ever asked.
    assert [frame["type"] for frame in result["first_frames"]] == ["welcome"] * 4
    assert [frame["role"] for frame in result["first_frames"]] == [
        "therapist",
        "client",
        "family",
        "family",
    ]
    assert all(frame["ice"]["ice_servers"] == [] for frame in result["first_frames"])
    assert len(set(result["instances"])) == 2

    endpoints = result["endpoints"]
    ids = {name: endpoint["me"] for name, endpoint in endpoints.items()}
    assert len(set(ids.values())) == 4
    for name, endpoint in endpoints.items():
        assert endpoint["errors"] == [], name
        assert endpoint["socket_errors"] == [], name
        others = {other_id for other, other_id in ids.items() if other != name}
        assert set(endpoint["peers"]) == others, name
        for other_id, peer in endpoint["peers"].items():
            # All six pairs are up, on the namespace's loopback, host to host.
            assert peer["state"] == "connected", (name, other_id)
            assert peer["pair"] == ["host", "host"], (name, other_id)
            assert peer["frames"]["audio"] >= 10, (name, other_id)
            assert peer["frames"]["video"] >= 10, (name, other_id)
            assert f"hello from {other_id}" in peer["messages"], (name, other_id)
    # Of each pair exactly one side is polite, as both computed from the two ids alone.
    for name, endpoint in endpoints.items():
        for other_id, peer in endpoint["peers"].items():
            other_name = next(n for n, i in ids.items() if i == other_id)
            assert peer["polite"] != endpoints[other_name]["peers"][ids[name]]["polite"]
