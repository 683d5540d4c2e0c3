"""Real aiortc peers in a private network namespace, signaling through the relay rules."""

import pytest

from tests.webrtc.netns import run_in_netns

pytestmark = pytest.mark.webrtc


def test_a_scenario_runs_where_only_loopback_exists_and_aioice_gathers_127_0_0_2():
    result = run_in_netns("tests.webrtc.scenarios.isolation", timeout=60)
    assert result["interfaces"] == ["lo"]
    assert result["host_candidates"]
    assert {candidate["host"] for candidate in result["host_candidates"]} == {"127.0.0.2"}
    assert result["default_route"] is False


def test_two_peers_connect_and_exchange_audio_video_and_a_data_channel_message():
    result = run_in_netns("tests.webrtc.scenarios.two_peers", timeout=90)
    assert result["errors"] == []
    for me, other in (("p-3", "p-7"), ("p-7", "p-3")):
        peer = result["peers"][me]
        assert peer["state"] == "connected"
        assert peer["frames"]["audio"] >= 10
        assert peer["frames"]["video"] >= 10
        assert peer["messages"] == [f"hello from {other}"]
        assert peer["pair"] == ["host", "host"]
        assert all(" 127.0.0.2 " in line for line in peer["local_candidates"])


def test_when_both_offer_at_once_the_polite_peer_gives_way_and_both_connect():
    result = run_in_netns("tests.webrtc.scenarios.glare", timeout=90)
    assert result["errors"] == []
    assert result["states_when_offers_crossed"] == {
        "p-3": "have-local-offer",
        "p-7": "have-local-offer",
    }
    impolite, polite = result["peers"]["p-3"], result["peers"]["p-7"]
    assert (impolite["polite"], polite["polite"]) == (False, True)
    assert impolite["ignored_offers"] == 1
    assert impolite["rollbacks"] == 0
    assert polite["rollbacks"] == 1
    assert polite["ignored_offers"] == 0
    for peer, other in ((impolite, "p-7"), (polite, "p-3")):
        assert peer["state"] == "connected"
        assert peer["signaling_state"] == "stable"
        assert peer["frames"]["audio"] >= 10
        assert peer["frames"]["video"] >= 10
        assert peer["messages"] == [f"hello from {other}"]


def test_the_namespace_can_host_redis_and_two_daphne_instances_on_postgresql():
    result = run_in_netns("tests.webrtc.scenarios.servers_smoke", "postgres", timeout=120)
    assert len(result["ready"]) == 2
    for ready in result["ready"]:
        assert ready["status"] == 200
        assert ready["body"]["database"] == "ok"
        assert ready["body"]["redis"] == "ok"
