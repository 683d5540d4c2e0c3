"""Seed the embedded mode's demo data, once. Running it again changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from rooms import services
from rooms.models import Frequency, Role, RoomKind, StaffRole, User

DEMO_PASSWORD = "hearth-demo"  # noqa: S105 - embedded mode only, listed in the README

# username, display name, staff role, time zone
DEMO_PEOPLE = [
    ("dana@demo.hearth", "Dana Reyes (therapist)", StaffRole.THERAPIST, "America/Chicago"),
    ("sam@demo.hearth", "Sam Okafor (facilitator)", StaffRole.FACILITATOR, "America/Chicago"),
    ("alex@demo.hearth", "Alex Morgan", StaffRole.NONE, "America/Chicago"),
    ("jordan@demo.hearth", "Jordan Morgan", StaffRole.NONE, "America/New_York"),
    ("riley@demo.hearth", "Riley Morgan", StaffRole.NONE, "Europe/London"),
]


class Command(BaseCommand):
    help = "Create the demo therapist, facilitator, client, family and rooms (embedded mode)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data exists only in the embedded mode.")
        if User.objects.filter(username=DEMO_PEOPLE[0][0]).exists():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        with transaction.atomic():
            people = {}
            for username, name, staff_role, zone in DEMO_PEOPLE:
                people[username.split("@")[0]] = User.objects.create_user(
                    username=username,
                    email=username,
                    password=DEMO_PASSWORD,
                    display_name=name.split(" (")[0],
                    staff_role=staff_role,
                    time_zone=zone,
                )
            dana, sam = people["dana"], people["sam"]
            alex, jordan, riley = people["alex"], people["jordan"], people["riley"]
            family = services.room_create(
                owner=dana, kind=RoomKind.FAMILY_SESSION, name="Morgan family session"
            )
            services.membership_add(actor=dana, room=family, user=alex, role=Role.CLIENT)
            services.membership_add(
                actor=dana, room=family, user=jordan, role=Role.FAMILY, relationship="mother"
            )
            services.membership_add(
                actor=dana, room=family, user=riley, role=Role.FAMILY, relationship="brother"
            )
            group = services.room_create(
                owner=dana, kind=RoomKind.SUPPORT_GROUP, name="Tuesday family support group"
            )
            services.membership_add(actor=dana, room=group, user=sam, role=Role.FACILITATOR)
            services.membership_add(
                actor=dana, room=group, user=jordan, role=Role.FAMILY, relationship="mother"
            )
            services.membership_add(
                actor=dana, room=group, user=riley, role=Role.FAMILY, relationship="brother"
            )
            thread = services.room_create(
                owner=dana, kind=RoomKind.CARE_THREAD, name="Morgan family care thread"
            )
            services.membership_add(
                actor=dana, room=thread, user=jordan, role=Role.FAMILY, relationship="mother"
            )
            services.membership_add(actor=dana, room=thread, user=alex, role=Role.CLIENT)
            today = timezone.localdate()
            next_monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
            services.session_create(
                actor=dana,
                room=family,
                title="Morgan family session",
                starts_at_local=datetime.combine(next_monday, datetime.min.time()).replace(hour=17),
                time_zone="America/Chicago",
                duration_minutes=60,
                frequency=Frequency.WEEKLY,
                count=12,
            )
            services.session_create(
                actor=dana,
                room=group,
                title="Family support group",
                starts_at_local=datetime.combine(
                    next_monday + timedelta(days=1), datetime.min.time()
                ).replace(hour=18, minute=30),
                time_zone="America/Chicago",
                duration_minutes=90,
                frequency=Frequency.FORTNIGHTLY,
                until=date(today.year + 1, 6, 30),
            )
        self.stdout.write(self.style.SUCCESS("Demo data created."))
