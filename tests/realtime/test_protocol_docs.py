"""docs/protocol.md is the reference for the wire protocol: every client frame type, every
error code a socket can receive and every close code must be documented there."""

from __future__ import annotations

import re
from pathlib import Path

from realtime import protocol
from realtime.protocol import CLIENT_FRAMES, CloseCode

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()

# Modules whose errors reach a websocket as `error` frames.
SOCKET_ERROR_SOURCES = [
    "rooms/messaging.py",
    "rooms/moderation.py",
    "signaling/relay.py",
    "realtime/consumer.py",
    "realtime/precall.py",
    "signaling/errors.py",
]


def documented_codes() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOC, flags=re.MULTILINE))


def test_every_client_frame_type_is_documented_with_an_example():
    for frame_type in CLIENT_FRAMES:
        assert f"| `{frame_type}` |" in DOC, f"{frame_type} missing from the frame table"
        assert f'"type":"{frame_type}"' in DOC, f"{frame_type} has no example"


def test_every_close_code_is_documented():
    for code in CloseCode:
        assert f"| {int(code)} |" in DOC, f"close code {int(code)} ({code.name}) undocumented"


def test_every_transport_error_code_is_documented():
    codes = {value for name, value in vars(protocol).items() if name.startswith("ERROR_")}
    missing = codes - documented_codes()
    assert not missing, f"undocumented error codes: {sorted(missing)}"


def test_every_error_code_a_service_can_send_to_a_socket_is_documented():
    found: set[str] = set()
    for relative in SOCKET_ERROR_SOURCES:
        path = ROOT / relative
        if path.exists():
            found |= set(re.findall(r"""code\s*=\s*["']([a-z_]+)["']""", path.read_text()))
    missing = found - documented_codes()
    assert not missing, f"undocumented error codes: {sorted(missing)}"
