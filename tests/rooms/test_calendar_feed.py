"""The calendar feed: a private token URL a calendar app subscribes to without a cookie, a
real iCalendar document with each series as an RRULE in the organiser's zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from rooms import services
from rooms.models import RoomKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def fortnightly_group(therapist, family_room):
    """A support group the family member belongs to, meeting every two weeks in Chicago."""
    group = services.room_create(
        owner=therapist, kind=RoomKind.SUPPORT_GROUP, name="Tuesday family group"
    )
    services.membership_add(
        actor=therapist, room=group, user=family_room.test_family_user, role="family"
    )
    services.session_create(
        actor=therapist,
        room=group,
        title="Family support group",
        starts_at_local=datetime(2026, 10, 20, 18, 0),
        time_zone="America/Chicago",
        duration_minutes=90,
        frequency="fortnightly",
        until=date(2026, 12, 1),
    )
    return group


def feed(client, user):
    me = client.get("/api/me").json()
    assert me["calendar_url"].endswith(f"/api/calendar.ics?token={user.calendar_token}")
    return client.get("/api/calendar.ics", token=user.calendar_token)


def events_of(response):
    return [c for c in Calendar.from_ical(response.content).walk() if c.name == "VEVENT"]


def test_the_feed_is_a_calendar_with_the_fortnightly_rule_and_its_time_zone(
    api_for, family_room, fortnightly_group
):
    mother = family_room.test_family_user

    response = feed(api_for(mother), mother)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    [event] = events_of(response)
    assert str(event["summary"]) == "Family support group"
    start = event.decoded("dtstart")
    assert start == datetime(2026, 10, 20, 18, 0, tzinfo=ZoneInfo("America/Chicago"))
    assert event["dtstart"].params["TZID"] == "America/Chicago"
    assert (event.decoded("dtend") - start).total_seconds() == 90 * 60
    rule = event["rrule"]
    assert rule["FREQ"] == ["WEEKLY"]
    assert rule["INTERVAL"] == [2]
    # UNTIL is UTC (RFC 5545) and covers the whole of the last day in Chicago.
    assert rule["UNTIL"][0] == datetime(2026, 12, 2, 5, 59, 59, tzinfo=ZoneInfo("UTC"))
    zones = [c for c in calendar.walk() if c.name == "VTIMEZONE"]
    assert [str(zone["tzid"]) for zone in zones] == ["America/Chicago"]
    assert {c.name for c in zones[0].subcomponents} == {"STANDARD", "DAYLIGHT"}


def test_a_count_limited_weekly_series_has_its_count_and_a_one_off_has_no_rule(
    api_for, family_room
):
    for frequency, count in (("weekly", 8), ("once", None)):
        services.session_create(
            actor=family_room.owner,
            room=family_room,
            title=frequency,
            starts_at_local=datetime(2026, 12, 7, 17, 0),
            time_zone="America/Chicago",
            frequency=frequency,
            count=count,
        )
    client = family_room.test_client_user

    events = {str(e["summary"]): e for e in events_of(feed(api_for(client), client))}

    assert events["weekly"]["rrule"]["COUNT"] == [8]
    assert events["weekly"]["rrule"]["INTERVAL"] == [1]
    assert "rrule" not in events["once"]


def test_the_token_alone_opens_the_feed_without_a_cookie(api_for, family_room, fortnightly_group):
    mother = family_room.test_family_user

    response = api_for().get("/api/calendar.ics", token=mother.calendar_token)

    assert response.status_code == 200
    assert len(events_of(response)) == 1


def test_an_unknown_token_is_404(api_for, family_room, fortnightly_group):
    anonymous = api_for()

    assert anonymous.get("/api/calendar.ics", token="not-a-real-token").status_code == 404
    assert anonymous.get("/api/calendar.ics", token="").status_code == 404


def test_the_feed_does_not_list_rooms_you_are_not_in(api_for, family_room, fortnightly_group):
    client = family_room.test_client_user  # in the family room, not in the group
    services.session_create(
        actor=family_room.owner,
        room=family_room,
        title="Morgan family session",
        starts_at_local=datetime(2026, 12, 7, 17, 0),
        time_zone="America/Chicago",
    )

    summaries = {str(e["summary"]) for e in events_of(feed(api_for(client), client))}

    assert summaries == {"Morgan family session"}
    assert (
        b"Tuesday family group"
        not in api_for().get("/api/calendar.ics", token=client.calendar_token).content
    )
