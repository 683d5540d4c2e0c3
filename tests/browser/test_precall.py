"""The personal join link and the pre-call check, with Chromium's fake camera and microphone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

START = "Start the camera and microphone check"

# Resolves once the meter has shown several different levels, at least one of them audible.
METER_MOVES = """() => {
  const level = document.getElementById("mic-level").value;
  window.seenLevels = window.seenLevels || new Set();
  window.seenLevels.add(level);
  return window.seenLevels.size >= 3 && Math.max(...window.seenLevels) > 0.02;
}"""


def test_the_join_link_goes_through_sign_in_to_a_working_camera_and_microphone_check(
    live_url, page: Page, family_room, page_problems
):
    mother = family_room.test_family_user

    page.goto(f"{live_url}/join/{family_room.pk}/")
    page.wait_for_url(f"{live_url}/signin?next=/join/{family_room.pk}/")
    page.get_by_label("Email").fill(mother.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_url}/rooms/{family_room.pk}/check")
    expect(page.get_by_label("Your name in this session")).to_have_value("Jordan")
    page.get_by_role("button", name=START).click()
    page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    page.wait_for_function(METER_MOVES, polling=50)
    expect(page.get_by_text("We can hear your microphone.")).to_be_visible()
    expect(page.get_by_label("Camera", exact=True)).not_to_have_value("")
    expect(page.get_by_label("Microphone", exact=True)).not_to_have_value("")
    # The server's test peer: echo, round trip and a plain verdict (loopback is good).
    expect(page.locator("#connection-verdict")).to_have_text(
        "Your connection is good.", timeout=40_000
    )
    expect(page.locator("#connection-rtt")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.locator("#connection-relay")).to_have_text("No")
    page.wait_for_function("() => document.getElementById('echo').videoWidth > 0")
    page.get_by_role("button", name="Play a test sound").click()
    page.wait_for_function("() => document.getElementById('tone').currentTime > 0")
    page.get_by_role("link", name="Continue to the session").click()
    page.wait_for_url(f"{live_url}/rooms/{family_room.pk}/")
    assert page_problems.messages == []


def test_a_blocked_camera_gets_help_written_for_this_browser(live_url, playwright, family_room):
    # Chromium's fake permission prompt answering "Block" for every camera and microphone.
    blocked = launch_chromium(playwright, "--use-fake-ui-for-media-stream=deny")
    try:
        page = blocked.new_page(locale="en-US")
        page.set_default_timeout(15_000)
        page.goto(f"{live_url}/join/{family_room.pk}/")
        page.get_by_label("Email").fill(family_room.test_family_user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_url}/rooms/{family_room.pk}/check")

        page.get_by_role("button", name=START).click()

        help_box = page.get_by_role(
            "region", name="Your browser is blocking the camera or microphone"
        )
        expect(help_box).to_be_visible()
        expect(help_box).to_contain_text("Choose Always allow for the camera and microphone")
        expect(help_box.get_by_role("button", name="Try again")).to_be_visible()
        assert page.evaluate("() => document.getElementById('preview').videoWidth") == 0
    finally:
        blocked.close()
