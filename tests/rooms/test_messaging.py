"""Chat and care-thread services: posting, resends, limits, history, read marks, unread counts,
the inbox and the offline email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgpack
import pytest
from django.core import mail
from django.db import connection

from rooms import services
from rooms.crypto import decrypt_body
from rooms.errors import DomainError
from rooms.events import CHAT_MESSAGE, CHAT_READ, RoomEvent
from rooms.messaging import (
    PostedMessage,
    care_thread_notify_offline,
    inbox_for_user,
    message_post,
    messages_page,
    read_mark,
    unread_count,
)
from rooms.models import AuditEvent, Connection, Membership, Message, Participant, Room

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def thread(therapist, make_user):
    """A care thread: the therapist, a client (Alex) and the client's mother (Jordan)."""
    room = services.room_create(owner=therapist, kind="care_thread", name="Morgan care team")
    alex = make_user("alex")
    jordan = make_user("jordan")
    services.membership_add(actor=therapist, room=room, user=alex, role="client")
    services.membership_add(
        actor=therapist, room=room, user=jordan, role="family", display_name="Mum"
    )
    return room


def member(room, username):
    return Membership.objects.select_related("room", "user").get(
        room=room, user__username=f"{username}@test.hearth"
    )


def post(room, username, body, client_msg_id=None, now=None):
    post.counter = getattr(post, "counter", 0) + 1
    return message_post(
        membership=member(room, username),
        client_msg_id=client_msg_id or f"m-{post.counter}",
        body=body,
        now=now,
    )


# --- posting -------------------------------------------------------------------------------


def test_a_posted_message_gets_the_next_seq_and_one_chat_message_event(family_room):
    mum = member(family_room, "jordan")
    first = message_post(membership=mum, client_msg_id="c-1", body="hello", now=T0)
    second = message_post(membership=mum, client_msg_id="c-2", body="again", now=T0)

    assert isinstance(first.value, PostedMessage)
    assert (first.value.seq, first.value.created) == (1, True)
    assert second.value.seq == 2
    assert first.effects == [RoomEvent(CHAT_MESSAGE, first.value.message)]
    assert first.value.message == {
        "seq": 1,
        "sender": f"p-{mum.pk}",
        "sender_name": "Jordan",
        "body": "hello",
        "client_msg_id": "c-1",
        "sent_at": "2025-03-04T15:00:00.000Z",
    }
    assert Room.objects.get(pk=family_room.pk).last_seq == 2


def test_the_wire_message_survives_the_channel_layers_msgpack_unchanged(family_room):
    outcome = post(family_room, "alex", "plain values only")
    wire = outcome.value.message
    assert msgpack.unpackb(msgpack.packb(wire)) == wire


def test_a_resend_returns_the_first_seq_and_writes_nothing_new(family_room):
    mum = member(family_room, "jordan")
    first = message_post(membership=mum, client_msg_id="same", body="are we on at 5?")
    post(family_room, "alex", "in between")
    again = message_post(membership=mum, client_msg_id="same", body="are we on at 5?")

    assert (again.value.seq, again.value.created) == (first.value.seq, False)
    assert again.value.message == first.value.message
    assert again.effects == []
    assert Message.objects.filter(room=family_room).count() == 2


def test_a_resend_with_a_different_body_still_returns_the_first_message(family_room):
    mum = member(family_room, "jordan")
    first = message_post(membership=mum, client_msg_id="same", body="original")
    again = message_post(membership=mum, client_msg_id="same", body="edited text")

    assert again.value.seq == first.value.seq
    assert again.value.message["body"] == "original"
    assert again.effects == []
    assert Message.objects.filter(room=family_room).count() == 1


def test_two_senders_may_use_the_same_client_msg_id(family_room):
    a = post(family_room, "alex", "from alex", client_msg_id="x-1")
    b = post(family_room, "jordan", "from jordan", client_msg_id="x-1")
    assert (a.value.seq, b.value.seq) == (1, 2)
    assert b.value.created


