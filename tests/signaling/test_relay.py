import pytest

from rooms.errors import DomainError
from signaling.relay import MAX_SDP_BYTES, check_may_signal, parse_signal

OFFER_SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"

CHROME_SRFLX = (
    "candidate:842163049 1 udp 1677729535 203.0.113.5 54400 typ srflx raddr 192.168.1.2 "
    "rport 54400 generation 0 ufrag EsAw network-cost 999"
)
GOOD_CANDIDATES = [
    CHROME_SRFLX,
    "candidate:1 1 UDP 2122252543 3f1e6a8e-1b2c-4d7f-9e3a-0f1b2c3d4e5f.local 49152 typ host",
    "candidate:2 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active generation 0",
    "candidate:3 1 udp 2122262783 2001:db8::1 50000 typ host",
    "candidate:4 2 udp 41885439 198.51.100.7 3478 typ relay raddr 203.0.113.5 rport 54400",
    "candidate:3bf60621af2a3c4ddfa6cf7775c7851d 1 udp 16777215 127.0.0.2 40070 typ relay "
    "raddr 0.0.0.0 rport 9",
    "candidate:5 1 udp 1845501695 203.0.113.5 54400 typ prflx",
]
BAD_CANDIDATES = [
    "a=" + CHROME_SRFLX,
    "candidate:1 1 udp 2122252543 192.168.1.2 49152",
    "candidate:1 1 udp 2122252543 192.168.1.2 49152 typ bogus",
    "candidate:1 1 sctp 2122252543 192.168.1.2 49152 typ host",
    "candidate:1 1 udp 2122252543 192.168.1.2 70000 typ host",
    "candidate:1 0 udp 2122252543 192.168.1.2 49152 typ host",
    "candidate:1 1 udp 2122252543 192.168.1.2 49152 typ host\r\na=fingerprint:sha-256 AA",
    "candidate:1 1 udp 2122252543 192.168.1.2 49152 typ host " + "x" * 1024,
    "hello",
]


def code_of(data) -> str:
    with pytest.raises(DomainError) as caught:
        parse_signal(data)
    return caught.value.code


def test_an_offer_is_accepted_and_relayed_with_the_servers_from():
    payload = parse_signal({"to": "p-2", "description": {"type": "offer", "sdp": OFFER_SDP}})
    assert payload.to == "p-2"
    assert payload.event_data(sender_id="p-1") == {
        "from": "p-1",
        "description": {"type": "offer", "sdp": OFFER_SDP},
    }


def test_an_ice_restart_hint_travels_with_the_offer():
    payload = parse_signal(
        {"to": "p-2", "description": {"type": "offer", "sdp": OFFER_SDP}, "restart": True}
    )
    assert payload.event_data(sender_id="p-1")["restart"] is True


