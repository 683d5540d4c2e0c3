"""iCalendar feed of a person's scheduled sessions (RFC 5545), built with `icalendar`.

Each schedule is one VEVENT with its RRULE in the organiser's zone and the matching VTIMEZONE,
so calendar apps expand it themselves and keep it right across daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from icalendar import Calendar, Event, vRecur

from rooms import selectors
from rooms.models import Frequency, User
from rooms.schedule import wall_start


def feed_for_user(*, user: User, base_url: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Hearth//Sessions//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Hearth sessions")
    stamp = timezone.now()
    for session in selectors.sessions_for_user(user=user):
        zone = ZoneInfo(session.time_zone)
        # DTSTART carries the organiser's wall time and TZID; the app expands the RRULE in
        # that zone, so the series keeps its local time across daylight-saving changes.
        start = wall_start(session).replace(tzinfo=zone)
        event = Event()
        event.add("uid", f"hearth-session-{session.pk}@hearth")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=session.duration_minutes))
        event.add("summary", session.title or session.room.name)
        # Only the room link: no clinical detail leaves the system in a calendar.
        event.add("url", f"{base_url.rstrip('/')}/rooms/{session.room_id}/")
        if session.frequency != Frequency.ONCE:
            rule: dict[str, object] = {
                "freq": "weekly",
                "interval": 2 if session.frequency == Frequency.FORTNIGHTLY else 1,
            }
            if session.count:
                rule["count"] = session.count
            if session.until:
                # UNTIL must be UTC when DTSTART has a zone (RFC 5545 3.3.10).
                end_of_day = start.replace(
                    year=session.until.year,
                    month=session.until.month,
                    day=session.until.day,
                    hour=23,
                    minute=59,
                    second=59,
                )
                rule["until"] = end_of_day.astimezone(UTC)
            event.add("rrule", vRecur(rule))
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
