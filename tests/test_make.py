"""The two commands: `make test` refuses at once, and says how to fix it, when PostgreSQL or
Redis is missing; `make run` seeds the demo data once and its printed login works."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from rooms.management.commands.seed_demo import DEMO_PASSWORD, DEMO_PEOPLE
from rooms.models import Membership, Room, Session, User

ROOT = Path(__file__).resolve().parent.parent
# The child stops in pytest_configure, before collecting; a tiny file keeps it fast even if
# it did not.
TINY_TEST_FILE = "tests/rooms/test_smoke.py"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The demo seeds five accounts; PBKDF2 at full cost would dominate this file's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_suite_with(**env: str) -> tuple[int, str, float]:
    """Run pytest in a child process with `env` overriding ours; return code, output, seconds."""
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", TINY_TEST_FILE],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return child.returncode, child.stdout + child.stderr, time.monotonic() - started


def test_the_suite_stops_at_once_naming_redis_and_how_to_start_it():
    code, output, seconds = run_suite_with(REDIS_URL="redis://127.0.0.1:1/0")

    assert code != 0
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in output
    assert "Start it with: redis-server" in output
    assert "PostgreSQL" not in output
    assert seconds < 20
    assert "passed" not in output


def test_the_suite_stops_at_once_naming_postgresql_and_how_to_start_it():
    code, output, seconds = run_suite_with(DATABASE_URL="postgres://postgres@127.0.0.1:1/x")

    assert code != 0
    assert "PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/x" in output
    assert "Start it with: pg_ctlcluster" in output
    assert seconds < 20
    assert "passed" not in output


def test_the_suite_refuses_sqlite_instead_of_falling_back_to_it():
    code, output, _ = run_suite_with(DATABASE_URL="sqlite:///x")

    assert code != 0
    assert "is not PostgreSQL" in output
    assert "passed" not in output


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "rooms": Room.objects.count(),
        "memberships": Membership.objects.count(),
        "sessions": Session.objects.count(),
    }


@pytest.mark.django_db
def test_seeding_the_demo_twice_changes_nothing_the_second_time():
    call_command("seed_demo", verbosity=0)
    first = counts()

    call_command("seed_demo", verbosity=0)

    assert counts() == first
    assert first["users"] == len(DEMO_PEOPLE)


@pytest.mark.django_db
def test_the_demo_has_every_role_two_family_zones_and_each_kind_of_schedule():
    call_command("seed_demo", verbosity=0)

    staff = dict(User.objects.exclude(staff_role="").values_list("staff_role", "username"))
    assert set(staff) == {"therapist", "facilitator"}
    family = Membership.objects.filter(role="family").select_related("user")
    assert len({m.user.time_zone for m in family}) >= 2
    assert Membership.objects.filter(role="client").exists()
    rooms = {room.kind: room for room in Room.objects.all()}
    assert set(rooms) == {"family_session", "support_group", "care_thread"}
    assert rooms["care_thread"].waiting_room_enabled is False
    frequencies = {s.room.kind: s.frequency for s in Session.objects.select_related("room")}
    assert frequencies == {"family_session": "weekly", "support_group": "fortnightly"}
    assert Membership.objects.filter(
        room=rooms["support_group"], role="facilitator", user__username=staff["facilitator"]
    ).exists()


@pytest.mark.django_db
def test_the_demo_is_refused_in_production_mode(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="embedded mode"):
        call_command("seed_demo", verbosity=0)

    assert not User.objects.exists()


@pytest.mark.django_db
def test_the_printed_demo_login_works_through_the_api_with_csrf(capsys):
    call_command("seed_demo", verbosity=0)
    call_command("demo_banner", port=8123)
    banner = capsys.readouterr().out
    username = DEMO_PEOPLE[0][0]
    assert "http://127.0.0.1:8123/" in banner
    assert username in banner
    assert DEMO_PASSWORD in banner
    browser = Client(enforce_csrf_checks=True)
    token = browser.get("/api/auth/csrf").json()["csrf_token"]

    response = browser.post(
        "/api/auth/login",
        data={"username": username, "password": DEMO_PASSWORD},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 200
    assert browser.get("/api/me").json()["staff_role"] == "therapist"
    assert len(browser.get("/api/rooms").json()) == 3
