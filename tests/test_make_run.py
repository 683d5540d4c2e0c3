"""`make run` from the README, for real: embedded mode on a fresh data directory serves
/healthz within two minutes, prints the URL and demo logins, and the printed login works.
Running it again reuses everything and duplicates nothing."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from tests.integration.client import WsClient
from tests.servers import free_port, http_get, wait_until

ROOT = Path(__file__).resolve().parent.parent


def start_make_run(port: int, var_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "HEARTH_MODE"}
    }
    env.update(HEARTH_VAR_DIR=str(var_dir), PORT=str(port))
    return subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so the whole make -> daphne tree can be stopped
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def login(
    port: int, username: str, password: str, jar: CookieJar | None = None
) -> tuple[int, dict]:
    jar = jar if jar is not None else CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    token = json.loads(opener.open(f"{base}/api/auth/csrf", timeout=5).read())["csrf_token"]
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        f"{base}/api/auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base + "/"},
        method="POST",
    )
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def counts(var_dir: Path) -> tuple[int, int, int]:
    with sqlite3.connect(var_dir / "hearth.sqlite3") as db:
        return tuple(
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in ("rooms_user", "rooms_room", "rooms_session")
        )


def test_make_run_serves_healthz_prints_the_demo_logins_and_they_work_twice_over(tmp_path):
    var_dir = tmp_path / "var"
    for attempt in (1, 2):
        port = free_port()
        log = tmp_path / f"run{attempt}.log"
        process = start_make_run(port, var_dir, log)
        started = time.monotonic()
        try:
            wait_until(
                functools.partial(_healthy, port, process, log),
                timeout=120,
                interval=0.5,
                what="/healthz",
            )
            assert time.monotonic() - started < 120
            output = log.read_text()
            assert f"http://127.0.0.1:{port}/" in output
            assert "dana@demo.hearth" in output
            assert "hearth-demo" in output
            status, me = login(port, "dana@demo.hearth", "hearth-demo")
            assert status == 200, me
            assert me["display_name"] == "Dana Reyes"
            assert http_get(f"http://127.0.0.1:{port}/healthz")[1]["redis"].startswith(
                "not configured"
            )
            if attempt == 1:
                asyncio.run(_chat_in_the_care_thread(port))
                asyncio.run(_everyone_joins_at_once(port))
        finally:
            stop(process)
        if attempt == 1:
            first_counts = counts(var_dir)
        else:
            assert counts(var_dir) == first_counts  # reused, not duplicated
            assert "already present" in log.read_text()


async def _chat_in_the_care_thread(port: int) -> None:
    """The chat path's own SQL (rooms/messaging.py) on SQLite: a message is acknowledged with
    the next seq, a resend gets the same seq, and history returns it."""
    jar = CookieJar()
    status, _ = login(port, "dana@demo.hearth", "hearth-demo", jar)
    assert status == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    rooms = json.loads(http_get_with_cookie(f"http://127.0.0.1:{port}/api/rooms", cookie))
    thread = next(r for r in rooms if r["kind"] == "care_thread")
    client = await WsClient.open(f"ws://127.0.0.1:{port}", thread["id"], cookie=cookie)
    try:
        welcome = await client.expect("welcome", timeout=20)
        last_seq = welcome["data"]["chat"]["last_seq"]
        ack = await client.request("chat.send", {"client_msg_id": "run-1", "body": "Hello"})
        assert ack["type"] == "ack", ack
        assert ack["data"]["seq"] == last_seq + 1
        again = await client.request("chat.send", {"client_msg_id": "run-1", "body": "Hello"})
        assert again["data"] == {"seq": last_seq + 1, "client_msg_id": "run-1", "created": False}
        history = await client.request("chat.history", {"after_seq": last_seq, "limit": 10})
        assert [m["body"] for m in history["data"]["messages"]] == ["Hello"]
    finally:
        await client.close()


DEMO_PEOPLE = ("dana", "sam", "alex", "jordan", "riley")


async def _everyone_joins_at_once(port: int) -> None:
    """Every demo person opens two sockets in each of their rooms, all at the same moment (a
    family arriving together, a second device): on SQLite every one of them gets in (or into
    the waiting room), none is turned away as if the database were down (4503)."""
    sockets = []
    for person in DEMO_PEOPLE:
        jar = CookieJar()
        status, _ = login(port, f"{person}@demo.hearth", "hearth-demo", jar)
        assert status == 200
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        rooms = json.loads(http_get_with_cookie(f"http://127.0.0.1:{port}/api/rooms", cookie))
        sockets += [(cookie, room["id"]) for room in rooms for _ in range(2)]

    async def arrive(cookie: str, room_id: str) -> str:
        client = await WsClient.open(f"ws://127.0.0.1:{port}", room_id, cookie=cookie)
        try:
            first = await client.expect(None, timeout=30)
            return first["type"]
        except AssertionError:
            return f"closed {client.close_code}"
        finally:
            await client.close()

    firsts = await asyncio.gather(*(arrive(cookie, room_id) for cookie, room_id in sockets))
    assert len(firsts) >= 20
    assert set(firsts) <= {"welcome", "lobby.waiting"}, firsts


def http_get_with_cookie(url: str, cookie: str) -> bytes:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return response.read()


def _healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"make run exited:\n{log.read_text()[-3000:]}")
    try:
        return http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200
    except OSError:
        return False
