"""A family member of room A probing room B: every endpoint answers 404 exactly as for a room
that does not exist, so nothing says room B is there, and nothing in it changes."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from rooms import services
from rooms.models import AuditEvent, Invitation, Membership, Room, Session, WebsocketTicket

pytestmark = pytest.mark.django_db

MISSING_ROOM = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def room_b(make_user):
    """Another therapist's room with a member, a pending invitation and a schedule."""
    owner = make_user("kim", staff_role="therapist")
    room = services.room_create(owner=owner, kind="family_session", name="Lee family")
    member = make_user("pat")
    membership = services.membership_add(actor=owner, room=room, user=member, role="client")
    invitation, _ = services.invitation_create(actor=owner, room=room, email="lee@example.org")
    services.session_create(
        actor=owner,
        room=room,
        starts_at_local=datetime(2027, 1, 5, 18, 0),
        time_zone="America/Chicago",
    )
    room.test_membership = membership  # type: ignore[attr-defined]
    room.test_invitation = invitation  # type: ignore[attr-defined]
    return room


def probes(room_id: str, membership_id: int, invitation_id: int):
    """(method, path, body) for every way into a room's data."""
    return [
        ("get", f"/api/rooms/{room_id}", None),
        ("patch", f"/api/rooms/{room_id}", {"name": "Mine"}),
        ("get", f"/api/rooms/{room_id}/memberships", None),
        ("post", f"/api/rooms/{room_id}/memberships", {"user_id": 1, "role": "family"}),
        ("delete", f"/api/rooms/{room_id}/memberships/{membership_id}", None),
        ("get", f"/api/rooms/{room_id}/invitations", None),
        ("post", f"/api/rooms/{room_id}/invitations", {"email": "x@example.org"}),
        ("post", f"/api/invitations/{invitation_id}/revoke", None),
        (
            "post",
            "/api/sessions",
            {
                "room_id": room_id,
                "starts_at_local": "2027-01-05T18:00:00",
                "time_zone": "America/Chicago",
            },
        ),
        ("get", f"/api/sessions/upcoming?room_id={room_id}", None),
        ("post", f"/api/rooms/{room_id}/ticket", None),
    ]


def call(api, method, path, body):
    if method in ("get", "delete"):
        return getattr(api, method)(path)
    return getattr(api, method)(path, body)


def test_every_endpoint_of_another_room_is_404_like_a_missing_room(api_for, family_room, room_b):
    api = api_for(family_room.test_family_user)
    before = {
        model.__name__: model.objects.count()
        for model in (Room, Membership, Invitation, Session, WebsocketTicket, AuditEvent)
    }
    real = probes(str(room_b.pk), room_b.test_membership.pk, room_b.test_invitation.pk)
    missing = probes(MISSING_ROOM, 999999, 999999)

    for (method, path, body), (_, missing_path, missing_body) in zip(real, missing, strict=True):
        answer = call(api, method, path, body)
        control = call(api, method, missing_path, missing_body)
        assert answer.status_code == 404, f"{method.upper()} {path}"
        assert answer.json() == control.json(), f"{method.upper()} {path} leaks"

    after = {
        model.__name__: model.objects.count()
        for model in (Room, Membership, Invitation, Session, WebsocketTicket, AuditEvent)
    }
    assert after == before
    room_b.refresh_from_db()
    assert room_b.name == "Lee family"
    assert Invitation.objects.get(pk=room_b.test_invitation.pk).revoked_at is None


def test_another_rooms_schedule_does_not_appear_in_my_lists(api_for, family_room, room_b):
    api = api_for(family_room.test_family_user)

    assert api.get("/api/sessions").json() == []
    assert api.get("/api/sessions/upcoming", days=366).json() == []
    assert [room["id"] for room in api.get("/api/rooms").json()] == [str(family_room.pk)]


def test_a_banned_member_no_longer_sees_the_room(api_for, family_room):
    mother = family_room.test_family_user
    Membership.objects.filter(user=mother, room=family_room).update(banned_at=timezone.now())
    api = api_for(mother)

    assert api.get(f"/api/rooms/{family_room.pk}").status_code == 404
    assert api.get("/api/rooms").json() == []
    assert api.get(f"/api/rooms/{family_room.pk}/memberships").status_code == 404
