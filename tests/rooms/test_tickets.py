"""Websocket tickets: single-use, short-lived, only for members who are not banned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms import services
from rooms.models import Membership, WebsocketTicket
from rooms.tokens import token_hash
from tests.rooms.apiclient import error_code

pytestmark = pytest.mark.django_db


def test_a_member_gets_a_single_use_ticket_for_the_rooms_websocket(api_for, family_room, settings):
    mother = family_room.test_family_user

    response = api_for(mother).post(f"/api/rooms/{family_room.pk}/ticket")

    assert response.status_code == 201
    body = response.json()
    assert body["url"] == f"/ws/rooms/{family_room.pk}/?ticket={body['ticket']}"
    stored = WebsocketTicket.objects.get(user=mother)
    assert stored.token_hash == token_hash(body["ticket"])
    lifetime = stored.expires_at - stored.created_at
    assert abs(lifetime - timedelta(seconds=settings.WS_TICKET_TTL_SECONDS)) < timedelta(seconds=2)
    assert services.ticket_consume(token=body["ticket"], room_id=str(family_room.pk)) == mother
    assert services.ticket_consume(token=body["ticket"], room_id=str(family_room.pk)) is None


def test_a_ticket_does_not_open_another_room_or_work_after_it_expires(family_room, therapist):
    other = services.room_create(owner=therapist, kind="support_group", name="Group")
    token, _ = services.ticket_issue(user=therapist, room=family_room)
    late_token, expires_at = services.ticket_issue(user=therapist, room=family_room)

    assert services.ticket_consume(token=token, room_id=str(other.pk)) is None
    assert services.ticket_consume(token=token, room_id="not-a-room") is None
    assert (
        services.ticket_consume(
            token=late_token, room_id=str(family_room.pk), now=expires_at + timedelta(seconds=1)
        )
        is None
    )
    assert services.ticket_consume(token=token, room_id=str(family_room.pk)) == therapist


def test_a_banned_member_asking_for_a_ticket_gets_403_banned(api_for, family_room):
    mother = family_room.test_family_user
    Membership.objects.filter(user=mother, room=family_room).update(banned_at=timezone.now())

    response = api_for(mother).post(f"/api/rooms/{family_room.pk}/ticket")

    assert response.status_code == 403
    assert error_code(response) == "banned"
    assert not WebsocketTicket.objects.filter(user=mother).exists()


def test_a_non_member_asking_for_a_ticket_gets_404(api_for, family_room, make_user):
    response = api_for(make_user()).post(f"/api/rooms/{family_room.pk}/ticket")

    assert response.status_code == 404
    assert not WebsocketTicket.objects.exists()


def test_asking_for_a_ticket_needs_a_session(api_for, family_room):
    response = api_for().post(f"/api/rooms/{family_room.pk}/ticket")

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
