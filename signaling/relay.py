"""Rules for relaying `signal.send` between participants, without any transport.

`parse_signal` turns the untrusted `data` of a `signal.send` frame into a SignalPayload or
raises a DomainError with its own code; `check_may_signal` (or `signal_check_participants`,
which takes the rows) decides whether the sender may reach the target. The consumer in
realtime/ then delivers `payload.event_data(sender_id=...)` as the `signal` event: the server
sets `from`, never the client.

Why this matters beyond tidiness: the SDP carries the DTLS fingerprint that authenticates the
media, so whoever can inject signaling can sit in the middle of a call (RFC 8826/8827).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from signaling.errors import (
    InvalidCandidate,
    InvalidDescription,
    InvalidSignal,
    NoSuchParticipant,
    NotAdmitted,
    SdpTooLarge,
)

if TYPE_CHECKING:
    from rooms.models import Participant

MAX_SDP_BYTES = 64 * 1024
MAX_CANDIDATE_BYTES = 1024
MAX_TARGET_CHARS = 64
MAX_MID_CHARS = 64
MAX_UFRAG_CHARS = 256
MAX_MLINE_INDEX = 1023

DescriptionType = Literal["offer", "answer", "rollback", "pranswer"]
DESCRIPTION_TYPES: frozenset[str] = frozenset({"offer", "answer", "rollback", "pranswer"})

SIGNAL_KEYS: frozenset[str] = frozenset({"to", "description", "candidate", "restart"})
DESCRIPTION_KEYS: frozenset[str] = frozenset({"type", "sdp"})
CANDIDATE_KEYS: frozenset[str] = frozenset(
    {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}
)

# RFC 5245 section 15.1 candidate-attribute, loosely: foundation, component, transport,
# priority, address (IPv4, IPv6 or an mDNS/FQDN name), port, "typ" and type, then optional
# raddr/rport and extensions as printable tokens. No control characters anywhere, so a
# candidate can never smuggle extra SDP lines.
CANDIDATE_RE = re.compile(
    r"candidate:(?P<foundation>[A-Za-z0-9+/]{1,32})"
    r" (?P<component>[0-9]{1,3})"
    r" (?P<transport>(?i:udp|tcp))"
    r" (?P<priority>[0-9]{1,10})"
    r" (?P<address>[0-9A-Za-z.:\-]{1,253})"
    r" (?P<port>[0-9]{1,5})"
    r" typ (?P<type>host|srflx|prflx|relay)"
    r"(?P<extensions>( [\x21-\x7e]+)*)"
)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    type: DescriptionType
    sdp: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sdp": self.sdp}


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """`candidate` is "" for end-of-candidates (as browsers send it)."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None
    username_fragment: str | None

    @property
    def is_end_of_candidates(self) -> bool:
        return self.candidate == ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
            "usernameFragment": self.username_fragment,
        }


@dataclass(frozen=True, slots=True)
class SignalPayload:
    """A validated `signal.send`: exactly one of `description` and `candidate` is set. `to` is
    None when the caller parsed the recipient itself (realtime's frame schema does)."""

    to: str | None = None
    description: SessionDescription | None = None
    candidate: IceCandidate | None = None
    restart: bool = False

    def as_wire(self) -> dict[str, Any]:
        """The relayed part of the `signal` event: description or candidate, and `restart`
        when set. Only known keys, normalised: nothing the client added travels on."""
        data: dict[str, Any] = {}
        if self.description is not None:
            data["description"] = self.description.as_dict()
        if self.candidate is not None:
            data["candidate"] = self.candidate.as_dict()
        if self.restart:
            data["restart"] = True
        return data

    def event_data(self, *, sender_id: str) -> dict[str, Any]:
        """The whole `data` of the `signal` event; `from` is the server's word, never the
        client's."""
        return {"from": sender_id, **self.as_wire()}


def parse_description(value: Any) -> SessionDescription:
    if not isinstance(value, dict) or set(value) - DESCRIPTION_KEYS:
        raise InvalidDescription(details={"field": "description"})
    kind = value.get("type")
    sdp = value.get("sdp", "" if kind == "rollback" else None)
    if not isinstance(kind, str) or kind not in DESCRIPTION_TYPES:
        raise InvalidDescription(
            "A session description's type must be offer, answer, pranswer or rollback.",
            details={"field": "description.type"},
        )
    if not isinstance(sdp, str):
        raise InvalidDescription(
            "A session description needs its SDP text.", details={"field": "description.sdp"}
        )
    # Size before shape: an oversized SDP gets its own code whatever it contains.
    size = len(sdp.encode("utf-8"))
    if size > MAX_SDP_BYTES:
        raise SdpTooLarge(details={"limit_bytes": MAX_SDP_BYTES, "size_bytes": size})
    if kind != "rollback" and not sdp.startswith("v=0"):
        raise InvalidDescription(
            "The session description is not SDP (it must start with v=0).",
            details={"field": "description.sdp"},
        )
    return SessionDescription(type=kind, sdp=sdp)  # type: ignore[arg-type]


