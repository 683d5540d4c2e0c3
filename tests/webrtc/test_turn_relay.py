"""A real coturn (Debian's turnserver) checks the TURN REST credentials signaling issues."""

import pytest

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


def refused_lines(log: str, username: str) -> list[str]:
    return [line for line in log.splitlines() if f"user <{username}>" in line and "401" in line]


def test_two_peers_connect_through_coturn_with_relay_only_ice_and_issued_credentials():
    result = run_in_netns("tests.webrtc.scenarios.turn_relay", "relay", timeout=120)
    relay = result["relay"]
    assert relay["errors"] == []
    for me, other in (("p-3", "p-7"), ("p-7", "p-3")):
        peer = relay["peers"][me]
        assert peer["state"] == "connected"
        # Relay only: no host candidate was even offered, and ICE selected relay on both ends.
        assert peer["candidates"]
        assert all(" typ relay" in line for line in peer["candidates"])
        assert peer["pair"] == ["relay", "relay"]
        assert peer["frames"]["audio"] >= 10
        assert peer["frames"]["video"] >= 10
        assert peer["messages"] == [f"hello from {other}"]
        username = peer["username"]
        assert username.endswith(f":{me}")
        assert f"user <{username}>: incoming packet ALLOCATE processed, success" in result["log"]


def test_coturn_refuses_an_expired_credential_and_accepts_a_fresh_one():
    result = run_in_netns("tests.webrtc.scenarios.turn_relay", "expired", timeout=120)
    expired = result["expired"]["peers"]["p-3"]
    assert refused_lines(result["log"], expired["username"])
    assert (
        f"user <{expired['username']}>: incoming packet ALLOCATE processed, success"
        not in (result["log"])
    )
    assert expired["candidates"] == []
    assert expired["state"] != "connected"
    assert not any(expired["frames"].values())

    fresh = result["fresh"]["peers"]["p-3"]
    assert fresh["state"] == "connected"
    assert fresh["pair"] == ["relay", "relay"]
    assert not refused_lines(result["log"], fresh["username"])


def test_the_precall_report_says_a_relay_was_needed_only_when_the_persons_side_used_one():
    result = run_in_netns("tests.webrtc.scenarios.turn_relay", "precall", timeout=120)
    # The test peer has its own TURN credentials (user "<expiry>:precall") and offers both a
    # host and a relay candidate, as the worker on a private network must.
    assert "user <" in result["log"]
    assert ":precall>: incoming packet ALLOCATE processed, success" in result["log"]
    strict, direct = result["strict"], result["direct"]
    assert strict["server_answer_candidate_types"] == ["host", "relay"]
    assert strict["client_pair"][0] == "relay"
    assert strict["report"]["relay_used"] is True
    assert direct["client_pair"][0] == "host"
    assert direct["report"]["relay_used"] is False
    for run in (strict, direct):
        assert run["report"]["verdict_code"] == "good"
        assert run["report"]["video_received"] is True
