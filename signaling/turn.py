"""Time-limited TURN credentials in the TURN REST scheme that coturn checks with
`use-auth-secret` (draft-uberti-behave-turn-rest-00).

coturn recomputes the password from the username alone, so the server keeps no per-user
state: the username carries the expiry and the participant, the password is
base64(HMAC-SHA1(secret, username)). Such a credential cannot be revoked before it expires,
which is why the lifetime is short and credentials go only to admitted participants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# coturn's default `--rest-api-separator`; the part before it is the expiry in Unix seconds.
USERNAME_SEPARATOR = ":"


@dataclass(frozen=True, slots=True)
class TurnCredential:
    username: str
    password: str
    expires_at: datetime


def turn_password(*, secret: str, username: str) -> str:
    """The password coturn expects for `username`: base64 of HMAC-SHA1 keyed with the secret."""
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def turn_credentials(
    *, secret: str, participant_id: str, ttl_seconds: int, now: datetime
) -> TurnCredential:
    """A credential valid until `now + ttl_seconds` (whole seconds, rounded down).

    `now` must be timezone-aware; the username is f"{expiry_unix}:{participant_id}".
    """
    if not secret:
        raise ValueError("A TURN secret is required to issue TURN credentials.")
    if USERNAME_SEPARATOR in participant_id:
        # coturn splits on the first separator; a second one would change the identity it logs.
        raise ValueError(f"participant_id must not contain {USERNAME_SEPARATOR!r}.")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware.")
    expiry_unix = int((now + timedelta(seconds=ttl_seconds)).timestamp())
    username = f"{expiry_unix}{USERNAME_SEPARATOR}{participant_id}"
    return TurnCredential(
        username=username,
        password=turn_password(secret=secret, username=username),
        expires_at=datetime.fromtimestamp(expiry_unix, tz=UTC),
    )