@pytest.mark.parametrize("candidate", GOOD_CANDIDATES)
def test_candidates_browsers_and_aiortc_produce_are_accepted(candidate):
    payload = parse_signal(
        {"to": "p-2", "candidate": {"candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0}}
    )
    assert payload.event_data(sender_id="p-1")["candidate"] == {
        "candidate": candidate,
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": None,
    }


def test_the_empty_candidate_means_end_of_candidates():
    payload = parse_signal({"to": "p-2", "candidate": {"candidate": "", "sdpMid": None}})
    assert payload.candidate is not None
    assert payload.candidate.is_end_of_candidates


@pytest.mark.parametrize("candidate", BAD_CANDIDATES)
def test_a_malformed_candidate_is_refused_as_invalid_candidate(candidate):
    assert code_of({"to": "p-2", "candidate": {"candidate": candidate, "sdpMid": "0"}}) == (
        "invalid_candidate"
    )


@pytest.mark.parametrize(
    "candidate",
    [
        {"candidate": CHROME_SRFLX},  # neither sdpMid nor sdpMLineIndex
        {"candidate": CHROME_SRFLX, "sdpMLineIndex": True},
        {"candidate": CHROME_SRFLX, "sdpMLineIndex": -1},
        {"candidate": CHROME_SRFLX, "sdpMid": 0},
        {"candidate": CHROME_SRFLX, "sdpMid": "0", "usernameFragment": 5},
        {"candidate": CHROME_SRFLX, "sdpMid": "0", "port": 1},
        {"sdpMid": "0"},
        {"candidate": None, "sdpMid": "0"},
        "candidate:1 1 udp 1 1.2.3.4 5 typ host",
    ],
)
def test_a_candidate_object_of_the_wrong_shape_is_refused(candidate):
    assert code_of({"to": "p-2", "candidate": candidate}) == "invalid_candidate"


def test_an_sdp_over_64_kib_is_refused_with_its_own_code():
    sdp = OFFER_SDP + "a=x-pad:" + "x" * MAX_SDP_BYTES
    assert code_of({"to": "p-2", "description": {"type": "offer", "sdp": sdp}}) == "sdp_too_large"


def test_the_sdp_limit_counts_utf8_bytes_not_characters():
    at_limit_chars = OFFER_SDP + "é" * ((MAX_SDP_BYTES - len(OFFER_SDP)) // 2 + 1)
    assert len(at_limit_chars) < MAX_SDP_BYTES
    description = {"type": "answer", "sdp": at_limit_chars}
    assert code_of({"to": "p-2", "description": description}) == "sdp_too_large"


def test_an_sdp_of_exactly_64_kib_is_accepted():
    sdp = OFFER_SDP + "x" * (MAX_SDP_BYTES - len(OFFER_SDP))
    assert parse_signal({"to": "p-2", "description": {"type": "offer", "sdp": sdp}})


@pytest.mark.parametrize(
    "description",
    [
        {"type": "offer"},
        {"type": "offer", "sdp": "hello"},
        {"type": "pranswer", "sdp": 12},
        {"type": "bogus", "sdp": OFFER_SDP},
        {"sdp": OFFER_SDP},
        {"type": "offer", "sdp": OFFER_SDP, "extra": 1},
        "v=0",
    ],
)
def test_a_description_of_the_wrong_shape_is_refused_as_invalid_description(description):
    assert code_of({"to": "p-2", "description": description}) == "invalid_description"


def test_a_rollback_needs_no_sdp():
    payload = parse_signal({"to": "p-2", "description": {"type": "rollback"}})
    assert payload.description is not None
    assert payload.description.as_dict() == {"type": "rollback", "sdp": ""}


@pytest.mark.parametrize(
    "data",
    [
        {"to": "p-2"},
        {},
        {
            "to": "p-2",
            "description": {"type": "offer", "sdp": OFFER_SDP},
            "candidate": {"candidate": "", "sdpMid": "0"},
        },
        {"to": None, "description": {"type": "offer", "sdp": OFFER_SDP}},
        {"to": 2, "description": {"type": "offer", "sdp": OFFER_SDP}},
        {"to": "", "description": {"type": "offer", "sdp": OFFER_SDP}},
        {"to": "p-2", "from": "p-9", "description": {"type": "offer", "sdp": OFFER_SDP}},
        {"to": "p-2", "description": {"type": "offer", "sdp": OFFER_SDP}, "restart": "yes"},
        ["p-2"],
    ],
)
def test_a_signal_without_one_recipient_and_one_payload_is_refused(data):
    assert code_of(data) == "invalid_signal"


def test_a_client_cannot_claim_to_be_someone_else():
    # `from` is refused at parse time, and the event's `from` comes only from the server.
    assert code_of({"to": "p-2", "from": "p-3", "candidate": {"candidate": ""}}) == (
        "invalid_signal"
    )


def test_a_person_in_the_waiting_room_may_not_signal():
    with pytest.raises(DomainError) as caught:
        check_may_signal(sender_admitted=False, target_exists_and_admitted_in_same_room=True)
    assert caught.value.code == "not_admitted"


def test_a_waiting_sender_learns_nothing_about_the_target():
    with pytest.raises(DomainError) as caught:
        check_may_signal(sender_admitted=False, target_exists_and_admitted_in_same_room=False)
    assert caught.value.code == "not_admitted"


def test_signalling_someone_not_admitted_here_is_no_such_participant():
    with pytest.raises(DomainError) as caught:
        check_may_signal(sender_admitted=True, target_exists_and_admitted_in_same_room=False)
    assert caught.value.code == "no_such_participant"


def test_two_admitted_participants_of_one_room_may_signal():
    check_may_signal(sender_admitted=True, target_exists_and_admitted_in_same_room=True)


def test_the_recipient_may_be_validated_by_the_caller_and_left_out():
    payload = parse_signal({"candidate": {"candidate": "", "sdpMid": "0"}, "restart": False})
    assert payload.to is None
    assert payload.as_wire() == {
        "candidate": {
            "candidate": "",
            "sdpMid": "0",
            "sdpMLineIndex": None,
            "usernameFragment": None,
        }
    }
