"""Between-session care threads over the same socket protocol, with offline email."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core import mail
from django.test import Client

from rooms import services
from tests.realtime.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread(db, make_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    therapist = make_user("dana", staff_role="therapist")
    mother = make_user("jordan")
    room = services.room_create(owner=therapist, kind="care_thread", name="Morgan care thread")
    services.membership_add(actor=therapist, room=room, user=mother, role="family")
    return {"room": room, "therapist": therapist, "mother": mother}


async def test_a_therapist_message_reaches_an_online_family_member_without_an_email(thread):
    therapist = await open_socket(thread["room"].pk, user=thread["therapist"])
    mother = await open_socket(thread["room"].pk, user=thread["mother"])
    await therapist.expect("welcome")
    await mother.expect("welcome")  # no waiting room in a care thread
    await therapist.request("chat.send", {"client_msg_id": "t-1", "body": "How was the week?"})
    assert (await mother.expect("chat.message"))["data"]["body"] == "How was the week?"
    assert mail.outbox == []
    await therapist.close()
    await mother.close()


async def test_an_offline_family_member_gets_one_email_with_a_link_and_no_message_text(thread):
    therapist = await open_socket(thread["room"].pk, user=thread["therapist"])
    await therapist.expect("welcome")
    for n in range(3):
        reply = await therapist.request(
            "chat.send", {"client_msg_id": f"t-{n}", "body": f"private note {n}"}
        )
        assert reply["type"] == "ack"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [thread["mother"].email]
    assert "private note" not in email.body
    assert "private note" not in email.subject
    assert f"/threads/{thread['room'].pk}/" in email.body
    await therapist.close()

    client = Client()
    await database_sync_to_async(client.force_login)(thread["mother"])
    inbox = (await database_sync_to_async(client.get)("/api/inbox")).json()
    assert inbox[0]["unread"] == 3
    assert inbox[0]["room_id"] == str(thread["room"].pk)
