"""The ICE servers a participant's browser uses: STUN and TURN URLs from settings, with TURN
credentials issued per participant (signaling/turn.py) and the moment to ask for new ones.

The result is plain JSON values so it can go into `welcome`, an `ice.refresh` reply and a
channel-layer message unchanged. Issue it only to admitted participants: a TURN REST
credential cannot be revoked before it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from signaling.turn import turn_credentials

# The client asks for fresh credentials after this share of their lifetime, so a slow
# `ice.refresh` round trip or a clock a little off still leaves them valid.
REFRESH_FRACTION = 0.8


@dataclass(frozen=True, slots=True)
class IceConfig:
    """`ice_servers` in RTCConfiguration.iceServers shape; `expires_at` (ISO 8601, UTC) and
    `refresh_after` (seconds from now) are None when nothing expires (no TURN configured)."""

    ice_servers: list[dict[str, Any]]
    expires_at: str | None
    refresh_after: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ice_servers": [dict(server) for server in self.ice_servers],
            "expires_at": self.expires_at,
            "refresh_after": self.refresh_after,
        }


def ice_config_build(
    *,
    participant_id: str,
    stun_urls: list[str],
    turn_urls: list[str],
    turn_secret: str,
    ttl_seconds: int,
    now: datetime,
) -> IceConfig:
    """The configuration from explicit values (ice_servers_for reads them from settings)."""
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    expires_at: str | None = None
    refresh_after: int | None = None
    if turn_urls and turn_secret:
        credential = turn_credentials(
            secret=turn_secret, participant_id=participant_id, ttl_seconds=ttl_seconds, now=now
        )
        servers.append(
            {
                "urls": list(turn_urls),
                "username": credential.username,
                "credential": credential.password,
            }
        )
        expires_at = credential.expires_at.isoformat().replace("+00:00", "Z")
        refresh_after = max(1, int(ttl_seconds * REFRESH_FRACTION))
    return IceConfig(ice_servers=servers, expires_at=expires_at, refresh_after=refresh_after)


def ice_servers_for(*, participant_id: str, now: datetime | None = None) -> IceConfig:
    """ICE servers for one admitted participant, from STUN_URLS, TURN_URLS, TURN_SECRET and
    TURN_CREDENTIAL_TTL_SECONDS. TURN is left out when TURN_URLS or TURN_SECRET is empty
    (the system check in signaling/checks.py reports that combination)."""
    return ice_config_build(
        participant_id=participant_id,
        stun_urls=list(settings.STUN_URLS),
        turn_urls=list(settings.TURN_URLS),
        turn_secret=settings.TURN_SECRET,
        ttl_seconds=int(settings.TURN_CREDENTIAL_TTL_SECONDS),
        now=now or datetime.now(UTC),
    )
