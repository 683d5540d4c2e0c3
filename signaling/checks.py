"""Configuration checks for WebRTC settings, run by `manage.py check` and at start-up.

A missing TURN secret does not break anything visible on a developer's laptop; it breaks
calls for families behind strict home routers. So it is reported before anyone joins.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

MIN_SECRET_CHARS = 16
MAX_TTL_SECONDS = 24 * 3600


def _bad_urls(urls: list[str], schemes: tuple[str, ...]) -> list[str]:
    return [url for url in urls if not url.startswith(schemes)]


@register(Tags.compatibility)
def check_webrtc_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    stun_urls = list(settings.STUN_URLS)
    turn_urls = list(settings.TURN_URLS)
    secret = settings.TURN_SECRET
    ttl = int(settings.TURN_CREDENTIAL_TTL_SECONDS)
    if bad := _bad_urls(stun_urls, ("stun:", "stuns:")):
        problems.append(
            Error(
                f"STUN_URLS must start with stun: or stuns: ({', '.join(bad)}).",
                id="signaling.E001",
            )
        )
    if bad := _bad_urls(turn_urls, ("turn:", "turns:")):
        problems.append(
            Error(
                f"TURN_URLS must start with turn: or turns: ({', '.join(bad)}).",
                id="signaling.E002",
            )
        )
    if turn_urls and not secret:
        problems.append(
            Error(
                "TURN_URLS is set but TURN_SECRET is empty, so no TURN credentials can be "
                "issued and families behind strict routers cannot connect.",
                hint="Set TURN_SECRET to coturn's static-auth-secret (docs/operations.md).",
                id="signaling.E003",
            )
        )
    if secret and not turn_urls:
        problems.append(
            Warning(
                "TURN_SECRET is set but TURN_URLS is empty: no TURN server is offered.",
                id="signaling.W001",
            )
        )
    if secret and len(secret) < MIN_SECRET_CHARS:
        problems.append(
            Warning(
                f"TURN_SECRET is shorter than {MIN_SECRET_CHARS} characters.",
                hint="Use e.g. `openssl rand -hex 32`.",
                id="signaling.W002",
            )
        )
    if ttl <= 0:
        problems.append(Error("TURN_CREDENTIAL_TTL_SECONDS must be positive.", id="signaling.E004"))
    elif ttl > MAX_TTL_SECONDS:
        problems.append(
            Warning(
                "TURN_CREDENTIAL_TTL_SECONDS is over a day; TURN credentials cannot be revoked "
                "before they expire, so a removed person keeps relay access that long.",
                id="signaling.W003",
            )
        )
    if int(settings.PRECALL_MAX_CONCURRENT) < 0 or int(settings.PRECALL_MAX_SECONDS) <= 0:
        problems.append(
            Error(
                "PRECALL_MAX_CONCURRENT must be >= 0 and PRECALL_MAX_SECONDS > 0.",
                id="signaling.E005",
            )
        )
    return problems
