"""The pre-call test peer (signaling.precall.PrecallRegistry) against a real aiortc client."""

import pytest

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


@pytest.fixture(scope="module")
def echo():
    return run_in_netns("tests.webrtc.scenarios.precall_echo", timeout=120)


def test_a_person_sees_and_hears_themself_and_gets_a_plain_verdict(echo):
    result = echo["echo"]
    assert result["answer_has_candidates"]
    assert result["frames"]["audio"] >= 10
    assert result["frames"]["video"] >= 10
    report = result["report"]
    assert report["rtt_ms"] is not None
    assert 0 <= report["rtt_ms"] < 200  # loopback
    assert report["packet_loss_pct"] == 0.0
    assert report["relay_used"] is False
    assert report["verdict_code"] == "good"
    assert report["verdict"] == "Your connection is good."
    assert report["audio_received"] is True
    assert report["video_received"] is True


def test_the_test_peer_answers_pings_and_pings_back(echo):
    assert echo["echo"]["pongs"] == [12345.5]
    assert echo["echo"]["server_pings_answered"] >= 1


def test_someone_elses_test_is_not_found(echo):
    assert echo["other_owner_code"] == "precall_not_found"


def test_one_test_more_than_the_limit_is_refused_as_busy(echo):
    assert echo["active_at_limit"] == 2
    assert echo["third"]["code"] == "precall_busy"
    assert "try again" in echo["third"]["message"]


def test_an_offer_with_nothing_to_test_is_refused_and_takes_no_slot(echo):
    assert echo["garbage_code"] == "invalid_description"
    assert echo["active_after_garbage"] == 1


def test_when_the_person_leaves_the_slot_is_freed_at_once(echo):
    leaver = echo["leaver"]
    assert leaver["active_after"] == leaver["active_before"] - 1
    assert leaver["noticed_after_s"] < 5


def test_a_test_ends_by_itself_after_max_seconds_and_the_person_is_told():
    result = run_in_netns("tests.webrtc.scenarios.precall_limits", "time_limit", timeout=120)
    assert result["max_seconds"] == 2.0
    assert result["active_while_running"] == 1
    assert 2.0 <= result["closed_after_s"] < 5.0
    [(to, message)] = result["sent"]
    assert to == "specific.reply!abc"
    assert message["type"] == "precall.closed"
    assert message["reason"] == "time_limit"
    assert result["client_state"] == "closed"
    assert result["active_after"] == 0
    assert result["tasks_after"] == 0
    assert result["report_code"] == "precall_not_found"


def test_twenty_tests_in_a_row_leave_nothing_behind():
    result = run_in_netns("tests.webrtc.scenarios.precall_limits", "leaks", timeout=300)
    assert result["baseline"]["RTCPeerConnection"] == 0
    # The census does see a running test (client and server side)...
    during = result["during_first"]
    assert during["RTCPeerConnection"] == 2
    assert during["EchoTrack"] == 2
    assert during["decoder_threads"] >= 4
    assert during["udp_sockets"] > result["baseline"]["udp_sockets"]
    # ...and after twenty of them, with half ended by the person leaving, nothing remains.
    assert result["after"] == result["baseline"]
    assert result["registry"] == {"active": 0, "tasks": 0}
