"""Scheduling over REST: one-off, weekly and fortnightly sessions with an end date or a count,
in the organiser's zone, listed as upcoming occurrences in each viewer's own zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from rooms import services
from rooms.models import AuditEvent, Session
from tests.rooms.apiclient import error_code, field_errors

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")
LONDON = ZoneInfo("Europe/London")


def soon(days: int = 1, hour: int = 18) -> datetime:
    """A naive wall-clock time `days` from today (Chicago), at `hour`."""
    today = timezone.now().astimezone(CHICAGO).date()
    return datetime.combine(today + timedelta(days=days), datetime.min.time()).replace(hour=hour)


def schedule(room, **fields):
    return {
        "room_id": str(room.pk),
        "starts_at_local": soon().isoformat(),
        "time_zone": "America/Chicago",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"frequency": "once"}, (None, None)),
        ({"frequency": "weekly", "count": 6}, (None, 6)),
        ({"frequency": "fortnightly", "until": "2027-06-30"}, ("2027-06-30", None)),
    ],
)
def test_the_owner_schedules_one_off_weekly_and_fortnightly_sessions(
    api_for, family_room, fields, expected
):
    response = api_for(family_room.owner).post(
        "/api/sessions", schedule(family_room, title="Family session", **fields)
    )

    assert response.status_code == 201
    body = response.json()
    assert body["frequency"] == fields["frequency"]
    assert (body["until"], body["count"]) == expected
    assert body["starts_at_local"] == soon().isoformat()
    assert body["time_zone"] == "America/Chicago"
    assert Session.objects.filter(pk=body["id"], room=family_room).exists()
    assert AuditEvent.objects.filter(action="session.created", room=family_room).exists()


@pytest.mark.parametrize(
    ("fields", "bad_fields"),
    [
        ({"time_zone": "Mars/Olympus"}, {"time_zone"}),
        ({"frequency": "daily"}, {"frequency"}),
        ({"duration_minutes": 2}, {"duration_minutes"}),
        ({"frequency": "weekly", "until": "2027-01-01", "count": 3}, {"until"}),
        ({"frequency": "weekly", "count": 0}, {"count"}),
        ({"frequency": "weekly", "until": "2020-01-01"}, {"until"}),
        ({"frequency": "weekly"}, {"until"}),
        ({"frequency": "once", "count": 3}, {"frequency"}),
        ({"starts_at_local": "2027-01-05T18:00:00Z", "count": 1}, {"starts_at_local"}),
        ({"starts_at_local": "next tuesday"}, {"starts_at_local"}),
        ({"time_zone": "Nowhere", "duration_minutes": 9999}, {"time_zone", "duration_minutes"}),
    ],
)
def test_a_bad_schedule_is_a_400_naming_each_field_and_writes_nothing(
    api_for, family_room, fields, bad_fields
):
    response = api_for(family_room.owner).post("/api/sessions", schedule(family_room, **fields))

    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert set(field_errors(response)) == bad_fields
    assert not Session.objects.exists()


def test_a_family_member_cannot_schedule_and_a_stranger_gets_404(api_for, family_room, make_user):
    family = api_for(family_room.test_family_user).post("/api/sessions", schedule(family_room))
    stranger = api_for(make_user(staff_role="therapist")).post(
        "/api/sessions", schedule(family_room)
    )

    assert family.status_code == 403
    assert stranger.status_code == 404
    assert not Session.objects.exists()


def test_upcoming_sessions_are_shown_in_the_callers_own_zone(api_for, family_room, make_user):
    services.membership_add(
        actor=family_room.owner,
        room=family_room,
        user=make_user("riley", time_zone="Europe/London"),
        role="family",
    )
    riley = family_room.memberships.get(user__username="riley@test.hearth").user
    api_for(family_room.owner).post(
        "/api/sessions", schedule(family_room, frequency="weekly", count=3)
    )

    occurrences = api_for(riley).get("/api/sessions/upcoming").json()

    assert len(occurrences) == 3
    for week, occurrence in enumerate(occurrences):
        starts = datetime.fromisoformat(occurrence["starts_at"])
        assert occurrence["time_zone"] == "Europe/London"
        # Shown on London's offset at that instant, and it is 18:00 in Chicago.
        assert starts.utcoffset() == starts.astimezone(LONDON).utcoffset()
        assert starts.astimezone(CHICAGO).replace(tzinfo=None) == soon(days=1 + 7 * week)
        ends = datetime.fromisoformat(occurrence["ends_at"])
        assert ends - starts == timedelta(minutes=60)
        assert occurrence["room_name"] == "Morgan family"


def test_upcoming_can_be_asked_for_in_another_zone_and_refuses_an_unknown_one(api_for, family_room):
    api_for(family_room.owner).post("/api/sessions", schedule(family_room))
    api = api_for(family_room.test_family_user)

    tokyo = api.get("/api/sessions/upcoming", tz="Asia/Tokyo").json()
    bad = api.get("/api/sessions/upcoming", tz="Mars/Olympus", days=0)

    assert datetime.fromisoformat(tokyo[0]["starts_at"]).utcoffset() == timedelta(hours=9)
    assert bad.status_code == 400
    assert set(field_errors(bad)) == {"tz", "days"}


def test_upcoming_leaves_out_sessions_that_have_ended_and_those_beyond_the_window(
    api_for, family_room
):
    owner = api_for(family_room.owner)
    owner.post("/api/sessions", schedule(family_room, starts_at_local=soon(days=-3).isoformat()))
    owner.post("/api/sessions", schedule(family_room, starts_at_local=soon(days=40).isoformat()))
    owner.post("/api/sessions", schedule(family_room, starts_at_local=soon(days=2).isoformat()))

    occurrences = api_for(family_room.test_family_user).get("/api/sessions/upcoming").json()

    assert len(occurrences) == 1
    starts = datetime.fromisoformat(occurrences[0]["starts_at"]).astimezone(CHICAGO)
    assert starts.replace(tzinfo=None) == soon(days=2)


def test_members_list_the_schedules_of_their_rooms_only(api_for, family_room, therapist):
    other = services.room_create(owner=therapist, kind="support_group", name="Group")
    owner = api_for(therapist)
    owner.post("/api/sessions", schedule(family_room))
    owner.post("/api/sessions", schedule(other))

    listed = api_for(family_room.test_family_user).get("/api/sessions").json()

    assert [item["room_id"] for item in listed] == [str(family_room.pk)]


def test_the_wall_clock_start_does_not_move_with_the_servers_time_zone(
    api_for, family_room, settings
):
    settings.TIME_ZONE = "Asia/Tokyo"
    owner = api_for(family_room.owner)

    created = owner.post("/api/sessions", schedule(family_room)).json()
    listed = owner.get("/api/sessions").json()
    upcoming = owner.get("/api/sessions/upcoming").json()

    assert created["starts_at_local"] == listed[0]["starts_at_local"] == soon().isoformat()
    starts = datetime.fromisoformat(upcoming[0]["starts_at"])
    assert starts.astimezone(CHICAGO).replace(tzinfo=None) == soon()
