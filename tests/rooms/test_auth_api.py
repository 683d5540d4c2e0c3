"""Session sign-in with CSRF, the profile, and the OpenAPI schema."""

from __future__ import annotations

import pytest

from rooms.models import AuditEvent
from tests.rooms.apiclient import ApiClient, error_code, field_errors

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the tests/conftest.py make_user password


def test_signing_in_without_the_csrf_token_is_403_csrf_failed(therapist):
    browser = ApiClient()

    response = browser.client.post(
        "/api/auth/login",
        data={"username": therapist.username, "password": PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"
    assert "X-CSRFToken" in response.json()["error"]["message"]
    assert browser.client.get("/api/me").status_code == 401


def test_signing_in_with_the_csrf_token_works_and_me_answers(therapist):
    browser = ApiClient()
    csrf = browser.client.get("/api/auth/csrf")
    token = csrf.json()["csrf_token"]
    assert browser.client.cookies["csrftoken"].value

    response = browser.client.post(
        "/api/auth/login",
        data={"username": therapist.username, "password": PASSWORD},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 200
    assert response.json()["username"] == therapist.username
    me = browser.get("/api/me").json()
    assert (me["id"], me["staff_role"], me["time_zone"]) == (
        therapist.pk,
        "therapist",
        "America/Chicago",
    )
    assert AuditEvent.objects.filter(action="auth.login", actor=therapist).exists()


def test_a_wrong_password_is_400_invalid_credentials(therapist):
    browser = ApiClient()

    response = browser.post(
        "/api/auth/login", {"username": therapist.username, "password": "wrong-password"}
    )

    assert response.status_code == 400
    assert error_code(response) == "invalid_credentials"
    assert browser.client.get("/api/me").status_code == 401


def test_a_signed_in_unsafe_request_without_csrf_is_refused(api_for, therapist):
    api = api_for(therapist)

    response = api.client.post(
        "/api/rooms",
        data={"kind": "family_session", "name": "No token"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"


def test_signing_out_ends_the_session(api_for, therapist):
    api = api_for(therapist)

    response = api.post("/api/auth/logout")

    assert response.status_code == 204
    assert api.get("/api/me").status_code == 401
    assert error_code(api.get("/api/me")) == "not_authenticated"


def test_a_person_changes_their_name_and_time_zone(api_for, family_room):
    api = api_for(family_room.test_family_user)

    ok = api.patch("/api/me", {"display_name": "Jordan M.", "time_zone": "America/Denver"})
    bad = api.patch("/api/me", {"time_zone": "Mars/Olympus"})

    assert ok.status_code == 200
    assert (ok.json()["display_name"], ok.json()["time_zone"]) == ("Jordan M.", "America/Denver")
    assert bad.status_code == 400
    assert set(field_errors(bad)) == {"time_zone"}
    family_room.test_family_user.refresh_from_db()
    assert family_room.test_family_user.time_zone == "America/Denver"


def test_the_openapi_schema_lists_every_endpoint(api_for):
    response = api_for().get("/api/schema/")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, method in [
        ("/api/auth/csrf", "get"),
        ("/api/auth/login", "post"),
        ("/api/auth/logout", "post"),
        ("/api/me", "get"),
        ("/api/rooms", "post"),
        ("/api/rooms/{room_id}", "patch"),
        ("/api/rooms/{room_id}/memberships", "post"),
        ("/api/rooms/{room_id}/memberships/{membership_id}", "delete"),
        ("/api/rooms/{room_id}/invitations", "post"),
        ("/api/invitations/{invitation_id}/revoke", "post"),
        ("/api/invitations/accept", "post"),
        ("/api/sessions", "post"),
        ("/api/sessions/upcoming", "get"),
        ("/api/calendar.ics", "get"),
        ("/api/rooms/{room_id}/ticket", "post"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from the schema"
    room_out = schema["components"]["schemas"]["RoomOut"]["properties"]
    assert {"id", "kind", "waiting_room_enabled", "can_edit"} <= set(room_out)
