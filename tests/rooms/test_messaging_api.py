"""GET /api/inbox and GET /api/rooms/<id>/messages through the Django test client."""

from __future__ import annotations

import pytest

from rooms import services
from rooms.messaging import message_post
from rooms.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(therapist, make_user):
    room = services.room_create(owner=therapist, kind="care_thread", name="Morgan care team")
    jordan = make_user("jordan")
    services.membership_add(actor=therapist, room=room, user=jordan, role="family")
    dana = Membership.objects.select_related("room").get(room=room, user=therapist)
    for n in range(1, 6):
        message_post(membership=dana, client_msg_id=f"c-{n}", body=f"note {n}")
    room.test_family_user = jordan
    return room


def test_the_inbox_lists_the_signed_in_persons_threads_with_unread_counts(client, thread):
    client.force_login(thread.test_family_user)
    response = client.get("/api/inbox")
    assert response.status_code == 200
    (entry,) = response.json()
    assert entry["room_id"] == str(thread.pk)
    assert entry["name"] == "Morgan care team"
    assert entry["unread"] == 5
    assert entry["last_seq"] == 5
    assert entry["last_message_at"].endswith("Z")


def test_the_inbox_needs_a_signed_in_person(client, thread):
    response = client.get("/api/inbox")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_member_pages_through_messages(client, thread):
    client.force_login(thread.test_family_user)
    latest = client.get(f"/api/rooms/{thread.pk}/messages?limit=2")
    assert latest.status_code == 200
    assert [m["seq"] for m in latest.json()] == [4, 5]
    assert latest.json()[1]["body"] == "note 5"
    assert set(latest.json()[0]) == {
        "seq",
        "sender",
        "sender_name",
        "body",
        "client_msg_id",
        "sent_at",
    }
    after = client.get(f"/api/rooms/{thread.pk}/messages?after_seq=1&limit=2")
    assert [m["seq"] for m in after.json()] == [2, 3]
    before = client.get(f"/api/rooms/{thread.pk}/messages?before_seq=3")
    assert [m["seq"] for m in before.json()] == [1, 2]


def test_asking_for_messages_after_and_before_at_once_is_refused(client, thread):
    client.force_login(thread.test_family_user)
    response = client.get(f"/api/rooms/{thread.pk}/messages?after_seq=1&before_seq=4")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_range"


def test_a_non_member_gets_404_for_a_rooms_messages(client, thread, make_user):
    client.force_login(make_user("stranger"))
    response = client.get(f"/api/rooms/{thread.pk}/messages")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "note" not in response.content.decode()


def test_a_banned_member_gets_404_for_a_rooms_messages(client, thread):
    Membership.objects.filter(user=thread.test_family_user).update(banned_at="2025-01-01T00:00:00Z")
    client.force_login(thread.test_family_user)
    assert client.get(f"/api/rooms/{thread.pk}/messages").status_code == 404
    assert client.get("/api/inbox").json() == []
