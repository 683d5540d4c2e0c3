"""The pages' server side, without a browser: who sees which page, where links lead, and the
security headers on every HTML response (and only there)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from rooms import services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_html_page_carries_the_content_security_policy_and_permissions_policy(client):
    response = client.get("/signin")

    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "connect-src 'self' ws://testserver;" in policy
    assert response["Permissions-Policy"].startswith("camera=(self), microphone=(self)")
    assert response["X-Frame-Options"] == "DENY"


def test_a_page_served_over_https_allows_only_its_own_secure_websocket(client):
    response = client.get("/signin", secure=True)

    assert "connect-src 'self' wss://testserver;" in response["Content-Security-Policy"]


def test_json_responses_carry_no_page_policy(client):
    response = client.get("/api/auth/csrf")

    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert "Content-Security-Policy" not in response


def test_a_signed_out_person_is_sent_to_sign_in_and_brought_back_to_the_join_link(
    client, family_room
):
    response = client.get(f"/join/{family_room.pk}/")

    assert response.status_code == 302
    assert response["Location"] == f"/signin?next=/join/{family_room.pk}/"


def test_the_join_link_takes_a_member_straight_to_the_pre_call_check(family_room):
    client = _signed_in(family_room.test_family_user)

    response = client.get(f"/join/{family_room.pk}/", follow=True)

    assert response.redirect_chain == [(f"/rooms/{family_room.pk}/check", 302)]
    assert b'value="Jordan"' in response.content


def test_someone_elses_room_is_not_found_and_says_so_plainly(family_room, make_user):
    client = _signed_in(make_user("stranger"))

    for path in (f"/join/{family_room.pk}/", f"/rooms/{family_room.pk}/check"):
        response = client.get(path)
        assert response.status_code == 404
        assert b"No such room." in response.content


def test_sign_in_sends_an_already_signed_in_person_on_but_never_off_site(make_user):
    client = _signed_in(make_user("casey"))

    assert client.get("/signin?next=/threads/")["Location"] == "/threads/"
    assert client.get("/signin?next=https://evil.example/")["Location"] == "/"


def test_the_invitation_page_names_the_room_and_who_invited(client, family_room, therapist):
    _invitation, token = services.invitation_create(
        actor=therapist, room=family_room, email="gran@example.org"
    )

    response = client.get(f"/invite/{token}")

    assert response.status_code == 200
    assert b"Morgan family" in response.content
    assert b"Dana</span> invited you" in response.content


def test_a_used_invitation_link_says_to_sign_in_instead(client, family_room, therapist):
    _invitation, token = services.invitation_create(
        actor=therapist, room=family_room, email="gran@example.org"
    )
    services.invitation_accept(
        token=token, display_name="Gran", password="apple-orchard-1957", time_zone="UTC"
    )

    response = client.get(f"/invite/{token}")

    assert response.status_code == 410
    assert b"This invitation was already used. Sign in instead." in response.content


def test_an_expired_invitation_link_is_gone(client, family_room, therapist):
    _invitation, token = services.invitation_create(
        actor=therapist,
        room=family_room,
        email="gran@example.org",
        now=timezone.now() - timedelta(days=10),
    )

    response = client.get(f"/invite/{token}")

    assert response.status_code == 410
    assert b"This invitation has expired." in response.content


def test_signing_out_needs_a_post_and_ends_the_session(family_room):
    client = _signed_in(family_room.test_family_user)

    assert client.get("/signout").status_code == 405
    response = client.post("/signout")

    assert response["Location"] == "/signin"
    assert client.get("/")["Location"] == "/signin?next=/"


def test_a_care_thread_opens_as_a_conversation_and_a_session_room_as_a_room(family_room, therapist):
    thread = services.room_create(owner=therapist, kind="care_thread", name="Morgan messages")
    client = _signed_in(therapist)

    assert client.get(f"/rooms/{thread.pk}/")["Location"] == f"/threads/{thread.pk}/"
    assert client.get(f"/threads/{family_room.pk}/")["Location"] == f"/rooms/{family_room.pk}/"
    assert client.get(f"/threads/{thread.pk}/").status_code == 200
