"""Real-browser harness: a real daphne process serving the app over the test PostgreSQL
database and Redis, and Debian's Chromium (never a Playwright-downloaded one) with a fake
camera and microphone.

Tests here are plain (sync) functions: Playwright's sync API cannot run inside a running
asyncio loop, and pytest-asyncio only runs a loop for `async def` tests. Data a test writes
must be committed for the daphne child to see it, so tests use `transactional_db`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct-horse-battery"  # the password tests/conftest.py make_user gives everyone
SERVER_START_TIMEOUT_S = 30.0
WAIT_MS = 15_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_url() -> str:
    """DATABASE_URL naming the database pytest-django created, so the child sees test data."""
    from django.db import connection

    s = connection.settings_dict
    credentials = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        credentials += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{credentials}@{host}:{port}/{s['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined] - a helper, not a test


@dataclass
class DaphneServer:
    """One daphne child process; `stop()` and `start()` again keep the same port, so a test
    can take the server away under an open page and bring it back."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(REPO / ".venv/bin/daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                # As `make run`: above the 64 KiB signaling limit (docs/protocol.md).
                "--websocket-max-message-size",
                "131072",
                "config.asgi:application",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            try:
                # Waits on the child: returns at once if it died, else after 0.1 s.
                code = self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"daphne exited with {code}:\n{self.log()}")
        self.stop()
        raise RuntimeError(f"daphne did not answer within {SERVER_START_TIMEOUT_S}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="session")
def daphne_server(
    django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaphneServer]:
    """The server (not yet running): `live_url` starts it for each test, on the same port."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "HEARTH_MODE": "embedded",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    server = DaphneServer(env=env, log_path=tmp_path_factory.mktemp("daphne") / "daphne.log")
    yield server
    server.stop()


@pytest.fixture
def live_url(daphne_server: DaphneServer, transactional_db: Any) -> Iterator[str]:
    """A running server for one test, whose committed rows it can read.

    A fresh process per test, stopped after the test's browser contexts closed and before
    its rows are flushed: a disconnect handler (or the presence heartbeat) still writing
    during the flush's TRUNCATE would deadlock with it, and the next test would start on
    the previous test's rows.
    """
    daphne_server.start()
    yield daphne_server.url
    daphne_server.stop()


# Module scope, not session: while Playwright runs, its loop looks "running" to the whole
# thread, which would break the async tests of other packages collected after this one.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API drives its asyncio loop from a greenlet in this same thread,
        # so between calls `asyncio.get_running_loop()` finds that loop and Django refuses
        # the tests' plain ORM calls (SynchronousOnlyOperation) although nothing here is
        # async. Allowed only while Playwright runs, so other tests keep Django's guard.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield playwright


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    """Debian's Chromium with the fake camera and microphone (plus `extra_args`)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True
    )


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@dataclass
class PageProblems:
    """Console errors and CSP violations seen while a test drove its pages."""

    messages: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m]


@pytest.fixture
def new_context(browser: Browser, live_url: str) -> Iterator[Callable[..., BrowserContext]]:
    """Makes browser contexts (one per person); all are closed at teardown, before the
    server is waited on and the database flushed (hence the dependency on `live_url`)."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("locale", "en-US")
        options.setdefault("timezone_id", "UTC")
        context = browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext], page_problems: PageProblems) -> Page:
    """A page in a fresh context; every console error is recorded in `page_problems`."""
    page = new_context().new_page()
    watch(page, page_problems)
    return page


def watch(page: Page, problems: PageProblems) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.messages.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.messages.append(f"pageerror: {error}"))


def sign_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Signs in through the real sign-in page and waits for the home page."""
    page.goto(base_url + "/signin")
    page.get_by_label("Email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")
