"""`manage.py precall_worker` over real Redis: the path production uses for pre-call tests."""

import pytest

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


@pytest.fixture(scope="module")
def run():
    return run_in_netns("tests.webrtc.scenarios.precall_worker", timeout=200)


def test_the_worker_listens_on_the_precall_channel_of_the_redis_layer(run):
    assert run["layer"] == "RedisPubSubChannelLayer"
    assert run["status"] == {
        "type": "precall.status.reply",
        "active": 0,
        "max_concurrent": 1,
        "max_seconds": 3.0,
    }


def test_a_start_through_the_layer_is_answered_and_the_echo_comes_back(run):
    assert run["answer"]["type"] == "precall.answer"
    assert run["answer"]["ref"] == "r-1"
    assert run["answer"]["session_id"].startswith("pc-")
    assert run["echo_frames"]["audio"] >= 10
    assert run["echo_frames"]["video"] >= 10


def test_the_report_reaches_the_socket_with_a_verdict(run):
    report = run["report"]
    assert report["type"] == "precall.result"
    assert report["ref"] == "r-3"
    assert report["verdict_code"] == "good"
    assert report["verdict"] == "Your connection is good."
    assert report["relay_used"] is False
    assert report["rtt_ms"] is not None


def test_a_second_test_over_the_limit_gets_precall_busy(run):
    assert run["busy"]["type"] == "precall.error"
    assert run["busy"]["code"] == "precall_busy"
    assert run["busy"]["ref"] == "r-2"


def test_a_request_missing_a_field_is_answered_with_an_error_not_a_crash(run):
    assert run["malformed"]["type"] == "precall.error"
    assert run["malformed"]["code"] == "invalid_request"
    # ...and the worker went on to serve everything after it.
    assert run["stopped"]["type"] == "precall.stopped"


def test_only_the_owner_can_read_a_report(run):
    assert run["someone_elses_report"]["code"] == "precall_not_found"


def test_stop_closes_the_persons_peer_connection(run):
    assert run["stopped"] == {
        "type": "precall.stopped",
        "session_id": run["answer"]["session_id"],
        "ref": "r-4",
    }
    assert run["client_state_after_stop"] == "closed"


def test_the_time_limit_is_announced_with_precall_closed(run):
    assert run["time_limited"]["type"] == "precall.closed"
    assert run["time_limited"]["reason"] == "time_limit"


def test_sigterm_closes_running_tests_and_the_worker_exits_cleanly(run):
    assert run["client_state_after_sigterm"] == "closed"
    assert run["exit_code"] == 0
    assert "closed (shutdown)" in run["worker_log"]
    assert "Pre-call worker stopped." in run["worker_log"]
