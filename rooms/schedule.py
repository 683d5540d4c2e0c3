"""Occurrences of scheduled sessions, computed with dateutil rrules.

The rule runs on the organiser's wall-clock time (naive datetimes), and each occurrence is then
placed in the organiser's zone. That keeps "Tuesdays at 18:00 in Chicago" at 18:00 local on
both sides of a daylight-saving change; each viewer then sees it converted to their own zone.

Storage convention: `Session.starts_at_local` is a wall-clock time, but the column is a
timezone-aware DateTimeField (USE_TZ). The wall clock is therefore stored tagged as UTC
(`wall_to_stored`) and read back with `wall_start`, so neither the server's TIME_ZONE nor the
database connection's zone can shift it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import WEEKLY, rrule

from rooms.models import Frequency, Session

_INTERVAL = {Frequency.WEEKLY: 1, Frequency.FORTNIGHTLY: 2}


@dataclass(frozen=True, slots=True)
class Occurrence:
    session: Session
    starts_at: datetime  # aware, in the organiser's zone
    ends_at: datetime

    @property
    def occurrence_id(self) -> str:
        utc = self.starts_at.astimezone(UTC)
        return f"{self.session.pk}-{utc:%Y%m%dT%H%M%SZ}"

    def in_zone(self, time_zone: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(time_zone)
        return self.starts_at.astimezone(zone), self.ends_at.astimezone(zone)


def is_valid_time_zone(name: str) -> bool:
    if name not in _known_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_ZONES: set[str] | None = None


def _known_zones() -> set[str]:
    global _ZONES  # noqa: PLW0603 - computed once, the list is large
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def wall_to_stored(wall: datetime) -> datetime:
    """The value to store in `Session.starts_at_local` for a naive wall-clock time."""
    return wall.replace(tzinfo=UTC)


def wall_start(session: Session) -> datetime:
    """The first start as a naive wall-clock time in `session.time_zone`."""
    value = session.starts_at_local
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def local_starts(session: Session) -> Iterator[datetime]:
    """Naive wall-clock starts in the organiser's zone, in order."""
    start = wall_start(session)
    if session.frequency == Frequency.ONCE:
        yield start
        return
    until = None
    if session.until is not None:
        until = datetime.combine(session.until, datetime.max.time())
    rule = rrule(
        WEEKLY,
        interval=_INTERVAL[Frequency(session.frequency)],
        dtstart=start,
        until=until,
        count=session.count,
    )
    yield from rule


def occurrences_between(
    session: Session, *, start: datetime, end: datetime, limit: int = 500
) -> list[Occurrence]:
    """Occurrences of `session` that end after `start` and begin before `end` (both aware)."""
    zone = ZoneInfo(session.time_zone)
    length = timedelta(minutes=session.duration_minutes)
    found: list[Occurrence] = []
    for naive in local_starts(session):
        begins = localize(naive, zone)
        if begins >= end or len(found) >= limit:
            break
        if begins + length > start:
            found.append(Occurrence(session=session, starts_at=begins, ends_at=begins + length))
    return found


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attach `zone` to a wall-clock time. An ambiguous time (the repeated hour in autumn) is
    its first occurrence; a time inside the spring-forward gap moves forward by the gap, so
    02:30 on the night clocks jump from 02:00 to 03:00 becomes 03:30, never 01:30."""
    # fold=0 reads a gap time with the offset from before the jump, which lands the instant
    # after the gap; normalising through UTC then shows it on the new offset (PEP 495).
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)
