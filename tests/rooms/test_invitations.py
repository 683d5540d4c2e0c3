"""Invitations: the link's token is shown once and only its hash is stored; accepting creates
the family member's own account and signs them in; an expired, revoked or used link gets a
410 that says which."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rooms import services
from rooms.errors import Gone
from rooms.models import AuditEvent, Invitation, Membership, User
from rooms.tokens import token_hash
from tests.rooms.apiclient import error_code, field_errors

pytestmark = pytest.mark.django_db

ACCEPT = {
    "display_name": "Riley Morgan",
    "password": "a-long-family-password",
    "time_zone": "Europe/London",
}


def accept_body(token: str, **changes: str) -> dict[str, str]:
    return {**ACCEPT, "token": token, **changes}


def invite(api, room, email="riley@example.org", **extra):
    return api.post(f"/api/rooms/{room.pk}/invitations", {"email": email, **extra})


def tables_containing(text: str) -> list[str]:
    """Every table with a row whose text form contains `text` (PostgreSQL row-to-text)."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT 1 FROM {quoted} AS t WHERE t::text LIKE %s LIMIT 1",  # noqa: S608
                [f"%{text}%"],
            )
            if cursor.fetchone():
                found.append(table)
    return found


def test_creating_an_invitation_returns_the_token_once_and_stores_only_its_hash(
    api_for, family_room, therapist
):
    api = api_for(therapist)

    response = invite(api, family_room, email=" Riley@Example.org ", relationship="brother")

    assert response.status_code == 201
    body = response.json()
    token = body["token"]
    assert len(token) >= 32
    assert body["accept_url"].endswith(f"/invite/{token}")
    assert (body["email"], body["role"], body["status"]) == (
        "riley@example.org",
        "family",
        "pending",
    )
    invitation = Invitation.objects.get(pk=body["id"])
    assert invitation.token_hash == token_hash(token)
    assert tables_containing(token) == []
    listed = api.get(f"/api/rooms/{family_room.pk}/invitations").json()
    assert [item["id"] for item in listed] == [invitation.pk]
    assert "token" not in listed[0]
    assert AuditEvent.objects.filter(action="invitation.created", room=family_room).exists()


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "ok@example.org", "role": "therapist"}, "role"),
    ],
)
def test_an_invitation_with_bad_fields_is_a_400_and_writes_nothing(
    api_for, family_room, therapist, body, bad_field
):
    response = api_for(therapist).post(f"/api/rooms/{family_room.pk}/invitations", body)

    assert response.status_code == 400
    assert bad_field in field_errors(response)
    assert not Invitation.objects.exists()


def test_a_family_member_can_neither_invite_nor_list_invitations(api_for, family_room):
    api = api_for(family_room.test_family_user)

    assert invite(api, family_room).status_code == 403
    assert api.get(f"/api/rooms/{family_room.pk}/invitations").status_code == 403
    assert not Invitation.objects.exists()


def test_accepting_creates_the_account_with_name_password_and_zone_and_signs_in(
    api_for, family_room, therapist
):
    token = invite(api_for(therapist), family_room, relationship="brother").json()["token"]
    newcomer = api_for()

    preview = newcomer.get("/api/invitations/preview", token=token)
    response = newcomer.post("/api/invitations/accept", accept_body(token))

    assert preview.status_code == 200
    assert preview.json()["room_name"] == "Morgan family"
    assert response.status_code == 201
    user = User.objects.get(username="riley@example.org")
    assert user.display_name == "Riley Morgan"
    assert user.time_zone == "Europe/London"
    assert user.check_password("a-long-family-password")
    membership = Membership.objects.get(room=family_room, user=user)
    assert (membership.role, membership.relationship, membership.display_name) == (
        "family",
        "brother",
        "Riley Morgan",
    )
    me = newcomer.get("/api/me")
    assert me.status_code == 200
    assert me.json()["username"] == "riley@example.org"
    assert me.json()["time_zone"] == "Europe/London"
    rooms = newcomer.get("/api/rooms").json()
    assert [room["id"] for room in rooms] == [str(family_room.pk)]
    invitation = Invitation.objects.get(token_hash=token_hash(token))
    assert invitation.accepted_by == user
    assert invitation.accepted_at is not None


def test_a_signed_in_person_accepting_adds_the_room_to_their_own_account(
    api_for, family_room, therapist, make_user
):
    other = services.room_create(owner=therapist, kind="support_group", name="Group")
    mother = family_room.test_family_user
    token = invite(api_for(therapist), other, email=mother.email).json()["token"]

    response = api_for(mother).post(
        "/api/invitations/accept", accept_body(token, display_name="Jordan", password="")
    )

    assert response.status_code == 201
    assert response.json()["id"] == mother.pk
    assert Membership.objects.filter(room=other, user=mother, role="family").exists()
    assert User.objects.filter(username=mother.username).count() == 1


