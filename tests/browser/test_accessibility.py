"""Every page passes axe-core with no serious or critical violation, on a laptop and on a
360 px phone, and nothing on the phone needs sideways scrolling."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

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
    check("pre-call check")
    page.goto(live_url + "/threads/")
    page.get_by_text("1 unread").wait_for()
    check("inbox")
    page.goto(f"{live_url}/threads/{thread.pk}/")
    page.get_by_text("See you on Tuesday").wait_for()
    check("thread")

    assert {name: problems for name, problems in found.items() if problems} == {}
    assert wide == []
