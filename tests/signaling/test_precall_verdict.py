"""The pre-call verdict and the reduction of aiortc stats, without any network."""

import datetime

import pytest
from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats

from signaling.precall import precall_verdict, summarise_stats

NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


def inbound(kind: str, received: int, lost: int) -> RTCInboundRtpStreamStats:
    return RTCInboundRtpStreamStats(
        timestamp=NOW, type="inbound-rtp", id=f"in-{kind}", ssrc=1, kind=kind, transportId="t",
        packetsReceived=received, packetsLost=lost, jitter=0,
    )  # fmt: skip


def remote_inbound(kind: str, received: int, lost: int, rtt: float | None):
    return RTCRemoteInboundRtpStreamStats(
        timestamp=NOW, type="remote-inbound-rtp", id=f"rin-{kind}", ssrc=2, kind=kind,
        transportId="t", packetsReceived=received, packetsLost=lost, jitter=0,
        roundTripTime=rtt, fractionLost=0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rtt_ms", "loss", "code", "text"),
    [
        (40, 0.0, "good", "Your connection is good."),
        (None, 1.0, "good", "Your connection is good."),
        (450, 0.0, "audio_only", "Video may freeze: we will start with audio only."),
        (40, 5.0, "audio_only", "Video may freeze: we will start with audio only."),
        (900, 0.0, "poor", "Your connection is weak: try moving closer to your Wi-Fi router."),
        (40, 12.0, "poor", "Your connection is weak: try moving closer to your Wi-Fi router."),
    ],
)
def test_the_verdict_is_a_plain_sentence_for_each_kind_of_connection(rtt_ms, loss, code, text):
    assert precall_verdict(rtt_ms=rtt_ms, packet_loss_pct=loss) == (code, text)


def test_loss_is_the_worse_of_the_two_directions():
    summary = summarise_stats([inbound("video", 990, 10), remote_inbound("video", 900, 100, 0.05)])
    assert summary.packet_loss_pct == pytest.approx(10.0)


def test_round_trip_comes_from_receiver_reports_in_milliseconds():
    summary = summarise_stats([remote_inbound("audio", 50, 0, 0.120)])
    assert summary.rtt_ms == pytest.approx(120.0)


def test_nothing_measured_yet_means_no_numbers():
    summary = summarise_stats([])
    assert summary.rtt_ms is None
    assert summary.packet_loss_pct is None


def test_packets_are_counted_per_kind():
    summary = summarise_stats([inbound("audio", 50, 0), inbound("video", 70, 1)])
    assert summary.packets_received == {"audio": 50, "video": 70}