@pytest.mark.parametrize(
    ("changes", "bad_field"),
    [
        ({"display_name": ""}, "display_name"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"password": "123"}, "password"),
    ],
)
def test_accepting_with_bad_fields_is_a_400_and_the_link_still_works(
    api_for, family_room, therapist, changes, bad_field
):
    token = invite(api_for(therapist), family_room).json()["token"]
    newcomer = api_for()

    response = newcomer.post("/api/invitations/accept", accept_body(token, **changes))

    assert response.status_code == 400
    assert bad_field in field_errors(response)
    assert not User.objects.filter(username="riley@example.org").exists()
    assert newcomer.post("/api/invitations/accept", accept_body(token)).status_code == 201


def test_an_expired_link_is_410_invitation_expired(api_for, family_room, therapist):
    token = invite(api_for(therapist), family_room).json()["token"]
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    newcomer = api_for()

    response = newcomer.post("/api/invitations/accept", accept_body(token))

    assert response.status_code == 410
    assert error_code(response) == "invitation_expired"
    assert "expired" in response.json()["error"]["message"]
    assert newcomer.get("/api/invitations/preview", token=token).status_code == 410
    assert not User.objects.filter(username="riley@example.org").exists()


def test_a_revoked_link_is_410_invitation_revoked(api_for, family_room, therapist):
    api = api_for(therapist)
    created = invite(api, family_room).json()

    revoked = api.post(f"/api/invitations/{created['id']}/revoke")
    response = api_for().post("/api/invitations/accept", accept_body(created["token"]))

    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert response.status_code == 410
    assert error_code(response) == "invitation_revoked"
    assert not User.objects.filter(username="riley@example.org").exists()
    again = api.post(f"/api/invitations/{created['id']}/revoke")
    assert again.status_code == 410
    assert error_code(again) == "invitation_revoked"


def test_a_used_link_is_410_invitation_used_and_makes_no_second_account(
    api_for, family_room, therapist
):
    token = invite(api_for(therapist), family_room).json()["token"]

    first = api_for().post("/api/invitations/accept", accept_body(token))
    second = api_for().post(
        "/api/invitations/accept", accept_body(token, display_name="Someone else")
    )

    assert first.status_code == 201
    assert second.status_code == 410
    assert error_code(second) == "invitation_used"
    assert User.objects.filter(username="riley@example.org").count() == 1
    assert Membership.objects.filter(room=family_room, display_name="Someone else").count() == 0


def test_an_unknown_link_is_404(api_for, family_room):
    response = api_for().post("/api/invitations/accept", accept_body("no-such-token"))

    assert response.status_code == 404
    assert error_code(response) == "invitation_not_found"


def test_accepting_needs_the_csrf_token(api_for, family_room, therapist):
    token = invite(api_for(therapist), family_room).json()["token"]
    newcomer = api_for()

    response = newcomer.client.post(
        "/api/invitations/accept", data=accept_body(token), content_type="application/json"
    )

    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"
    assert not User.objects.filter(username="riley@example.org").exists()


def test_a_family_member_cannot_revoke_and_a_stranger_cannot_see_the_invitation(
    api_for, family_room, therapist, make_user
):
    created = invite(api_for(therapist), family_room).json()
    stranger_therapist = make_user(staff_role="therapist")

    for person in (family_room.test_family_user, stranger_therapist):
        response = api_for(person).post(f"/api/invitations/{created['id']}/revoke")
        assert response.status_code == 404

    assert Invitation.objects.get(pk=created["id"]).revoked_at is None


@pytest.mark.django_db(transaction=True)
def test_two_accepts_of_one_link_at_the_same_moment_make_exactly_one_account(
    family_room, therapist
):
    _, token = services.invitation_create(
        actor=therapist, room=family_room, email="riley@example.org"
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(name: str) -> None:
        barrier.wait(timeout=10)
        try:
            services.invitation_accept(
                token=token,
                display_name=name,
                password="a-long-family-password",
                time_zone="Europe/London",
            )
            outcomes.append("accepted")
        except Gone as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(name,)) for name in ("One", "Two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(outcomes) == ["accepted", "invitation_used"]
    assert User.objects.filter(username="riley@example.org").count() == 1
    assert (
        Membership.objects.filter(room=family_room, user__username="riley@example.org").count() == 1
    )