def test_the_body_is_trimmed_before_it_is_stored(family_room):
    outcome = post(family_room, "alex", "  \n hi there \t ")
    assert outcome.value.message["body"] == "hi there"
    stored = Message.objects.get(room=family_room)
    assert decrypt_body(stored.body_encrypted) == "hi there"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "body_empty"),
        ("   \n\t ", "body_empty"),
        ("x" * 4001, "body_too_long"),
        ("  " + "x" * 4001 + "  ", "body_too_long"),
    ],
)
def test_an_empty_or_too_long_body_is_refused_and_nothing_is_written(family_room, body, code):
    with pytest.raises(DomainError) as caught:
        post(family_room, "alex", body)
    assert caught.value.code == code
    assert caught.value.status == 400
    assert not Message.objects.filter(room=family_room).exists()
    assert Room.objects.get(pk=family_room.pk).last_seq == 0


def test_a_body_of_exactly_4000_characters_after_trimming_is_accepted(family_room):
    outcome = post(family_room, "alex", "  " + "é" * 4000 + "  ")
    assert outcome.value.message["body"] == "é" * 4000


@pytest.mark.parametrize("client_msg_id", ["", "x" * 65, "has space", "slash/no", "nl\n", "ü"])
def test_a_malformed_client_msg_id_is_refused_and_nothing_is_written(family_room, client_msg_id):
    with pytest.raises(DomainError) as caught:
        message_post(membership=member(family_room, "alex"), client_msg_id=client_msg_id, body="hi")
    assert caught.value.code == "invalid_client_msg_id"
    assert not Message.objects.filter(room=family_room).exists()


def test_a_client_msg_id_of_64_allowed_characters_is_accepted(family_room):
    client_msg_id = ("Az09._:-" * 8)[:64]
    outcome = post(family_room, "alex", "hi", client_msg_id=client_msg_id)
    assert outcome.value.message["client_msg_id"] == client_msg_id


def test_a_member_whose_chat_is_muted_gets_chat_muted_and_nothing_is_written(family_room):
    alex = member(family_room, "alex")
    Participant.objects.create(membership=alex, room=family_room, imposed_chat_mute=True)
    with pytest.raises(DomainError) as caught:
        message_post(membership=alex, client_msg_id="c-1", body="let me talk")
    assert caught.value.code == "chat_muted"
    assert not Message.objects.filter(room=family_room).exists()
    assert Room.objects.get(pk=family_room.pk).last_seq == 0


def test_mute_all_chat_silences_members_but_not_the_therapist(family_room):
    Room.objects.filter(pk=family_room.pk).update(mute_all_chat=True)
    with pytest.raises(DomainError) as caught:
        post(family_room, "jordan", "hello?")
    assert caught.value.code == "chat_muted"
    assert post(family_room, "dana", "one moment please").value.seq == 1


def test_a_mute_imposed_after_the_socket_loaded_the_room_still_applies(family_room):
    alex = member(family_room, "alex")  # the caller's copy, loaded before the mute
    Room.objects.filter(pk=family_room.pk).update(mute_all_chat=True)
    with pytest.raises(DomainError) as caught:
        message_post(membership=alex, client_msg_id="c-1", body="hi")
    assert caught.value.code == "chat_muted"


def test_a_banned_member_cannot_post_even_with_a_stale_membership(family_room, therapist):
    alex = member(family_room, "alex")
    Membership.objects.filter(pk=alex.pk).update(banned_at=T0, banned_by=therapist)
    with pytest.raises(DomainError) as caught:
        message_post(membership=alex, client_msg_id="c-1", body="hi")
    assert caught.value.code == "banned"
    assert caught.value.status == 403
    assert not Message.objects.filter(room=family_room).exists()


def test_a_removed_member_cannot_post_with_their_old_membership(family_room, therapist):
    alex = member(family_room, "alex")
    services.membership_remove(actor=therapist, membership=member(family_room, "alex"))
    with pytest.raises(DomainError) as caught:
        message_post(membership=alex, client_msg_id="c-1", body="hi")
    assert caught.value.code == "not_member"
    assert not Message.objects.filter(room=family_room).exists()


