"""The session page in real browsers: a therapist and family members in separate browser
contexts (separate homes), with Chromium's fake camera and microphone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import PageProblems, sign_in, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Resolves when `count` remote tiles show moving video.
REMOTE_VIDEOS_PLAYING = """(count) => {
  const videos = [...document.querySelectorAll("#tiles .tile:not(.tile--self) video")];
  return videos.length === count && videos.every((v) => v.videoWidth > 0 && v.readyState >= 2);
}"""


@pytest.fixture
def person(
    live_url: str, new_context: Callable[..., BrowserContext], page_problems: PageProblems
) -> Callable[[Any], Page]:
    """`person(user)`: a signed-in page in its own browser context (its own home)."""

    def open_for(user: Any) -> Page:
        page = new_context().new_page()
        watch(page, page_problems)
        sign_in(page, live_url, user.username)
        return page

    return open_for


def enter(page: Page, live_url: str, room: Any) -> None:
    page.goto(f"{live_url}/rooms/{room.pk}/")
    # A marker that a reload would wipe: the page must turn into the room by itself.
    page.evaluate("() => { window.stillTheSamePage = true; }")


def test_family_members_wait_until_admitted_then_see_everyone_and_chat(
    live_url, person, family_room, therapist, page_problems
):
    dana = person(therapist)
    jordan = person(family_room.test_family_user)
    alex = person(family_room.test_client_user)

    enter(dana, live_url, family_room)
    expect(dana.get_by_role("heading", name="Facilitator controls")).to_be_visible()
    for page in (jordan, alex):
        enter(page, live_url, family_room)
        expect(page.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    expect(jordan.locator("#waiting-for")).to_have_text("Dana")

    expect(dana.get_by_role("alert")).to_contain_text("waiting to be let in")
    dana.get_by_role("button", name="Let in Jordan", exact=True).click()
    dana.get_by_role("button", name="Let in Alex", exact=True).click()

    for page in (dana, jordan, alex):
        page.wait_for_function(REMOTE_VIDEOS_PLAYING, arg=2, timeout=30_000)
    for page in (jordan, alex):
        assert page.evaluate("() => window.stillTheSamePage") is True
    expect(dana.locator("#tiles")).to_contain_text("Jordan (mother)")

    jordan.get_by_label("Message to everyone in the session").fill("Hello from Jordan")
    jordan.get_by_role("button", name="Send message").click()
    for page in (dana, alex):
        expect(page.locator("#chat-messages .message__body")).to_have_text(["Hello from Jordan"])
    assert page_problems.messages == []


@pytest.fixture
def in_session(live_url, person, family_room, therapist):
    """Dana (therapist), Jordan (mother) and Alex (client) in the session, videos playing."""
    dana = person(therapist)
    jordan = person(family_room.test_family_user)
    alex = person(family_room.test_client_user)
    enter(dana, live_url, family_room)
    expect(dana.get_by_role("heading", name="Facilitator controls")).to_be_visible()
    for page in (jordan, alex):
        enter(page, live_url, family_room)
        expect(page.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    dana.get_by_role("button", name="Let in Jordan", exact=True).click()
    dana.get_by_role("button", name="Let in Alex", exact=True).click()
    for page in (dana, jordan, alex):
        page.wait_for_function(REMOTE_VIDEOS_PLAYING, arg=2, timeout=30_000)
    return dana, jordan, alex


def tile(page: Page, name: str):
    return page.locator("#tiles .tile", has=page.locator(".tile__name", has_text=name))


def test_a_muted_family_member_cannot_unmute_others_see_it_and_ask_to_unmute_prompts(
    in_session, page_problems
):
    dana, jordan, alex = in_session

    people = dana.locator("#people")
    people.get_by_role("button", name="Mute microphone Jordan").click()

    mic = jordan.locator("#toggle-mic")
    expect(mic).to_be_disabled()
    expect(jordan.locator("#mic-reason")).to_have_text(
        "Dana muted your microphone. You can unmute when they ask you to."
    )
    for page in (dana, alex):
        expect(tile(page, "Jordan")).to_contain_text("Microphone muted by Dana")
        # Not played here, whatever Jordan's browser keeps sending.
        expect(tile(page, "Jordan").locator("video")).to_have_js_property("muted", True)
    expect(tile(alex, "Dana")).not_to_contain_text("muted")

    people.get_by_role("button", name="Ask to unmute Jordan").click()
    prompt = jordan.get_by_role("dialog", name="Dana asks you to unmute")
    expect(prompt).to_be_visible()
    prompt.get_by_role("button", name="Unmute").click()
    expect(mic).to_be_enabled()
    expect(mic).to_have_text("Mute microphone")
    expect(tile(alex, "Jordan")).not_to_contain_text("Microphone")
    expect(tile(alex, "Jordan").locator("video")).to_have_js_property("muted", False)
    assert page_problems.messages == []


def test_a_removed_person_sees_the_removed_page_and_the_browser_does_not_reconnect(
    in_session, page_problems
):
    dana, _jordan, alex = in_session

    dana.locator("#people").get_by_role("button", name="Remove Alex", exact=True).click()
    dana.get_by_role("dialog").get_by_role("button", name="Remove", exact=True).click()

    expect(alex.get_by_role("heading", name="You have left the session")).to_be_visible()
    expect(alex.get_by_text("You have been removed from this session.")).to_be_visible()
    expect(dana.locator("#tiles .tile")).to_have_count(2)
    # Longer than the first two reconnect delays together: no new socket is opened.
    with pytest.raises(PlaywrightTimeoutError):
        alex.wait_for_event("websocket", timeout=3_000)
    assert page_problems.messages == []


def test_chat_markup_is_shown_as_text_and_runs_nothing(in_session, page_problems):
    dana, jordan, alex = in_session
    dialogs: list[str] = []
    for page in (dana, alex):
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    attack = "<img src=x onerror=alert(1)>"

    jordan.get_by_label("Message to everyone in the session").fill(attack)
    jordan.get_by_role("button", name="Send message").click()

    for page in (dana, alex):
        expect(page.locator("#chat-messages .message__body")).to_have_text([attack])
        expect(page.locator("#chat-messages img")).to_have_count(0)
    assert dialogs == []
    assert page_problems.csp_violations() == []


def test_after_a_server_restart_the_page_reconnects_and_an_offline_message_arrives_once(
    person, family_room, therapist, daphne_server, page_problems
):
    live_url = daphne_server.url
    dana = person(therapist)
    jordan = person(family_room.test_family_user)
    enter(dana, live_url, family_room)
    enter(jordan, live_url, family_room)
    dana.get_by_role("button", name="Let in Jordan", exact=True).click()
    for page in (dana, jordan):
        page.wait_for_function(REMOTE_VIDEOS_PLAYING, arg=1, timeout=30_000)

    daphne_server.stop()
    for page in (dana, jordan):
        expect(page.get_by_text("The connection was lost. Reconnecting…")).to_be_visible()
    jordan.get_by_label("Message to everyone in the session").fill("Typed while offline")
    jordan.get_by_role("button", name="Send message").click()
    expect(jordan.get_by_text("Waiting for the connection to send this")).to_be_visible()
    daphne_server.start()

    for page in (dana, jordan):
        expect(page.get_by_text("Connected again.")).to_be_visible(timeout=30_000)
        expect(page.locator("#chat-messages .message__body")).to_have_text(
            ["Typed while offline"], timeout=30_000
        )
    expect(jordan.locator(".message--pending")).to_have_count(0)
    # The call itself carries on (or recovers with an ICE restart).
    for page in (dana, jordan):
        page.wait_for_function(REMOTE_VIDEOS_PLAYING, arg=1, timeout=30_000)
    # Only the expected reconnect noise: no script errors.
    assert [m for m in page_problems.messages if "pageerror" in m] == []