def _optional_str(value: Any, *, limit: int, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidCandidate(details={"field": field})
    return value


def parse_candidate(value: Any) -> IceCandidate:
    if not isinstance(value, dict) or set(value) - CANDIDATE_KEYS or "candidate" not in value:
        raise InvalidCandidate(details={"field": "candidate"})
    text = value["candidate"]
    if not isinstance(text, str) or len(text.encode("utf-8")) > MAX_CANDIDATE_BYTES:
        raise InvalidCandidate(details={"field": "candidate.candidate"})
    if text and not _candidate_ok(text):
        raise InvalidCandidate(
            "The ICE candidate does not follow the candidate grammar (RFC 5245).",
            details={"field": "candidate.candidate"},
        )
    mid = _optional_str(value.get("sdpMid"), limit=MAX_MID_CHARS, field="candidate.sdpMid")
    index = value.get("sdpMLineIndex")
    # bool is an int in Python; JSON true is not an m-line index.
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MAX_MLINE_INDEX
    ):
        raise InvalidCandidate(details={"field": "candidate.sdpMLineIndex"})
    ufrag = _optional_str(
        value.get("usernameFragment"), limit=MAX_UFRAG_CHARS, field="candidate.usernameFragment"
    )
    if text and mid is None and index is None:
        # addIceCandidate needs one of them to find the m-line (W3C webrtc-pc 4.4.1.6).
        raise InvalidCandidate(
            "An ICE candidate needs sdpMid or sdpMLineIndex.",
            details={"field": "candidate.sdpMid"},
        )
    return IceCandidate(candidate=text, sdp_mid=mid, sdp_mline_index=index, username_fragment=ufrag)


def _candidate_ok(text: str) -> bool:
    match = CANDIDATE_RE.fullmatch(text)
    if match is None:
        return False
    return 1 <= int(match["component"]) <= 256 and int(match["port"]) <= 65535


def parse_signal(data: Any) -> SignalPayload:
    """Validate the `data` of a `signal.send` frame (see docs/protocol.md for the shapes).

    `to` is checked when present and may be left out by a caller that validated it already."""
    if not isinstance(data, dict):
        raise InvalidSignal()
    unknown = set(data) - SIGNAL_KEYS
    if unknown:
        raise InvalidSignal(
            "A signal has only to, description, candidate and restart.",
            details={"unknown": sorted(str(key) for key in unknown)},
        )
    to = data.get("to")
    if "to" in data and (not isinstance(to, str) or not to or len(to) > MAX_TARGET_CHARS):
        raise InvalidSignal("A signal needs the recipient's participant id in `to`.")
    has_description = data.get("description") is not None
    has_candidate = data.get("candidate") is not None
    if has_description == has_candidate:
        raise InvalidSignal("A signal carries exactly one of description or candidate.")
    restart = data.get("restart", False)
    if not isinstance(restart, bool):
        raise InvalidSignal("`restart` is true or false.", details={"field": "restart"})
    if has_description:
        return SignalPayload(
            to=to, description=parse_description(data["description"]), restart=restart
        )
    return SignalPayload(to=to, candidate=parse_candidate(data["candidate"]), restart=restart)


def check_may_signal(
    *, sender_admitted: bool, target_exists_and_admitted_in_same_room: bool
) -> None:
    """Raise `not_admitted` if the sender is not admitted (checked first: a waiting person
    learns nothing about who is inside), `no_such_participant` if the target is unknown, not
    admitted, the sender themself, or in another room."""
    if not sender_admitted:
        raise NotAdmitted()
    if not target_exists_and_admitted_in_same_room:
        raise NoSuchParticipant()


def signal_check_participants(*, sender: Participant | None, target: Participant | None) -> None:
    """`check_may_signal` from the Participant rows the consumer looked up (None: no row)."""
    from rooms.models import ParticipantState

    sender_admitted = sender is not None and sender.state == ParticipantState.ADMITTED
    target_ok = (
        sender is not None
        and target is not None
        and target.pk != sender.pk
        and target.room_id == sender.room_id
        and target.state == ParticipantState.ADMITTED
    )
    check_may_signal(
        sender_admitted=sender_admitted, target_exists_and_admitted_in_same_room=target_ok
    )
