"""Suite-wide set-up. `make test` runs against real PostgreSQL and real Redis; if either is not
reachable the run stops at once and says which and how to start it (never a silent fallback
to SQLite or the in-memory layer)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

START_HINTS = {
    "postgres": ("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "redis": (
        "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
    ),
}


def _check_postgres(url: str) -> str | None:
    import psycopg

    if not url.startswith(("postgres://", "postgresql://")):
        return (
            f"DATABASE_URL={url!r} is not PostgreSQL. The suite needs a real PostgreSQL; "
            "run it through `make test` or set DATABASE_URL=postgres://..."
        )
    try:
        # Reach the server, not the test database (pytest-django creates that itself).
        conn = psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3)
        conn.close()
    except Exception as exc:  # noqa: BLE001 - report whatever stops the connection
        return (
            f"PostgreSQL is not reachable at {url} ({type(exc).__name__}: {exc}).\n"
            f"Start it with: {START_HINTS['postgres']}"
        )
    return None


def _check_redis(url: str) -> str | None:
    import redis

    if not url:
        return (
            "REDIS_URL is empty. The suite needs a real Redis; run it through `make test` "
            "or set REDIS_URL=redis://127.0.0.1:6379/0"
        )
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return (
            f"Redis is not reachable at {url} ({type(exc).__name__}: {exc}).\n"
            f"Start it with: {START_HINTS['redis']}"
        )
    return None


def pytest_configure(config: pytest.Config) -> None:
    problems = [
        problem
        for problem in (
            _check_postgres(os.environ.get("DATABASE_URL", "")),
            _check_redis(os.environ.get("REDIS_URL", "")),
        )
        if problem
    ]
    if problems:
        pytest.exit("\n\n".join(["The test suite cannot run:", *problems]), returncode=3)


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from rooms.models import User

    counter = {"n": 0}

    def make(
        name: str | None = None, *, staff_role: str = "", time_zone: str = "UTC", **extra: Any
    ) -> User:
        counter["n"] += 1
        username = name or f"user{counter['n']}@test.hearth"
        if "@" not in username:
            username = f"{username}@test.hearth"
        return User.objects.create_user(
            username=username,
            email=username,
            password="correct-horse-battery",
            display_name=username.split("@")[0].title(),
            staff_role=staff_role,
            time_zone=time_zone,
            **extra,
        )

    return make


@pytest.fixture
def therapist(make_user: Callable[..., Any]) -> Any:
    return make_user("dana", staff_role="therapist", time_zone="America/Chicago")


@pytest.fixture
def family_room(therapist: Any, make_user: Callable[..., Any]) -> Any:
    """A family session owned by `therapist` with a client and one family member."""
    from rooms import services

    room = services.room_create(owner=therapist, kind="family_session", name="Morgan family")
    client = make_user("alex")
    mother = make_user("jordan", time_zone="America/New_York")
    services.membership_add(actor=therapist, room=room, user=client, role="client")
    services.membership_add(
        actor=therapist, room=room, user=mother, role="family", relationship="mother"
    )
    room.test_client_user = client  # type: ignore[attr-defined]
    room.test_family_user = mother  # type: ignore[attr-defined]
    return room