def test_a_resend_after_being_muted_is_still_acknowledged_with_the_first_seq(family_room):
    alex = member(family_room, "alex")
    first = message_post(membership=alex, client_msg_id="c-1", body="sent before the mute")
    Participant.objects.create(membership=alex, room=family_room, imposed_chat_mute=True)
    again = message_post(membership=alex, client_msg_id="c-1", body="sent before the mute")
    assert (again.value.seq, again.value.created, again.effects) == (first.value.seq, False, [])


def test_the_stored_body_is_not_the_plaintext(family_room):
    sentinel = "SENTINEL-appointment-moved-7f3a"
    post(family_room, "alex", sentinel)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT body_encrypted FROM rooms_message WHERE room_id = %s", [family_room.pk]
        )
        (raw,) = cursor.fetchone()
    raw = bytes(raw)
    assert sentinel.encode() not in raw
    assert b"appointment" not in raw
    assert decrypt_body(raw) == sentinel


# --- history -------------------------------------------------------------------------------


@pytest.fixture
def ten_messages(family_room):
    for n in range(1, 11):
        post(family_room, "alex" if n % 2 else "jordan", f"message {n}")
    return family_room


def seqs(page):
    return [m["seq"] for m in page]


def test_history_without_a_position_returns_the_latest_messages_in_order(ten_messages):
    mum = member(ten_messages, "jordan")
    assert seqs(messages_page(membership=mum, limit=3)) == [8, 9, 10]
    page = messages_page(membership=mum)
    assert seqs(page) == list(range(1, 11))
    assert page[0]["body"] == "message 1"
    assert page[0]["sender"] == f"p-{member(ten_messages, 'alex').pk}"
    assert page[1]["sender_name"] == "Jordan"


def test_history_after_a_seq_returns_the_next_messages(ten_messages):
    mum = member(ten_messages, "jordan")
    assert seqs(messages_page(membership=mum, after_seq=4, limit=3)) == [5, 6, 7]
    assert seqs(messages_page(membership=mum, after_seq=8)) == [9, 10]
    assert messages_page(membership=mum, after_seq=10) == []


def test_history_before_a_seq_returns_the_earlier_messages(ten_messages):
    mum = member(ten_messages, "jordan")
    assert seqs(messages_page(membership=mum, before_seq=8, limit=3)) == [5, 6, 7]
    assert seqs(messages_page(membership=mum, before_seq=3, limit=50)) == [1, 2]
    assert messages_page(membership=mum, before_seq=1) == []


def test_paging_forward_from_zero_visits_every_message_exactly_once(ten_messages):
    mum = member(ten_messages, "jordan")
    seen, position = [], 0
    while page := messages_page(membership=mum, after_seq=position, limit=4):
        seen += seqs(page)
        position = page[-1]["seq"]
    assert seen == list(range(1, 11))


def test_the_history_limit_is_clamped_to_1_through_200(ten_messages):
    mum = member(ten_messages, "jordan")
    assert seqs(messages_page(membership=mum, limit=0)) == [10]
    assert seqs(messages_page(membership=mum, limit=-5)) == [10]
    assert len(messages_page(membership=mum, limit=10_000)) == 10


def test_history_with_both_after_and_before_is_refused(ten_messages):
    with pytest.raises(DomainError) as caught:
        messages_page(membership=member(ten_messages, "jordan"), after_seq=1, before_seq=5)
    assert caught.value.code == "invalid_range"


def test_history_names_the_sender_as_they_appear_in_that_room(thread):
    post(thread, "jordan", "hi")
    assert messages_page(membership=member(thread, "dana"))[0]["sender_name"] == "Mum"


# --- read marks and unread -----------------------------------------------------------------


