"""Getting in, in a real browser: sign-in, invitations, the personal join link, the dashboard."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from rooms import services
from rooms.models import Invitation, Membership, User
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")


def _schedule(room, therapist, *, starts_at: datetime, title: str) -> None:
    """A one-off session at the aware instant `starts_at`, organised in Chicago time."""
    services.session_create(
        actor=therapist,
        room=room,
        starts_at_local=starts_at.astimezone(CHICAGO).replace(tzinfo=None),
        time_zone="America/Chicago",
        duration_minutes=60,
        title=title,
    )


def test_signing_in_lands_on_the_dashboard_with_sessions_in_the_viewers_own_time_zone(
    live_url, page: Page, family_room, therapist, page_problems
):
    now = datetime.now(tz=CHICAGO).replace(second=0, microsecond=0)
    soon = now + timedelta(minutes=5)
    tomorrow = (now + timedelta(days=1)).replace(hour=18, minute=0)
    _schedule(family_room, therapist, starts_at=soon, title="Check-in")
    _schedule(family_room, therapist, starts_at=tomorrow, title="Family session")
    mother = family_room.test_family_user  # time zone America/New_York; the browser is in UTC

    sign_in(page, live_url, mother.username)

    expect(page.get_by_role("heading", name="Hello, Jordan")).to_be_visible()
    later = page.locator("li.session", has=page.get_by_role("heading", name="Family session"))
    in_new_york = tomorrow.astimezone(NEW_YORK)
    # 18:00 in Chicago is 19:00 for a viewer in New York (and 23:00 or 00:00 in UTC).
    expect(later.locator("time").first).to_contain_text(in_new_york.strftime("%A"))
    expect(later.locator("time").first).to_contain_text(in_new_york.strftime("%-I:%M %p"))
    # Join opens 10 minutes before the start: closed for tomorrow, open for the one in 5 min.
    expect(later.get_by_role("button", name="Join the session")).to_be_disabled()
    expect(later).to_contain_text("10 minutes before the start")
    current = page.locator("li.session", has=page.get_by_role("heading", name="Check-in"))
    join = current.get_by_role("link", name="Join the session")
    expect(join).to_be_visible()
    join.click()
    page.wait_for_url(f"{live_url}/rooms/{family_room.pk}/check")
    assert page_problems.messages == []


def test_a_wrong_password_says_so_and_stays_on_the_sign_in_page(live_url, page: Page, make_user):
    user = make_user("casey")

    page.goto(live_url + "/signin")
    page.get_by_label("Email").fill(user.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text("That email or password is not right.")
    assert page.url == live_url + "/signin"


def test_the_invitation_page_creates_the_account_and_lands_signed_in(
    live_url, new_context, family_room, therapist
):
    _invitation, token = services.invitation_create(
        actor=therapist, room=family_room, email="gran@example.org", relationship="grandmother"
    )
    page = new_context(timezone_id="Europe/Berlin").new_page()

    page.goto(f"{live_url}/invite/{token}")

    expect(page.get_by_role("heading", level=1)).to_have_text("You are invited to Morgan family")
    expect(page.locator("#inviter")).to_have_text("Dana")
    # The zone comes from the device and stays editable.
    expect(page.get_by_label("Your time zone")).to_have_value("Europe/Berlin")
    expect(page.get_by_label("Your relationship to the patient")).to_have_value("grandmother")
    page.get_by_label("Your name, as others will see it").fill("Gran Morgan")
    page.get_by_label("Your relationship to the patient").fill("grandmother (dad's side)")
    page.get_by_label("Choose a password").fill("apple-orchard-1957")
    page.get_by_role("button", name="Accept the invitation").click()

    page.wait_for_url(live_url + "/")
    expect(page.get_by_role("heading", name="Hello, Gran Morgan")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    user = User.objects.get(username="gran@example.org")
    assert user.time_zone == "Europe/Berlin"
    membership = Membership.objects.get(user=user, room=family_room)
    assert membership.relationship == "grandmother (dad's side)"


def test_an_expired_invitation_shows_a_plain_message_instead_of_the_form(
    live_url, page: Page, family_room, therapist
):
    _invitation, token = services.invitation_create(
        actor=therapist,
        room=family_room,
        email="late@example.org",
        now=datetime.now(tz=CHICAGO) - timedelta(days=30),
    )

    response = page.goto(f"{live_url}/invite/{token}")

    assert response is not None
    assert response.status == 410
    expect(
        page.get_by_text("This invitation has expired. Ask your therapist for a new one.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Accept the invitation")).to_have_count(0)


def test_an_invitation_withdrawn_while_the_page_is_open_explains_why_it_failed(
    live_url, page: Page, family_room, therapist
):
    invitation, token = services.invitation_create(
        actor=therapist, room=family_room, email="uncle@example.org"
    )
    page.goto(f"{live_url}/invite/{token}")
    services.invitation_revoke(actor=therapist, invitation=Invitation.objects.get(pk=invitation.pk))

    page.get_by_label("Your name, as others will see it").fill("Uncle Pat")
    page.get_by_label("Choose a password").fill("apple-orchard-1957")
    page.get_by_role("button", name="Accept the invitation").click()

    expect(page.get_by_role("alert")).to_have_text(
        "This invitation was withdrawn. Ask your therapist for a new one."
    )
    expect(page.get_by_role("button", name="Accept the invitation")).to_be_hidden()
    assert not User.objects.filter(username="uncle@example.org").exists()
