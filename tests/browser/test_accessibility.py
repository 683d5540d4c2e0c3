"""Every page passes axe-core with no serious or critical violation, on a laptop and on a
360 px phone, and nothing on the phone needs sideways scrolling."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from rooms import messaging, services
from rooms.models import Membership
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
BLOCKING_IMPACTS = {"serious", "critical"}


def _blocking(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


@pytest.mark.parametrize("viewport", VIEWPORTS.keys())
def test_the_pages_pass_axe_with_no_serious_or_critical_violations(
    viewport, live_url, new_context, family_room, therapist
):
    chicago = ZoneInfo("America/Chicago")
    start = datetime.now(tz=chicago).replace(second=0, microsecond=0) + timedelta(minutes=5)
    for offset, title in ((timedelta(0), "Check-in"), (timedelta(days=2), "Family session")):
        services.session_create(
            actor=therapist,
            room=family_room,
            starts_at_local=(start + offset).replace(tzinfo=None),
            time_zone="America/Chicago",
            title=title,
        )
    thread = services.room_create(owner=therapist, kind="care_thread", name="Morgan messages")
    mother = family_room.test_family_user
    services.membership_add(actor=therapist, room=thread, user=mother, role="family")
    author = Membership.objects.get(room=thread, user=therapist)
    messaging.message_post(membership=author, client_msg_id="m-1", body="See you on Tuesday")
    _invitation, token = services.invitation_create(
        actor=therapist, room=family_room, email="gran@example.org"
    )
    page = new_context(viewport=VIEWPORTS[viewport]).new_page()

    found: dict[str, list[str]] = {}
    wide: list[str] = []

    def check(name: str) -> None:
        page.wait_for_load_state("networkidle")
        found[name] = _blocking(page)
        if page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth"):
            wide.append(name)

    page.goto(live_url + "/signin")
    check("sign-in")
    page.goto(f"{live_url}/invite/{token}")
    check("invitation")
    page.goto(f"{live_url}/invite/not-a-real-token")
    check("invitation problem")
    sign_in(page, live_url, mother.username)
    page.get_by_role("link", name="Join the session").wait_for()
    check("dashboard")
    page.goto(f"{live_url}/rooms/{family_room.pk}/check")
    page.get_by_role("button", name="Start the camera and microphone check").click()
    page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    expect(page.locator("#connection-verdict")).to_be_visible(timeout=40_000)
    check("pre-call check")
    _shoot(page, "precall-check", viewport, full_page=True)
    page.goto(live_url + "/threads/")
    page.get_by_text("1 unread").wait_for()
    check("inbox")
    page.goto(f"{live_url}/threads/{thread.pk}/")
    page.get_by_text("See you on Tuesday").wait_for()
    check("thread")

    assert {name: problems for name, problems in found.items() if problems} == {}
    assert wide == []


def _open(new_context, live_url: str, user, viewport: dict[str, int]) -> Page:
    page = new_context(viewport=viewport).new_page()
    sign_in(page, live_url, user.username)
    return page


# Set HEARTH_SCREENSHOTS=docs/screenshots to refresh the committed screenshots from this run.
SCREENSHOTS = os.environ.get("HEARTH_SCREENSHOTS", "")


def _shoot(
    page: Page, name: str, viewport: str, *, element: str | None = None, full_page: bool = False
) -> None:
    if not SCREENSHOTS:
        return
    path = Path(SCREENSHOTS) / f"{name}-{viewport}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    # The clock in the fake camera picture and the meters move: animations off keeps the
    # rest of the picture steady between runs.
    if element:
        page.locator(element).screenshot(path=path, animations="disabled")
    else:
        page.screenshot(path=path, animations="disabled", full_page=full_page)


@pytest.mark.parametrize("viewport", VIEWPORTS.keys())
def test_the_waiting_room_the_session_and_the_console_pass_axe(
    viewport, live_url, new_context, family_room, therapist
):
    size = VIEWPORTS[viewport]
    dana = _open(new_context, live_url, therapist, size)
    jordan = _open(new_context, live_url, family_room.test_family_user, size)
    alex = _open(new_context, live_url, family_room.test_client_user, size)
    found: dict[str, list[str]] = {}
    wide: list[str] = []

    def check(page: Page, name: str) -> None:
        found[name] = _blocking(page)
        if page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth"):
            wide.append(name)

    dana.goto(f"{live_url}/rooms/{family_room.pk}/")
    expect(dana.get_by_role("heading", name="Facilitator controls")).to_be_visible()
    for page in (jordan, alex):
        page.goto(f"{live_url}/rooms/{family_room.pk}/")
        expect(page.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    check(jordan, "waiting room")
    _shoot(jordan, "waiting-room", viewport)
    expect(dana.locator("#lobby .person")).to_have_count(2)
    check(dana, "console with people waiting")

    dana.get_by_role("button", name="Let in Jordan", exact=True).click()
    dana.get_by_role("button", name="Let in Alex", exact=True).click()
    for page in (dana, jordan, alex):
        page.wait_for_function(
            """() => [...document.querySelectorAll("#tiles .tile:not(.tile--self) video")]
                 .filter((v) => v.videoWidth > 0).length === 2""",
            timeout=30_000,
        )
    jordan.get_by_label("Message to everyone in the session").fill("Hello everyone")
    jordan.get_by_role("button", name="Send message").click()
    expect(dana.locator("#chat-messages .message__body")).to_have_text(["Hello everyone"])
    dana.locator("#people").get_by_role("button", name="Mute microphone Alex").click()
    alex.get_by_role("button", name="Raise hand").click()
    expect(dana.locator("#hands .person")).to_have_count(1)
    expect(jordan.locator("#chat-messages .message__receipt")).to_contain_text("Seen by")

    check(jordan, "session")
    check(alex, "session while muted")
    check(dana, "console")
    jordan.evaluate("() => window.scrollTo(0, 0)")
    _shoot(jordan, "room", viewport)
    _shoot(dana, "console", viewport, element="#console")
    alex.locator("#toggle-mic").scroll_into_view_if_needed()
    _shoot(alex, "muted", viewport)

    assert {name: problems for name, problems in found.items() if problems} == {}
    assert wide == []
