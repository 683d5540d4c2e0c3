"""Message bodies at rest: encrypted under MESSAGE_KEYS, rotatable to a new first key."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from rooms.crypto import MessageKeyError, decrypt_body, encrypt_body, rotate_all
from rooms.messaging import message_post, messages_page
from rooms.models import Membership, Message

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
SENTINEL = "SENTINEL-we-talked-about-the-funeral"


def raw_bodies(room) -> list[bytes]:
    """body_encrypted exactly as PostgreSQL stores it, bypassing the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT body_encrypted FROM rooms_message WHERE room_id = %s ORDER BY seq", [room.pk]
        )
        return [bytes(row[0]) for row in cursor.fetchall()]


def post_three(room) -> None:
    alex = Membership.objects.select_related("room").get(
        room=room, user__username="alex@test.hearth"
    )
    for n in range(3):
        message_post(membership=alex, client_msg_id=f"c-{n}", body=f"{SENTINEL} {n}")


def test_a_body_round_trips_and_the_token_is_not_the_text(settings):
    settings.MESSAGE_KEYS = [KEY_A]
    token = encrypt_body("héllo there")
    assert b"llo there" not in token
    assert decrypt_body(token) == "héllo there"
    assert decrypt_body(memoryview(token)) == "héllo there"
    assert Fernet(KEY_A).decrypt(token) == "héllo there".encode()


def test_without_message_keys_a_key_derived_from_the_secret_key_is_used(settings):
    settings.MESSAGE_KEYS = []
    token = encrypt_body("embedded mode")
    assert decrypt_body(token) == "embedded mode"
    settings.SECRET_KEY = "another-secret-key-of-a-reasonable-length-0123456789"
    with pytest.raises(MessageKeyError):
        decrypt_body(token)


def test_message_keys_may_be_given_as_a_comma_separated_string(settings):
    settings.MESSAGE_KEYS = f" {KEY_B} , {KEY_A} "
    token = Fernet(KEY_A).encrypt(b"old")
    assert decrypt_body(token) == "old"
    assert Fernet(KEY_B).decrypt(encrypt_body("new")) == b"new"


def test_a_malformed_key_is_a_configuration_error_that_does_not_show_the_key(settings):
    settings.MESSAGE_KEYS = ["not-a-fernet-key-but-a-secret"]
    with pytest.raises(ImproperlyConfigured) as caught:
        encrypt_body("x")
    assert "not-a-fernet-key" not in str(caught.value)
    assert "entry 1" in str(caught.value)


def test_a_body_written_under_a_dropped_key_cannot_be_read(settings):
    settings.MESSAGE_KEYS = [KEY_A]
    token = encrypt_body("secret")
    settings.MESSAGE_KEYS = [KEY_B]
    with pytest.raises(MessageKeyError):
        decrypt_body(token)


@pytest.mark.django_db
def test_the_database_column_holds_no_plaintext_and_decrypts_back(family_room, settings):
    settings.MESSAGE_KEYS = [KEY_A]
    post_three(family_room)
    raws = raw_bodies(family_room)
    assert len(raws) == 3
    for n, raw in enumerate(raws):
        assert SENTINEL.encode() not in raw
        assert b"funeral" not in raw
        assert decrypt_body(raw) == f"{SENTINEL} {n}"


@pytest.mark.django_db
def test_rotation_moves_every_body_to_the_new_first_key(family_room, settings):
    settings.MESSAGE_KEYS = [KEY_A]
    post_three(family_room)
    before = raw_bodies(family_room)

    settings.MESSAGE_KEYS = [KEY_B, KEY_A]
    assert rotate_all(batch_size=2) == 3  # two batches

    after = raw_bodies(family_room)
    assert all(new != old for new, old in zip(after, before, strict=True))
    settings.MESSAGE_KEYS = [KEY_B]  # the old key is gone: everything still reads
    alex = Membership.objects.get(room=family_room, user__username="alex@test.hearth")
    bodies = [m["body"] for m in messages_page(membership=alex)]
    assert bodies == [f"{SENTINEL} {n}" for n in range(3)]
    for raw in after:
        assert SENTINEL.encode() not in raw


@pytest.mark.django_db
def test_without_rotation_dropping_the_old_key_makes_history_unreadable(family_room, settings):
    settings.MESSAGE_KEYS = [KEY_A]
    post_three(family_room)
    settings.MESSAGE_KEYS = [KEY_B]
    with pytest.raises(MessageKeyError):
        rotate_all()


@pytest.mark.django_db
def test_the_rotate_message_keys_command_reports_how_many_rows_it_rewrote(family_room, settings):
    settings.MESSAGE_KEYS = [KEY_A]
    post_three(family_room)
    settings.MESSAGE_KEYS = [KEY_B, KEY_A]
    out = StringIO()
    call_command("rotate_message_keys", "--batch-size", "1", stdout=out)
    assert "Re-encrypted 3 message(s)" in out.getvalue()
    settings.MESSAGE_KEYS = [KEY_B]
    assert [decrypt_body(m.body_encrypted) for m in Message.objects.order_by("seq")] == [
        f"{SENTINEL} {n}" for n in range(3)
    ]


@pytest.mark.django_db
def test_the_rotate_command_names_the_problem_when_a_key_is_missing(family_room, settings):
    settings.MESSAGE_KEYS = [KEY_A]
    post_three(family_room)
    settings.MESSAGE_KEYS = [KEY_B]
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_message_keys", stdout=StringIO())
