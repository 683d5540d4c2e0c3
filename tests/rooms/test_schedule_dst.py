"""Occurrences across daylight-saving changes. A Chicago session at 18:00 stays at 18:00 in
Chicago on both sides of the US change (2026-11-01), and a London viewer, whose change came a
week earlier (2026-10-25), sees each occurrence on the offset of that day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rooms import selectors, services
from rooms.schedule import localize

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")
LONDON = ZoneInfo("Europe/London")
BEFORE_THE_SERIES = datetime(2026, 10, 1, tzinfo=ZoneInfo("UTC"))


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def occurrences_for(user, room):
    return selectors.upcoming_occurrences(user=user, now=BEFORE_THE_SERIES, days=120, room=room)


def test_a_fortnightly_chicago_session_keeps_its_local_time_across_both_dst_changes(
    family_room, make_user
):
    riley = make_user("riley", time_zone="Europe/London")
    services.membership_add(actor=family_room.owner, room=family_room, user=riley, role="family")
    services.session_create(
        actor=family_room.owner,
        room=family_room,
        starts_at_local=datetime(2026, 10, 20, 18, 0),
        time_zone="America/Chicago",
        frequency="fortnightly",
        until=date(2026, 12, 1),
    )

    found = occurrences_for(riley, family_room)

    in_chicago = [occ.in_zone("America/Chicago")[0] for occ in found]
    in_london = [occ.in_zone("Europe/London")[0] for occ in found]
    assert [(t.date(), t.hour, t.minute) for t in in_chicago] == [
        (date(2026, 10, 20), 18, 0),
        (date(2026, 11, 3), 18, 0),
        (date(2026, 11, 17), 18, 0),
        (date(2026, 12, 1), 18, 0),  # `until` includes its own day
    ]
    # CDT before the US change, CST after it.
    assert [t.utcoffset() for t in in_chicago] == [hours(-5), hours(-6), hours(-6), hours(-6)]
    # In London: BST before its change, GMT after; always midnight, the next day.
    assert [(t.isoformat()) for t in in_london] == [
        "2026-10-21T00:00:00+01:00",
        "2026-11-04T00:00:00+00:00",
        "2026-11-18T00:00:00+00:00",
        "2026-12-02T00:00:00+00:00",
    ]
    assert all(occ.ends_at - occ.starts_at == hours(1) for occ in found)


def test_a_weekly_series_shows_the_week_between_the_two_changes_an_hour_earlier_in_london(
    family_room,
):
    owner = family_room.owner
    services.session_create(
        actor=owner,
        room=family_room,
        starts_at_local=datetime(2026, 10, 20, 18, 0),
        time_zone="America/Chicago",
        frequency="weekly",
        count=4,
    )

    found = occurrences_for(family_room.test_family_user, family_room)

    assert [occ.in_zone("Europe/London")[0].isoformat() for occ in found] == [
        "2026-10-21T00:00:00+01:00",  # both on summer time
        "2026-10-27T23:00:00+00:00",  # London back on GMT, Chicago still on CDT
        "2026-11-04T00:00:00+00:00",  # both on winter time
        "2026-11-11T00:00:00+00:00",
    ]
    assert {occ.in_zone("America/Chicago")[0].hour for occ in found} == {18}
    assert len(found) == 4, "count=4 stops the series after four sessions"


def test_a_count_limited_weekly_series_ends_after_its_count(family_room):
    services.session_create(
        actor=family_room.owner,
        room=family_room,
        starts_at_local=datetime(2026, 10, 6, 9, 30),
        time_zone="America/New_York",
        frequency="weekly",
        count=3,
    )

    found = selectors.upcoming_occurrences(user=family_room.owner, now=BEFORE_THE_SERIES, days=365)

    assert [occ.in_zone("America/New_York")[0].date() for occ in found] == [
        date(2026, 10, 6),
        date(2026, 10, 13),
        date(2026, 10, 20),
    ]


def test_an_occurrence_already_under_way_is_still_upcoming_and_past_ones_are_not(family_room):
    services.session_create(
        actor=family_room.owner,
        room=family_room,
        starts_at_local=datetime(2026, 10, 20, 18, 0),
        time_zone="America/Chicago",
        frequency="weekly",
        count=3,
        duration_minutes=90,
    )
    during_the_second = datetime(2026, 10, 27, 23, 30, tzinfo=ZoneInfo("UTC"))

    found = selectors.upcoming_occurrences(user=family_room.owner, now=during_the_second)

    assert [occ.in_zone("America/Chicago")[0].day for occ in found] == [27, 3]


def test_a_start_inside_the_spring_forward_gap_moves_forward_never_back():
    # On 2026-03-08 Chicago's clocks jump from 02:00 to 03:00: 02:30 does not exist.
    placed = localize(datetime(2026, 3, 8, 2, 30), CHICAGO)

    assert placed.isoformat() == "2026-03-08T03:30:00-05:00"


def test_a_start_in_the_repeated_autumn_hour_is_its_first_occurrence():
    placed = localize(datetime(2026, 11, 1, 1, 30), CHICAGO)

    assert placed.isoformat() == "2026-11-01T01:30:00-05:00"
