"""Integration fixtures: real daphne processes over real Redis and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.servers import DaphneServer, child_database_url, daphne_instances

pytestmark = pytest.mark.integration


def server_env(**extra: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": child_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        # A prefix per test keeps parallel runs and earlier tests out of each other's groups.
        "CHANNEL_LAYER_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_SIZE": "8",  # production behaviour, whatever the test process uses
        # Load from one test client is not a flood; the limits have their own tests.
        "CHAT_RATE_PER_10S": "10000",
        "SIGNAL_RATE_PER_10S": "10000",
    }
    env.update(extra)
    return env


@pytest.fixture
def two_instances(transactional_db: Any) -> Iterator[list[DaphneServer]]:
    with daphne_instances(2, env=server_env()) as servers:
        yield servers


def cookie_for(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def open_room(transactional_db: Any, make_user: Any) -> dict[str, Any]:
    """A support group with the waiting room off and eight members (therapist first)."""
    from rooms import services

    therapist = make_user("dana", staff_role="therapist")
    room = services.room_create(
        owner=therapist, kind="support_group", name="Tuesday group", waiting_room_enabled=False
    )
    people = [therapist]
    for n in range(7):
        user = make_user(f"member{n}")
        services.membership_add(actor=therapist, room=room, user=user, role="family")
        people.append(user)
    return {"room": room, "people": people, "cookies": [cookie_for(p) for p in people]}
