"""The pre-call test through the room websocket of a real daphne: embedded (the test peer inside
daphne) and production (`manage.py precall_worker` on Redis), from the waiting room and from
inside the room (scenario: scenarios/precall_socket.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


@pytest.fixture
def family_room_people(transactional_db: Any, make_user: Callable[..., Any]) -> dict[str, Any]:
    """A family session with its waiting room on: the therapist goes straight in, the
    mother waits."""
    from rooms import services

    therapist = make_user("dana", staff_role="therapist")
    room = services.room_create(owner=therapist, kind="family_session", name="Morgan family")
    mother = make_user("jordan")
    services.membership_add(
        actor=therapist, room=room, user=mother, role="family", relationship="mother"
    )
    return {"room": str(room.pk), "therapist": therapist.pk, "mother": mother.pk}


def run_precall(people: dict[str, Any], *, who: str, mode: str, redis: bool = False) -> Any:
    spec = {
        "database": connection.settings_dict["NAME"],
        "room": people["room"],
        "user_id": people[who],
        "mode": mode,
        "redis": redis,
    }
    return run_in_netns("tests.webrtc.scenarios.precall_socket", json.dumps(spec), timeout=170)


def assert_full_precall(precall: dict[str, Any]) -> None:
    """What the person sees: their own echo, a working data channel, a plain verdict, and the
    test peer gone once they stop it."""
    assert precall["answer"]["type"] == "precall.answer"
    assert precall["answer"]["session_id"].startswith("pc-")
    assert precall["answer"]["has_candidates"]
    assert precall["echo_frames"]["audio"] >= 10
    assert precall["echo_frames"]["video"] >= 10
    assert precall["pongs"] == [4242.5]
    assert precall["server_pings_answered"] >= 1
    result = precall["result"]
    assert result["type"] == "precall.result"
    assert result["data"]["session_id"] == precall["answer"]["session_id"]
    assert 0 <= result["data"]["rtt_ms"] < 400
    assert result["data"]["relay_used"] is False
    assert result["data"]["verdict_code"] == "good"
    assert result["data"]["verdict"] == "Your connection is good."
    assert result["data"]["audio_received"] is True
    assert result["data"]["video_received"] is True
    assert precall["stopped"]["type"] == "ack"
    assert precall["client_state_after_stop"] == "closed"
    assert precall["report_after_stop"]["error"]["code"] == "precall_not_found"


def test_a_person_in_the_waiting_room_runs_the_precall_test_against_the_embedded_peer(
    family_room_people: dict[str, Any],
) -> None:
    result = run_precall(family_room_people, who="mother", mode="in_process")

    assert result["first_frame"] == "lobby.waiting"
    assert_full_precall(result["precall"])
    # Still waiting: nothing of the room reached the socket meanwhile.
    assert not {"welcome", "participant.joined", "signal"} & set(result["socket_frames"])


def test_the_embedded_peer_answers_the_first_offer_on_the_redis_layer_too(
    family_room_people: dict[str, Any],
) -> None:
    result = run_precall(family_room_people, who="mother", mode="in_process", redis=True)

    assert result["first_frame"] == "lobby.waiting"
    assert_full_precall(result["precall"])


def test_in_production_the_precall_worker_process_hosts_the_test_peer(
    family_room_people: dict[str, Any],
) -> None:
    result = run_precall(family_room_people, who="therapist", mode="worker")

    assert result["first_frame"] == "welcome"
    assert result["worker_status"]["type"] == "precall.status.reply"
    assert_full_precall(result["precall"])
    session_id = result["precall"]["answer"]["session_id"]
    # The peer ran in the worker, not in daphne.
    worker_log = result["logs"]["precall-worker.log"]
    assert f"precall {session_id} started" in worker_log
    assert f"precall {session_id} closed" in worker_log
    assert session_id not in result["logs"]["daphne-0.log"]
