"""The Django admin for clinic staff: rooms, memberships, invitations, sessions and people are
editable; audit events and attendance are records, shown but never added, changed or deleted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from rooms import services
from rooms.models import Attendance, AuditEvent, Invitation, Membership, Session
from rooms.schedule import wall_start
from rooms.tokens import token_hash

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(make_user) -> Client:
    admin_user = make_user("admin", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin_user)
    browser.user = admin_user  # type: ignore[attr-defined]
    return browser


@pytest.fixture
def records(family_room, therapist):
    """One of everything, so each admin page has a row to show."""
    invitation, _ = services.invitation_create(
        actor=therapist, room=family_room, email="riley@example.org"
    )
    session = services.session_create(
        actor=therapist,
        room=family_room,
        starts_at_local=datetime(2027, 1, 5, 18, 0),
        time_zone="America/Chicago",
    )
    attendance = Attendance.objects.create(
        room=family_room, user=family_room.test_family_user, joined_at=timezone.now()
    )
    return {
        "room": family_room,
        "membership": Membership.objects.filter(room=family_room).first(),
        "invitation": invitation,
        "session": session,
        "user": therapist,
        "auditevent": AuditEvent.objects.filter(room=family_room).first(),
        "attendance": attendance,
    }


def admin_url(model: str, action: str = "changelist", pk: Any = None) -> str:
    if pk is None:
        return f"/admin/rooms/{model}/" + ("add/" if action == "add" else "")
    return f"/admin/rooms/{model}/{pk}/" + ("delete/" if action == "delete" else "change/")


@pytest.mark.parametrize("model", ["room", "membership", "invitation", "session", "user"])
def test_staff_can_list_add_change_and_delete_the_working_models(staff, records, model):
    pk = records[model].pk

    assert staff.get(admin_url(model)).status_code == 200
    assert staff.get(admin_url(model, "add")).status_code == 200
    change = staff.get(admin_url(model, "change", pk))
    assert change.status_code == 200
    assert b'name="_save"' in change.content
    assert staff.get(admin_url(model, "delete", pk)).status_code == 200


@pytest.mark.parametrize("model", ["auditevent", "attendance"])
def test_audit_events_and_attendance_are_read_only_even_for_a_superuser(staff, records, model):
    record = records[model]
    pk = record.pk

    assert staff.get(admin_url(model)).status_code == 200
    view = staff.get(admin_url(model, "change", pk))
    assert view.status_code == 200
    assert b'name="_save"' not in view.content
    assert staff.get(admin_url(model, "add")).status_code == 403
    assert staff.post(admin_url(model, "add"), {}).status_code == 403
    assert staff.post(admin_url(model, "change", pk), {}).status_code == 403
    assert staff.post(admin_url(model, "delete", pk), {"post": "yes"}).status_code == 403
    assert type(record).objects.filter(pk=pk).exists()
    assert b"delete_selected" not in staff.get(admin_url(model)).content


def test_an_invitation_added_in_the_admin_gets_a_working_link_shown_once(staff, family_room):
    response = staff.post(
        admin_url("invitation", "add"),
        {
            "room": str(family_room.pk),
            "email": "riley@example.org",
            "role": "family",
            "relationship": "brother",
            "expires_at_0": "2099-01-01",
            "expires_at_1": "12:00:00",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    invitation = Invitation.objects.get(email="riley@example.org")
    assert invitation.created_by == staff.user
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    token = re.search(r"/invite/(\S+)", shown).group(1)
    assert invitation.token_hash == token_hash(token)
    user = services.invitation_accept(
        token=token,
        display_name="Riley",
        password="a-long-family-password",
        time_zone="Europe/London",
    )
    assert Membership.objects.filter(room=family_room, user=user, role="family").exists()


def test_the_session_admin_shows_the_organisers_wall_clock_whatever_the_server_zone(
    staff, records, settings
):
    settings.TIME_ZONE = "Asia/Tokyo"
    session = records["session"]

    page = staff.get(admin_url("session", "change", session.pk))

    assert page.status_code == 200
    assert b'value="2027-01-05"' in page.content
    assert b'value="18:00:00"' in page.content
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if name not in ("starts_at_local",)}
    data.update(
        {
            "starts_at_local_0": "2027-01-05",
            "starts_at_local_1": "19:00:00",
            "until": "",
            "count": "",
        }
    )
    saved = staff.post(admin_url("session", "change", session.pk), data)
    assert saved.status_code == 302, saved.content[:2000]
    session = Session.objects.get(pk=session.pk)
    assert wall_start(session) == datetime(2027, 1, 5, 19, 0)
