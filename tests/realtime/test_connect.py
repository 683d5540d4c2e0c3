"""Connecting to /ws/rooms/<id>/: authentication, Origin, membership, close codes, welcome."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from rooms import services
from tests.realtime.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_member_with_a_session_cookie_gets_a_welcome_with_room_and_participants(room_setup):
    room = room_setup["room"]
    therapist_socket = await open_socket(room.pk, user=room_setup["therapist"])
    await therapist_socket.expect("welcome")
    socket = await open_socket(room.pk, user=room_setup["jordan"])
    welcome = await socket.expect("welcome")
    data = welcome["data"]
    assert data["room"]["name"] == "Morgan family"
    assert data["you"]["display_name"] == "Jordan"
    assert data["you"]["relationship"] == "mother"
    assert [p["display_name"] for p in data["participants"]] == ["Dana", "Jordan"]
    assert data["chat"] == {
        "messages": [],
        "has_more": False,
        "last_seq": 0,
        "last_read_seq": 0,
        "unread": 0,
    }
    assert "ice_servers" in data["ice"]
    assert "lobby" not in data  # only moderators see the lobby
    await socket.close()
    await therapist_socket.close()


async def test_without_a_cookie_or_ticket_the_socket_is_closed_4401(room_setup):
    socket = await open_socket(room_setup["room"].pk)
    assert await socket.expect_close() == 4401


async def test_a_ticket_works_once_and_a_second_use_is_refused_4401(room_setup):
    room, user = room_setup["room"], room_setup["jordan"]
    ticket, _ = await database_sync_to_async(services.ticket_issue)(user=user, room=room)
    first = await open_socket(room.pk, ticket=ticket)
    assert (await first.expect("welcome"))["data"]["you"]["display_name"] == "Jordan"
    second = await open_socket(room.pk, ticket=ticket)
    assert await second.expect_close() == 4401
    await first.close()


async def test_an_expired_ticket_is_refused_4401(room_setup):
    from datetime import timedelta

    from django.utils import timezone

    room, user = room_setup["room"], room_setup["jordan"]
    ticket, _ = await database_sync_to_async(services.ticket_issue)(
        user=user, room=room, now=timezone.now() - timedelta(seconds=61)
    )
    socket = await open_socket(room.pk, ticket=ticket)
    assert await socket.expect_close() == 4401


async def test_a_ticket_for_another_room_is_refused_4401(room_setup, make_user):
    other = await database_sync_to_async(services.room_create)(
        owner=room_setup["therapist"], kind="family_session", name="Other family"
    )
    ticket, _ = await database_sync_to_async(services.ticket_issue)(
        user=room_setup["therapist"], room=other
    )
    socket = await open_socket(room_setup["room"].pk, ticket=ticket)
    assert await socket.expect_close() == 4401


async def test_a_signed_in_person_who_is_not_a_member_is_closed_4403(room_setup, make_user):
    stranger = await database_sync_to_async(make_user)("stranger")
    socket = await open_socket(room_setup["room"].pk, user=stranger)
    assert await socket.expect_close() == 4403


async def test_an_unknown_room_is_closed_4404(room_setup):
    socket = await open_socket(uuid.uuid4(), user=room_setup["jordan"])
    assert await socket.expect_close() == 4404


async def test_a_malformed_room_id_is_closed_4404(room_setup):
    socket = await open_socket("not-a-room", user=room_setup["jordan"])
    assert await socket.expect_close() == 4404


async def test_a_foreign_origin_is_refused_at_the_handshake(room_setup):
    socket = await open_socket(
        room_setup["room"].pk, user=room_setup["jordan"], origin=b"https://evil.example"
    )
    assert socket.close_code is not None or await socket.expect_close()


async def test_a_missing_origin_is_refused_at_the_handshake(room_setup):
    socket = await open_socket(room_setup["room"].pk, user=room_setup["jordan"], origin=None)
    assert socket.close_code is not None or await socket.expect_close()


async def test_more_sockets_than_the_limit_for_one_person_are_closed_4409(room_setup, settings):
    settings.WS_MAX_SOCKETS_PER_USER_PER_ROOM = 2
    room, user = room_setup["room"], room_setup["jordan"]
    first = await open_socket(room.pk, user=user)
    await first.expect("welcome")
    second = await open_socket(room.pk, user=user)
    await second.expect("welcome")
    third = await open_socket(room.pk, user=user)
    assert await third.expect_close() == 4409
    await first.close()
    await second.close()


async def test_removing_a_membership_through_the_api_closes_the_persons_open_sockets(room_setup):
    from django.test import Client

    from rooms.models import Membership

    room = room_setup["room"]
    brother = await open_socket(room.pk, user=room_setup["riley"])
    await brother.expect("welcome")
    mother = await open_socket(room.pk, user=room_setup["jordan"])
    await mother.expect("welcome")
    membership = await database_sync_to_async(Membership.objects.get)(
        user=room_setup["riley"], room=room
    )
    therapist_api = Client()
    await database_sync_to_async(therapist_api.force_login)(room_setup["therapist"])
    response = await database_sync_to_async(therapist_api.delete)(
        f"/api/rooms/{room.pk}/memberships/{membership.pk}"
    )
    assert response.status_code == 204
    removed = await brother.expect("removed")
    assert removed["data"]["reason"] == "removed"
    assert await brother.expect_close() == 4412
    left = await mother.expect("participant.left")
    assert left["data"]["participant"] == membership.participant_id
    await mother.close()