def test_a_read_mark_moves_forward_and_announces_the_new_position(ten_messages):
    mum = member(ten_messages, "jordan")
    outcome = read_mark(membership=mum, seq=4)
    assert outcome.value == 4
    assert outcome.effects == [RoomEvent(CHAT_READ, {"participant": f"p-{mum.pk}", "seq": 4})]
    assert Membership.objects.get(pk=mum.pk).last_read_seq == 4


def test_a_read_mark_never_moves_backwards_and_a_repeat_announces_nothing(ten_messages):
    mum = member(ten_messages, "jordan")
    read_mark(membership=mum, seq=6)
    back = read_mark(membership=member(ten_messages, "jordan"), seq=2)
    same = read_mark(membership=member(ten_messages, "jordan"), seq=6)
    assert (back.value, back.effects) == (6, [])
    assert (same.value, same.effects) == (6, [])
    assert Membership.objects.get(pk=mum.pk).last_read_seq == 6


def test_a_read_mark_beyond_the_last_message_stops_at_the_last_message(ten_messages):
    mum = member(ten_messages, "jordan")
    outcome = read_mark(membership=mum, seq=999)
    assert outcome.value == 10
    assert Membership.objects.get(pk=mum.pk).last_read_seq == 10


def test_reading_a_care_thread_is_audited_without_message_text(thread):
    post(thread, "dana", "SENTINEL private note about medication")
    jordan = member(thread, "jordan")
    read_mark(membership=jordan, seq=1)
    read_mark(membership=jordan, seq=1)  # no move, no second audit row
    events = AuditEvent.objects.filter(action="thread.read", room=thread)
    assert events.count() == 1
    event = events.get()
    assert event.actor == jordan.user
    assert event.details == {"seq": 1}
    assert "SENTINEL" not in str(event.details) + event.target


def test_reading_an_ordinary_room_is_not_audited_as_a_thread_read(ten_messages):
    read_mark(membership=member(ten_messages, "jordan"), seq=5)
    assert not AuditEvent.objects.filter(action="thread.read").exists()


def test_unread_counts_only_messages_from_others_after_the_read_mark(ten_messages):
    mum = member(ten_messages, "jordan")  # Jordan wrote the even seqs
    assert unread_count(membership=mum) == 5
    read_mark(membership=member(ten_messages, "jordan"), seq=6)
    assert unread_count(membership=mum) == 2  # 7 and 9
    post(ten_messages, "jordan", "my own")
    assert unread_count(membership=mum) == 2


def test_the_inbox_lists_care_threads_most_recent_first_with_unread_counts(
    thread, therapist, make_user
):
    other = services.room_create(owner=therapist, kind="care_thread", name="Lee care team")
    jordan = member(thread, "jordan").user
    services.membership_add(actor=therapist, room=other, user=jordan, role="family")
    services.room_create(owner=therapist, kind="family_session", name="Not a thread")

    post(thread, "dana", "first", now=T0)
    post(thread, "dana", "second", now=T0 + timedelta(minutes=1))
    post(other, "dana", "newest", now=T0 + timedelta(minutes=5))
    post(other, "jordan", "my reply", now=T0 + timedelta(minutes=6))

    inbox = inbox_for_user(user=jordan)
    assert inbox == [
        {
            "room_id": str(other.pk),
            "name": "Lee care team",
            "unread": 1,
            "last_message_at": "2025-03-04T15:06:00.000Z",
            "last_seq": 2,
        },
        {
            "room_id": str(thread.pk),
            "name": "Morgan care team",
            "unread": 2,
            "last_message_at": "2025-03-04T15:01:00.000Z",
            "last_seq": 2,
        },
    ]
    read_mark(membership=member(thread, "jordan"), seq=2)
    post(thread, "dana", "latest", now=T0 + timedelta(minutes=9))
    assert [(t["name"], t["unread"]) for t in inbox_for_user(user=jordan)] == [
        ("Morgan care team", 1),
        ("Lee care team", 1),
    ]


