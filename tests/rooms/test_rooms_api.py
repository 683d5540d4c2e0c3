"""Rooms over REST: therapists create them, owners and therapist members edit them, members
list theirs; someone else's room is 404, and invalid input is a 400 that writes nothing."""

from __future__ import annotations

import pytest

from rooms import services
from rooms.models import AuditEvent, Membership, Room
from tests.rooms.apiclient import error_code, field_errors

pytestmark = pytest.mark.django_db


def test_a_therapist_creates_a_room_and_becomes_its_owner_and_therapist_member(api_for, therapist):
    response = api_for(therapist).post(
        "/api/rooms", {"kind": "family_session", "name": "  Morgan family  "}
    )

    assert response.status_code == 201
    body = response.json()
    room = Room.objects.get(pk=body["id"])
    assert room.owner == therapist
    assert room.name == "Morgan family"
    assert body["your_role"] == "therapist"
    assert body["can_edit"] is True
    assert body["waiting_room_enabled"] is True
    assert body["capacity"] == 6
    membership = Membership.objects.get(room=room, user=therapist)
    assert membership.role == "therapist"
    assert AuditEvent.objects.filter(action="room.created", room=room, actor=therapist).exists()


def test_a_care_thread_has_no_waiting_room_unless_asked_for(api_for, therapist):
    api = api_for(therapist)

    thread = api.post("/api/rooms", {"kind": "care_thread", "name": "Between sessions"}).json()
    group = api.post("/api/rooms", {"kind": "support_group", "name": "Tuesday group"}).json()
    asked = api.post(
        "/api/rooms",
        {"kind": "care_thread", "name": "Gated thread", "waiting_room_enabled": True},
    ).json()

    assert thread["waiting_room_enabled"] is False
    assert group["waiting_room_enabled"] is True
    assert group["capacity"] == 20
    assert asked["waiting_room_enabled"] is True


@pytest.mark.parametrize("staff_role", ["", "facilitator"])
def test_only_therapists_can_create_rooms(api_for, make_user, staff_role):
    person = make_user(staff_role=staff_role)

    response = api_for(person).post("/api/rooms", {"kind": "family_session", "name": "Mine"})

    assert response.status_code == 403
    assert error_code(response) == "therapists_only"
    assert not Room.objects.exists()


def test_creating_a_room_with_bad_fields_answers_every_field_and_writes_nothing(api_for, therapist):
    response = api_for(therapist).post(
        "/api/rooms", {"kind": "disco", "name": "   ", "capacity": 500}
    )

    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert set(field_errors(response)) == {"kind", "name", "capacity"}
    assert not Room.objects.exists()
    assert not Membership.objects.exists()


def test_a_member_lists_only_the_rooms_they_belong_to(api_for, family_room, therapist):
    other = services.room_create(owner=therapist, kind="support_group", name="Other group")

    listed = api_for(family_room.test_family_user).get("/api/rooms").json()

    assert [room["id"] for room in listed] == [str(family_room.pk)]
    assert listed[0]["your_role"] == "family"
    assert listed[0]["can_edit"] is False
    assert str(other.pk) not in {room["id"] for room in listed}


def test_the_owner_edits_a_room(api_for, family_room, therapist):
    response = api_for(therapist).patch(
        f"/api/rooms/{family_room.pk}", {"name": "Morgans", "locked": True, "capacity": 4}
    )

    assert response.status_code == 200
    family_room.refresh_from_db()
    assert (family_room.name, family_room.locked, family_room.capacity) == ("Morgans", True, 4)
    assert AuditEvent.objects.filter(action="room.updated", room=family_room).exists()


def test_a_therapist_member_who_is_not_the_owner_edits_a_room(
    api_for, family_room, therapist, make_user
):
    colleague = make_user("lee", staff_role="therapist")
    services.membership_add(actor=therapist, room=family_room, user=colleague, role="therapist")

    response = api_for(colleague).patch(
        f"/api/rooms/{family_room.pk}", {"waiting_room_enabled": False}
    )

    assert response.status_code == 200
    family_room.refresh_from_db()
    assert family_room.waiting_room_enabled is False


@pytest.mark.parametrize("member", ["test_family_user", "test_client_user"])
def test_a_member_who_is_not_a_therapist_gets_403_with_a_json_reason(api_for, family_room, member):
    response = api_for(getattr(family_room, member)).patch(
        f"/api/rooms/{family_room.pk}", {"name": "Ours now"}
    )

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert error_code(response) == "forbidden"
    assert "owner" in response.json()["error"]["message"]
    family_room.refresh_from_db()
    assert family_room.name == "Morgan family"


def test_a_facilitator_member_cannot_change_the_room(api_for, family_room, therapist, make_user):
    facilitator = make_user("sam", staff_role="facilitator")
    services.membership_add(actor=therapist, room=family_room, user=facilitator, role="facilitator")

    response = api_for(facilitator).patch(f"/api/rooms/{family_room.pk}", {"locked": True})

    assert response.status_code == 403


def test_someone_elses_room_is_404_not_403(api_for, family_room, make_user):
    other_therapist = make_user("kim", staff_role="therapist")
    api = api_for(other_therapist)

    assert api.get(f"/api/rooms/{family_room.pk}").status_code == 404
    response = api.patch(f"/api/rooms/{family_room.pk}", {"name": "Taken"})

    assert response.status_code == 404
    assert error_code(response) == "not_found"
    family_room.refresh_from_db()
    assert family_room.name == "Morgan family"


def test_a_room_that_does_not_exist_looks_the_same_as_someone_elses(
    api_for, family_room, therapist
):
    api = api_for(family_room.test_family_user)

    missing = api.get("/api/rooms/00000000-0000-0000-0000-000000000000")
    not_a_uuid = api.get("/api/rooms/not-a-room")

    assert missing.status_code == not_a_uuid.status_code == 404
    assert missing.json() == not_a_uuid.json()


@pytest.mark.parametrize(
    ("change", "bad_fields"),
    [
        ({"capacity": 500}, {"capacity"}),
        ({"name": "", "capacity": 1}, {"name", "capacity"}),
        ({"name": "x" * 121}, {"name"}),
        ({"capacity": "lots"}, {"capacity"}),
        ({"capacity": None}, {"capacity"}),
        ({"locked": None}, {"locked"}),
        ({"name": "Fine", "locked": "perhaps"}, {"locked"}),
    ],
)
def test_an_invalid_edit_is_a_400_with_field_errors_and_leaves_the_row_unchanged(
    api_for, family_room, therapist, change, bad_fields
):
    before = Room.objects.filter(pk=family_room.pk).values().get()
    audit_before = AuditEvent.objects.count()

    response = api_for(therapist).patch(f"/api/rooms/{family_room.pk}", change)

    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert set(field_errors(response)) == bad_fields
    assert Room.objects.filter(pk=family_room.pk).values().get() == before
    assert AuditEvent.objects.count() == audit_before


def test_a_body_that_is_not_json_gets_a_readable_400(api_for, family_room, therapist):
    api = api_for(therapist)

    response = api.client.patch(
        f"/api/rooms/{family_room.pk}",
        data="{not json",
        content_type="application/json",
        headers={"X-CSRFToken": api.csrf_token()},
    )

    assert response.status_code == 400
    assert error_code(response) == "malformed_body"
