"""Safe by construction: every page runs under a strict Content-Security-Policy that the pages
themselves never trip, and injected markup cannot run script."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from rooms import messaging, services
from rooms.models import Membership
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def violation_of(trigger: str) -> str:
    """A page function that runs `trigger` and resolves with the directive it violated, or
    with "none" if no violation is reported within 5 s."""
    return f"""() => new Promise((resolve) => {{
      document.addEventListener("securitypolicyviolation",
        (event) => resolve(event.effectiveDirective), {{ once: true }});
      setTimeout(() => resolve("none"), 5000);
      {trigger}
    }})"""


def _pages(room_id: str, thread_id: str) -> list[str]:
    return ["/", f"/rooms/{room_id}/check", "/threads/", f"/threads/{thread_id}/"]


def test_every_page_sends_a_strict_policy_and_has_no_inline_script(
    live_url, page: Page, family_room, therapist, page_problems
):
    thread = services.room_create(owner=therapist, kind="care_thread", name="Morgan messages")
    mother = family_room.test_family_user
    services.membership_add(actor=therapist, room=thread, user=mother, role="family")
    author = Membership.objects.get(room=thread, user=therapist)
    messaging.message_post(membership=author, client_msg_id="m-1", body="See you on Tuesday")

    signin = page.goto(live_url + "/signin")
    assert signin is not None
    policy = signin.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    # The websocket may go to this host only.
    assert directives["connect-src"] == f"'self' ws://127.0.0.1:{live_url.rsplit(':', 1)[1]}"
    assert "https:" not in policy
    assert "http:" not in policy
    assert "camera=(self)" in signin.headers["permissions-policy"]
    assert "microphone=(self)" in signin.headers["permissions-policy"]

    sign_in(page, live_url, mother.username)
    for path in _pages(str(family_room.pk), str(thread.pk)):
        response = page.goto(live_url + path)
        assert response is not None
        assert response.status == 200, path
        assert response.headers["content-security-policy"] == policy, path
        page.wait_for_load_state("networkidle")
        inline = page.evaluate(
            """() => ({
              scripts: [...document.scripts].filter((s) => !s.src).length,
              handlers: [...document.querySelectorAll("*")].filter((el) =>
                [...el.attributes].some((a) => a.name.startsWith("on"))).length,
              styles: document.querySelectorAll("[style], style").length,
              foreign: [...document.querySelectorAll("[src], link[href]")].filter((el) =>
                new URL(el.src || el.href, location.href).origin !== location.origin).length,
            })"""
        )
        assert inline == {"scripts": 0, "handlers": 0, "styles": 0, "foreign": 0}, path
    assert page_problems.csp_violations() == []
    assert page_problems.messages == []


def test_markup_injected_into_a_page_cannot_run_script(live_url, page: Page, make_user):
    sign_in(page, live_url, make_user("casey").username)

    # What a chat message or a name rendered as HTML would do: an inline event handler.
    directive = page.evaluate(
        violation_of(
            "const box = document.createElement('div');"
            "box.innerHTML = '<img src=x onerror=\"window.pwned = 1\">';"
            "document.body.append(box);"
        )
    )

    assert directive == "script-src-attr"
    assert page.evaluate("() => window.pwned") is None


def test_the_page_may_open_a_websocket_to_its_own_host_and_to_no_other(
    live_url, page: Page, make_user
):
    sign_in(page, live_url, make_user("casey").username)
    own = live_url.replace("http://", "ws://") + "/ws/rooms/nonexistent/"

    blocked = page.evaluate(
        violation_of("try { new WebSocket('ws://localhost:9/elsewhere'); } catch (e) {}")
    )
    allowed = page.evaluate(
        """(url) => new Promise((resolve) => {
          document.addEventListener("securitypolicyviolation",
            (event) => resolve("violation " + event.effectiveDirective), { once: true });
          const socket = new WebSocket(url);
          // Refused or closed by the server is fine: it got past the policy to the server.
          socket.onclose = () => resolve("reached the server");
          socket.onopen = () => socket.close();
          setTimeout(() => resolve("no answer"), 10000);
        })""",
        own,
    )

    assert blocked == "connect-src"
    assert allowed == "reached the server"
