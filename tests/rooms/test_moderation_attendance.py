"""Attendance per occurrence and the moderators' REST reads: audit log and attendance (JSON and
CSV)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from rooms import moderation, services
from rooms.errors import NotFound
from rooms.models import Attendance, Membership
from tests.rooms.moderation_kit import T0, admitted, at, close_sockets, open_socket

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(group):
    """One 60-minute session at T0 (15:00 UTC)."""
    return services.session_create(
        actor=group.dana,
        room=group.room,
        starts_at_local=datetime(2026, 3, 2, 15, 0),
        time_zone="UTC",
        duration_minutes=60,
        title="Group",
    )


@pytest.fixture
def attended(group, session):
    """Dana comes early and stays; Jordan is admitted, drops, comes back on the lease and
    leaves; Sam is admitted late by Fran; Alex came the day before."""
    room = group.room
    open_socket(group.alex, room, at(-60 * 24))
    moderation.participant_admit(
        actor=group.dana,
        room=room,
        participant_id=Membership.objects.get(user=group.alex, room=room).participant_id,
        now=at(-60 * 24),
    )
    close_sockets(group.alex, room, at(-60 * 24 + 30))
    open_socket(group.dana, room, at(-5))
    admitted(group.jordan, room, by=group.dana, now=at(5))
    close_sockets(group.jordan, room, at(20))
    open_socket(group.jordan, room, at(22))
    close_sockets(group.jordan, room, at(40))
    admitted(group.sam, room, by=group.fran, now=at(30))
    return group


def people_by_name(rows):
    return {row["display_name"]: row for row in rows}


def test_attendance_reports_joins_leaves_reconnects_minutes_and_who_admitted(attended, session):
    rows = moderation.attendance_for_occurrence(
        room=attended.room, session=session, occurrence_start=T0, now=at(45)
    )
    people = people_by_name(rows)
    assert list(people) == ["Dana", "Jordan", "Sam"]  # first arrival first; Alex was not there
    jordan = people["Jordan"]
    assert jordan["joined"] == at(5).isoformat()
    assert jordan["left"] == at(40).isoformat()
    assert jordan["reconnects"] == 1
    assert jordan["minutes_present"] == 33.0  # 15 + 18
    assert jordan["admitted_by"] == "Dana"
    assert [s["reconnect"] for s in jordan["stretches"]] == [False, True]
    dana = people["Dana"]
    assert (dana["minutes_present"], dana["left"], dana["admitted_by"]) == (45.0, None, None)
    sam = people["Sam"]
    assert (sam["minutes_present"], sam["admitted_by"], sam["relationship"]) == (
        15.0,
        "Fran",
        "brother",
    )


def test_attendance_is_clipped_to_the_occurrence_window(attended, session):
    moderation.session_end(actor=attended.dana, room=attended.room, now=at(75))
    rows = moderation.attendance_for_occurrence(
        room=attended.room, session=session, occurrence_start=T0, now=at(200)
    )
    people = people_by_name(rows)
    assert people["Dana"]["minutes_present"] == 60.0
    assert people["Dana"]["left"] == at(75).isoformat()
    assert people["Sam"]["minutes_present"] == 30.0


def test_an_occurrence_is_found_by_id_by_iso_start_or_as_the_latest_started(session):
    by_id = moderation.occurrence_resolve(
        session=session, occurrence=f"{session.pk}-20260302T150000Z"
    )
    by_iso = moderation.occurrence_resolve(session=session, occurrence="2026-03-02T15:00:00+00:00")
    latest = moderation.occurrence_resolve(session=session, occurrence=None, now=at(90))
    assert by_id.starts_at == by_iso.starts_at == latest.starts_at == T0
    for wrong in ("2026-03-02T16:00:00Z", f"{session.pk + 1}-20260302T150000Z", "soon"):
        with pytest.raises(NotFound) as caught:
            moderation.occurrence_resolve(session=session, occurrence=wrong)
        assert caught.value.code == "no_such_occurrence"
    with pytest.raises(NotFound):
        moderation.occurrence_resolve(session=session, occurrence=None, now=at(-1))


# --- REST ----------------------------------------------------------------------------------


def test_moderators_read_the_audit_log_newest_first(client, attended):
    client.force_login(attended.fran)
    response = client.get(f"/api/rooms/{attended.room.pk}/audit")
    assert response.status_code == 200
    entries = response.json()
    assert entries[0]["action"] == "mod.admit"
    assert entries[0]["actor"] == {"id": attended.fran.pk, "name": attended.fran.public_name()}
    assert entries[0]["target"] == Membership.objects.get(user=attended.sam).participant_id
    assert {"participant.joined", "participant.left", "participant.readmitted"} <= {
        e["action"] for e in entries
    }
    assert len(client.get(f"/api/rooms/{attended.room.pk}/audit", {"limit": 2}).json()) == 2


def test_members_who_do_not_moderate_cannot_read_the_audit_log(client, attended, make_user):
    client.force_login(attended.jordan)
    response = client.get(f"/api/rooms/{attended.room.pk}/audit")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    client.force_login(make_user("outsider"))
    response = client.get(f"/api/rooms/{attended.room.pk}/audit")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_moderators_get_attendance_as_json(client, attended, session):
    close_sockets(attended.dana, attended.room, at(60))
    close_sockets(attended.sam, attended.room, at(50))
    client.force_login(attended.dana)
    response = client.get(
        f"/api/sessions/{session.pk}/attendance", {"occurrence": f"{session.pk}-20260302T150000Z"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["occurrence_id"] == f"{session.pk}-20260302T150000Z"
    assert body["room_id"] == str(attended.room.pk)
    people = people_by_name(body["people"])
    assert people["Jordan"]["minutes_present"] == 33.0
    assert people["Sam"]["minutes_present"] == 20.0
    assert people["Dana"]["minutes_present"] == 60.0


def test_moderators_download_attendance_as_csv(client, attended, session):
    close_sockets(attended.dana, attended.room, at(60))
    close_sockets(attended.sam, attended.room, at(50))
    Membership.objects.filter(user=attended.sam).update(display_name="=HYPERLINK(1)")
    client.force_login(attended.fran)
    response = client.get(
        f"/api/sessions/{session.pk}/attendance",
        {"occurrence": "2026-03-02T15:00:00Z", "format": "csv"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_name = {row["display_name"]: row for row in rows}
    assert by_name["Jordan"]["minutes_present"] == "33.0"
    assert by_name["Jordan"]["reconnects"] == "1"
    assert by_name["Jordan"]["admitted_by"] == "Dana"
    # A name a spreadsheet would run as a formula is neutralised.
    assert "'=HYPERLINK(1)" in by_name


def test_attendance_is_refused_to_non_moderators_and_unknown_occurrences(
    client, attended, session, make_user
):
    client.force_login(attended.jordan)
    response = client.get(f"/api/sessions/{session.pk}/attendance")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    client.force_login(make_user("outsider"))
    assert client.get(f"/api/sessions/{session.pk}/attendance").status_code == 404
    client.force_login(attended.dana)
    response = client.get(
        f"/api/sessions/{session.pk}/attendance", {"occurrence": "2026-03-09T15:00:00Z"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "no_such_occurrence")
    response = client.get(f"/api/sessions/{session.pk}/attendance", {"format": "xml"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")


def test_attendance_rows_are_records_that_survive_the_session(attended):
    moderation.session_end(actor=attended.dana, room=attended.room, now=at(70))
    assert Attendance.objects.filter(room=attended.room, left_at__isnull=True).count() == 0
    assert Attendance.objects.filter(room=attended.room).count() == 5
