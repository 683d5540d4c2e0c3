"""Wire protocol v1: the envelope, every client frame's schema, error codes and close codes.

This module is the one place that names them; docs/protocol.md is its reference text and
tests/realtime/test_protocol_docs.py keeps the two in step.

Frames are parsed at the edge into pydantic models with `extra="forbid"` (pydantic rather than
dataclasses: it gives field-level error messages for free, rejects unknown fields, and the
REST layer already uses it through django-ninja). Inside, code trusts the types.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROTOCOL_VERSION = 1

# The application's own cap on one text frame; signal.send may carry an SDP of up to 64 KiB,
# so it gets a larger one. Daphne's --websocket-max-message-size (128 KiB) sits above both so
# that an oversized frame gets an `error` frame instead of a bare close.
MAX_FRAME_BYTES_DEFAULT = 16 * 1024
MAX_SIGNAL_FRAME_BYTES = 80 * 1024


class CloseCode(IntEnum):
    """Close codes the server uses. 4xxx codes reach the client only because the consumer
    accepts before it closes (a close before accept becomes a bare HTTP 403 in daphne)."""

    NOT_AUTHENTICATED = 4401
    FORBIDDEN = 4403  # not a member of the room, or banned
    NO_SUCH_ROOM = 4404
    TOO_MANY_SOCKETS = 4409
    SESSION_ENDED = 4410
    DENIED = 4411  # a moderator denied entry from the waiting room
    REMOVED = 4412  # removed (or banned) by a moderator: do not reconnect
    # PostgreSQL or Redis is briefly unreachable: reconnect with backoff and `after_seq`.
    # (Not the standard 1013: daphne's autobahn only lets a server send 1000 or 3000-4999.)
    TRY_AGAIN_LATER = 4503


# Close codes after which a client must NOT reconnect by itself.
FINAL_CLOSE_CODES = frozenset(
    {
        CloseCode.NOT_AUTHENTICATED,
        CloseCode.FORBIDDEN,
        CloseCode.NO_SUCH_ROOM,
        CloseCode.SESSION_ENDED,
        CloseCode.DENIED,
        CloseCode.REMOVED,
    }
)

# Error codes of `error` frames that the transport itself produces. Domain codes (chat_muted,
# body_empty, not_admitted, ...) come from rooms/ and signaling/ services; docs/protocol.md
# lists them all.
ERROR_INVALID_JSON = "invalid_json"
ERROR_BINARY = "binary_not_supported"
ERROR_TOO_LARGE = "frame_too_large"
ERROR_VERSION = "unsupported_version"
ERROR_UNKNOWN_TYPE = "unknown_type"
ERROR_INVALID_FRAME = "invalid_frame"
ERROR_RATE_LIMITED = "rate_limited"
ERROR_UNAVAILABLE = "unavailable"
ERROR_INTERNAL = "internal_error"
ERROR_NOT_ADMITTED = "not_admitted"


class FrameError(Exception):
    """A frame the transport refuses before any service sees it."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


# --- client frame payloads -----------------------------------------------------------------


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Empty(Payload):
    pass


class ChatSend(Payload):
    client_msg_id: str = Field(min_length=1, max_length=64)
    body: str = Field(max_length=20000)  # the 4000-character rule is the service's


class ChatHistory(Payload):
    before_seq: int | None = Field(default=None, ge=0)
    after_seq: int | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=100)


class ChatRead(Payload):
    seq: int = Field(ge=0)


class TypingSet(Payload):
    active: bool


class MediaSet(Payload):
    audio: bool | None = None
    video: bool | None = None


class SignalSend(Payload):
    to: str = Field(min_length=1, max_length=32)
    description: dict[str, Any] | None = None
    candidate: dict[str, Any] | None = None
    restart: bool = False


class PrecallOffer(Payload):
    sdp: str = Field(min_length=1, max_length=64 * 1024)


class ParticipantTarget(Payload):
    participant: str = Field(min_length=1, max_length=32)


class HandLower(Payload):
    participant: str | None = Field(default=None, max_length=32)


class ModMute(Payload):
    participant: str = Field(min_length=1, max_length=32)
    audio: bool = False
    video: bool = False
    chat: bool = False


class ModUnmute(Payload):
    participant: str = Field(min_length=1, max_length=32)
    audio: bool = True
    video: bool = True
    chat: bool = True


class ModMuteAll(Payload):
    audio: bool = True
    video: bool = False
    chat: bool = False


