"""Memberships over REST: members see who is in the room; the owner or a therapist member adds
and removes people; the owner can never be removed."""

from __future__ import annotations

import pytest

from rooms import services
from rooms.models import AuditEvent, Membership, WebsocketTicket
from tests.rooms.apiclient import error_code, field_errors

pytestmark = pytest.mark.django_db


def test_a_member_sees_everyone_in_the_room_with_their_roles(api_for, family_room, therapist):
    response = api_for(family_room.test_family_user).get(f"/api/rooms/{family_room.pk}/memberships")

    assert response.status_code == 200
    listed = {(m["user_id"], m["role"], m["relationship"]) for m in response.json()}
    assert listed == {
        (therapist.pk, "therapist", ""),
        (family_room.test_client_user.pk, "client", ""),
        (family_room.test_family_user.pk, "family", "mother"),
    }
    first = response.json()[0]
    assert first["participant_id"] == f"p-{first['id']}"
    assert first["banned"] is False


def test_the_owner_adds_an_existing_person_with_a_role_and_relationship(
    api_for, family_room, therapist, make_user
):
    brother = make_user("riley", time_zone="Europe/London")

    response = api_for(therapist).post(
        f"/api/rooms/{family_room.pk}/memberships",
        {"user_id": brother.pk, "role": "family", "relationship": "brother"},
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["user_id"], body["role"], body["relationship"]) == (
        brother.pk,
        "family",
        "brother",
    )
    assert body["display_name"] == "Riley"
    assert Membership.objects.filter(room=family_room, user=brother, role="family").exists()
    assert AuditEvent.objects.filter(
        action="membership.added", room=family_room, target_user=brother
    ).exists()


def test_adding_someone_twice_is_a_field_error(api_for, family_room, therapist):
    response = api_for(therapist).post(
        f"/api/rooms/{family_room.pk}/memberships",
        {"user_id": family_room.test_family_user.pk, "role": "family"},
    )

    assert response.status_code == 400
    assert "user" in field_errors(response)
    assert Membership.objects.filter(room=family_room).count() == 3


@pytest.mark.parametrize(
    ("staff_role", "role"),
    [("", "therapist"), ("", "facilitator"), ("facilitator", "therapist"), ("", "boss")],
)
def test_a_role_the_account_cannot_hold_is_a_field_error(
    api_for, family_room, make_user, staff_role, role
):
    person = make_user(staff_role=staff_role)

    response = api_for(family_room.owner).post(
        f"/api/rooms/{family_room.pk}/memberships", {"user_id": person.pk, "role": role}
    )

    assert response.status_code == 400
    assert "role" in field_errors(response)
    assert not Membership.objects.filter(user=person).exists()


def test_adding_an_unknown_account_is_a_field_error(api_for, family_room, therapist):
    response = api_for(therapist).post(
        f"/api/rooms/{family_room.pk}/memberships", {"user_id": 999999, "role": "family"}
    )

    assert response.status_code == 400
    assert "user_id" in field_errors(response)


def test_a_family_member_cannot_add_people_and_cannot_probe_account_ids(
    api_for, family_room, make_user
):
    stranger = make_user()
    api = api_for(family_room.test_family_user)
    url = f"/api/rooms/{family_room.pk}/memberships"

    existing = api.post(url, {"user_id": stranger.pk, "role": "family"})
    missing = api.post(url, {"user_id": 999999, "role": "family"})

    assert existing.status_code == missing.status_code == 403
    assert not Membership.objects.filter(user=stranger).exists()


def test_the_owner_removes_a_member_and_their_open_tickets_stop_working(
    api_for, family_room, therapist
):
    mother = family_room.test_family_user
    token, _ = services.ticket_issue(user=mother, room=family_room)
    membership = Membership.objects.get(room=family_room, user=mother)

    response = api_for(therapist).delete(f"/api/rooms/{family_room.pk}/memberships/{membership.pk}")

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not WebsocketTicket.objects.filter(user=mother).exists()
    assert services.ticket_consume(token=token, room_id=str(family_room.pk)) is None
    assert AuditEvent.objects.filter(
        action="membership.removed", room=family_room, target_user=mother
    ).exists()
    assert api_for(mother).get(f"/api/rooms/{family_room.pk}").status_code == 404


def test_the_owner_cannot_be_removed_even_by_a_therapist_member(
    api_for, family_room, therapist, make_user
):
    colleague = make_user("lee", staff_role="therapist")
    services.membership_add(actor=therapist, room=family_room, user=colleague, role="therapist")
    owner_membership = Membership.objects.get(room=family_room, user=therapist)

    for actor in (colleague, therapist):
        response = api_for(actor).delete(
            f"/api/rooms/{family_room.pk}/memberships/{owner_membership.pk}"
        )
        assert response.status_code == 403
        assert error_code(response) == "owner_not_removable"

    assert Membership.objects.filter(pk=owner_membership.pk).exists()


def test_a_family_member_cannot_remove_anyone(api_for, family_room):
    client_membership = Membership.objects.get(room=family_room, user=family_room.test_client_user)

    response = api_for(family_room.test_family_user).delete(
        f"/api/rooms/{family_room.pk}/memberships/{client_membership.pk}"
    )

    assert response.status_code == 403
    assert Membership.objects.filter(pk=client_membership.pk).exists()


def test_a_membership_of_another_room_cannot_be_removed_through_this_one(
    api_for, family_room, therapist
):
    other = services.room_create(owner=therapist, kind="support_group", name="Group")
    other_membership = services.membership_add(
        actor=therapist, room=other, user=family_room.test_client_user, role="client"
    )

    response = api_for(therapist).delete(
        f"/api/rooms/{family_room.pk}/memberships/{other_membership.pk}"
    )

    assert response.status_code == 404
    assert Membership.objects.filter(pk=other_membership.pk).exists()