def test_the_inbox_leaves_out_threads_the_person_is_banned_from(thread, therapist):
    jordan = member(thread, "jordan")
    assert len(inbox_for_user(user=jordan.user)) == 1
    Membership.objects.filter(pk=jordan.pk).update(banned_at=T0)
    assert inbox_for_user(user=jordan.user) == []


def test_a_thread_without_messages_shows_no_last_message_time(thread):
    (entry,) = inbox_for_user(user=member(thread, "alex").user)
    assert (entry["unread"], entry["last_message_at"], entry["last_seq"]) == (0, None, 0)


# --- offline email -------------------------------------------------------------------------


def online(room, username):
    Connection.objects.create(
        channel_name=f"specific.{username}!{room.pk}",
        instance_id="test-instance",
        user=member(room, username).user,
        room=room,
    )


def test_an_offline_member_gets_one_email_for_messages_within_the_interval(
    thread, mailoutbox, django_capture_on_commit_callbacks
):
    online(thread, "alex")
    sentinel = "SENTINEL-dose-change"
    for minutes in (0, 5, 14):
        with django_capture_on_commit_callbacks(execute=True):
            post(thread, "dana", f"{sentinel} {minutes}", now=T0 + timedelta(minutes=minutes))

    assert [m.to for m in mailoutbox] == [["jordan@test.hearth"]]
    email = mailoutbox[0]
    assert f"http://127.0.0.1:8000/threads/{thread.pk}/" in email.body
    assert "care team" in email.body
    for part in (email.subject, email.body):
        assert "SENTINEL" not in part
        assert "dose" not in part
        assert "Dana" not in part


def test_an_offline_member_is_emailed_again_after_the_interval(
    thread, mailoutbox, django_capture_on_commit_callbacks
):
    online(thread, "alex")
    with django_capture_on_commit_callbacks(execute=True):
        post(thread, "dana", "one", now=T0)
    with django_capture_on_commit_callbacks(execute=True):
        post(thread, "dana", "two", now=T0 + timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        post(thread, "dana", "three", now=T0 + timedelta(minutes=16))
    assert [m.to for m in mailoutbox] == [["jordan@test.hearth"], ["jordan@test.hearth"]]


def test_the_sender_and_online_members_get_no_email(thread, mailoutbox, settings):
    settings.PUBLIC_BASE_URL = "https://hearth.example/"
    online(thread, "alex")
    online(thread, "jordan")
    assert (
        care_thread_notify_offline(room_id=thread.pk, sender_user_id=thread.owner_id, now=T0) == 0
    )
    assert mailoutbox == []
    Connection.objects.filter(user__username="jordan@test.hearth").delete()
    assert (
        care_thread_notify_offline(room_id=thread.pk, sender_user_id=thread.owner_id, now=T0) == 1
    )
    assert f"https://hearth.example/threads/{thread.pk}/" in mailoutbox[0].body


def test_a_therapist_who_is_offline_hears_about_a_family_message(thread, mailoutbox):
    online(thread, "alex")
    sender = member(thread, "jordan").user
    assert care_thread_notify_offline(room_id=thread.pk, sender_user_id=sender.pk, now=T0) == 1
    assert mailoutbox[0].to == ["dana@test.hearth"]
    assert "SENTINEL" not in mailoutbox[0].body


def test_the_email_throttle_is_per_thread(thread, therapist, mailoutbox):
    other = services.room_create(owner=therapist, kind="care_thread", name="Second")
    jordan = member(thread, "jordan").user
    services.membership_add(actor=therapist, room=other, user=jordan, role="family")
    online(thread, "alex")
    care_thread_notify_offline(room_id=thread.pk, sender_user_id=therapist.pk, now=T0)
    care_thread_notify_offline(room_id=other.pk, sender_user_id=therapist.pk, now=T0)
    assert [m.to for m in mailoutbox] == [["jordan@test.hearth"], ["jordan@test.hearth"]]


def test_messages_in_ordinary_rooms_send_no_email(
    family_room, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(family_room, "dana", "see you at five")
    assert mailoutbox == []
    assert mail.outbox == []