class ModRemove(Payload):
    participant: str = Field(min_length=1, max_length=32)
    ban: bool = False


class ModLock(Payload):
    locked: bool


# Every client frame type and its payload schema: the one list the consumer dispatches on.
CLIENT_FRAMES: dict[str, type[Payload]] = {
    "ping": Empty,
    "chat.send": ChatSend,
    "chat.history": ChatHistory,
    "chat.read": ChatRead,
    "typing.set": TypingSet,
    "media.set": MediaSet,
    "hand.raise": Empty,
    "hand.lower": HandLower,
    "signal.send": SignalSend,
    "ice.refresh": Empty,
    "precall.offer": PrecallOffer,
    "precall.report": Empty,
    "precall.stop": Empty,
    "mod.admit": ParticipantTarget,
    "mod.deny": ParticipantTarget,
    "mod.return_to_lobby": ParticipantTarget,
    "mod.mute": ModMute,
    "mod.unmute": ModUnmute,
    "mod.mute_all": ModMuteAll,
    "mod.remove": ModRemove,
    "mod.unban": ParticipantTarget,
    "mod.lock": ModLock,
    "mod.lower_all_hands": Empty,
    "mod.end": Empty,
    "mod.reopen": Empty,
}

# Frames a person in the waiting room may send; everything else gets `not_admitted`.
LOBBY_FRAMES = frozenset({"ping", "precall.offer", "precall.report", "precall.stop"})


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    v: Literal[1]
    type: str = Field(min_length=1, max_length=64)
    id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("id must be printable text")
        return value


class ClientFrame(BaseModel):
    """A parsed, validated client frame."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    type: str
    id: str | None
    payload: Payload


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _describe(error: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "data"
        fields[location] = problem["msg"]
    return fields


def frame_ref(text: str) -> str | None:
    """Best-effort `id` of a frame that failed to parse, so its error can carry `ref`."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and len(raw["id"]) <= 64:
        return raw["id"]
    return None


def parse_frame(text: str, *, max_frame_bytes: int = MAX_FRAME_BYTES_DEFAULT) -> ClientFrame:
    """Parse one text frame; raise FrameError with the code the client will see."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_SIGNAL_FRAME_BYTES:
        raise FrameError(
            ERROR_TOO_LARGE,
            f"That message is too large ({size} bytes).",
            {"limit": MAX_SIGNAL_FRAME_BYTES, "size": size},
        )
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise FrameError(ERROR_INVALID_JSON, "That message is not valid JSON.") from exc
    if not isinstance(raw, dict):
        raise FrameError(ERROR_INVALID_JSON, "A frame must be a JSON object.")
    if raw.get("v") != PROTOCOL_VERSION:
        raise FrameError(
            ERROR_VERSION,
            f"This server speaks protocol version {PROTOCOL_VERSION}.",
            {"supported": [PROTOCOL_VERSION]},
        )
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise FrameError(
            ERROR_INVALID_FRAME,
            "That message is missing a field or has a wrong one.",
            {"fields": _describe(exc)},
        ) from exc
    schema = CLIENT_FRAMES.get(envelope.type)
    if schema is None:
        raise FrameError(
            ERROR_UNKNOWN_TYPE,
            f"Unknown message type {envelope.type[:64]!r}.",
            {"type": envelope.type[:64]},
        )
    limit = MAX_SIGNAL_FRAME_BYTES if envelope.type == "signal.send" else max_frame_bytes
    if size > limit:
        raise FrameError(
            ERROR_TOO_LARGE,
            f"That message is too large ({size} bytes).",
            {"limit": limit, "size": size},
        )
    try:
        payload = schema.model_validate(envelope.data)
    except ValidationError as exc:
        raise FrameError(
            ERROR_INVALID_FRAME,
            "That message is missing a field or has a wrong one.",
            {"fields": _describe(exc)},
        ) from exc
    return ClientFrame(type=envelope.type, id=envelope.id, payload=payload)


# --- server frames -------------------------------------------------------------------------


def server_frame(type_: str, data: dict[str, Any], *, ref: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": type_}
    if ref is not None:
        frame["ref"] = ref
    frame["data"] = data
    return frame


def ack_frame(ref: str | None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return server_frame("ack", data or {}, ref=ref)


def error_frame(
    code: str, message: str, *, ref: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "error"}
    if ref is not None:
        frame["ref"] = ref
    frame["error"] = {"code": code, "message": message, "details": details or {}}
    return frame


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
