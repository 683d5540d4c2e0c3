"""Set-up shared by Hearth's benchmarks. They are standalone scripts, not pytest tests:

    .venv/bin/python bench/chat_fanout.py --help
    .venv/bin/python bench/moderation_latency.py --help

What this module gives a benchmark (docs/benchmarks.md says how the figures are measured):

- `BenchEnvironment`: a fresh PostgreSQL database (dropped, recreated, `manage.py migrate`),
  Django set up in this process against it, a fresh CHANNEL_LAYER_PREFIX on the machine's Redis,
  the daphne environment (high rate limits: benchmark load is not a flood).
- `rooms_seed`: users, support-group rooms (waiting room off) and memberships written through
  rooms.services, with a session cookie per person.
- `Servers`: N daphne instances of Hearth (tests/servers.py's DaphneServer) and the bare
  `websockets` broadcast server (bench/baseline_ws_server.py), optionally pinned to their own CPU
  while this process, the load generator, takes the other.
- `LoadClient`, `ChatMeter`, `chat_senders`: open-loop chat load. Every message carries its
  SCHEDULED send time (CLOCK_MONOTONIC ns) in its body; latency is receipt time minus scheduled
  time, per recipient, so a stalled server or generator shows up as latency instead of
  silently sending less (no coordinated omission). Every recipient counts what it received,
  because channel layers drop silently.
- `machine_description`, `summarize`, `CpuSampler`, `time_limit`: what the figures came from,
  percentiles, CPU shares, and a hard bound on the run time.

Everything binds 127.0.0.1; every process started here is stopped in a `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # Run as `python bench/x.py`: the project root holds config/, rooms/ and tests/servers.py.
    sys.path.insert(0, str(ROOT))

from tests.servers import (  # noqa: E402
    DaphneServer,
    free_port,
    stop_logged_process,
    wait_until,
)

PYTHON = sys.executable
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/7"
ORIGIN = "http://localhost"
# High enough that no benchmark load is ever rate limited (a benchmark is not a flood).
HIGH_RATE_LIMIT = "1000000"
PACKAGES = (
    "Django",
    "daphne",
    "Twisted",
    "channels",
    "channels-redis",
    "redis",
    "websockets",
    "psycopg",
)


class BenchTimeout(Exception):
    """The benchmark ran past its hard time limit."""


# --- bounds --------------------------------------------------------------------------------


@contextlib.contextmanager
def time_limit(seconds: float, *, what: str = "benchmark") -> Iterator[None]:
    """Raise BenchTimeout in the main thread after `seconds` (SIGALRM), and turn SIGTERM into
    SystemExit, so that every `finally` that stops a server runs either way."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise BenchTimeout(f"{what} exceeded its limit of {seconds:.0f} s")

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(f"{what} stopped by signal {signum}")

    old_alarm = signal.signal(signal.SIGALRM, on_alarm)
    old_term = signal.signal(signal.SIGTERM, on_term)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)


# --- what the figures came from -----------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip()


def _service_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    with contextlib.suppress(Exception):
        import redis

        info = redis.Redis.from_url(REDIS_URL, socket_timeout=2).info("server")
        versions["redis_server"] = str(info.get("redis_version"))
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            versions["postgresql"] = str(row[0]) if row else "?"
    return versions


def machine_description() -> dict[str, Any]:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
        **_service_versions(),
        "git_sha": _git("rev-parse", "--short=12", "HEAD") + ("+dirty" if dirty else ""),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def print_machine(description: dict[str, Any]) -> None:
    packages = ", ".join(f"{name} {v}" for name, v in description["packages"].items())
    print(f"date        {description['date']}")
    print(
        f"machine     {description['cpu_model']}, {description['cores']} cores, "
        f"{description['memory_gib']} GiB, Linux {description['kernel']}"
    )
    print(
        f"software    Python {description['python']}; {packages}; "
        f"Redis {description.get('redis_server', '?')}; "
        f"PostgreSQL {description.get('postgresql', '?')}"
    )
    print(f"git         {description['git_sha']}")
    print(f"loadavg     {description['loadavg_at_start']} (1/5/15 min, at start)")


# --- statistics ----------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return float(sorted_values[min(rank, len(sorted_values) - 1)])


def summarize(latencies_ns: list[int]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds, and the count."""
    ordered = sorted(latencies_ns)
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50) / 1e6,
        "p95_ms": percentile(ordered, 95) / 1e6,
        "p99_ms": percentile(ordered, 99) / 1e6,
        "max_ms": (ordered[-1] / 1e6) if ordered else math.nan,
    }


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all threads), from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = raw.rsplit(")", 1)[1].split()
    # Fields after the command name start at state (field 3): utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """CPU share of named processes (and of this process, the load generator) over a window,
    in % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._wall = 0.0

    def _now(self) -> dict[str, float]:
        values = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        values["generator"] = time.process_time()
        return values

    def start(self) -> None:
        self._start = self._now()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        end = self._now()
        wall = max(time.monotonic() - self._wall, 1e-9)
        return {
            name: round(100 * (end[name] - self._start.get(name, math.nan)) / wall, 1)
            for name in end
        }


# --- database, Django and seed data -------------------------------------------------------


def database_recreate(name: str, *, server: str = POSTGRES_SERVER, env: dict[str, str]) -> str:
    """Drop and recreate `name`, migrate it with manage.py, and return its URL."""
    import psycopg
    from psycopg import sql

    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{server}/{name}"
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": url},
        check=True,
        timeout=300,
    )
    return url


def database_drop(name: str, *, server: str = POSTGRES_SERVER) -> None:
    import psycopg
    from psycopg import sql

    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn,
    ):
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@dataclass
class BenchEnvironment:
    """One benchmark's database, Redis prefix and secrets; `env` is what daphne gets."""

    database: str
    postgres: str = POSTGRES_SERVER
    redis_url: str = REDIS_URL
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:10]}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    database_url: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url or f"{self.postgres}/{self.database}",
            "REDIS_URL": self.redis_url,
            # Pub/sub channels ignore the Redis db number: a fresh prefix keeps this run's
            # groups apart from every other run on the machine.
            "CHANNEL_LAYER_PREFIX": self.prefix,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECRET_KEY": self.secret_key,
            "LOG_LEVEL": "WARNING",
            "CHAT_RATE_PER_10S": HIGH_RATE_LIMIT,
            "TYPING_RATE_PER_10S": HIGH_RATE_LIMIT,
            "SIGNAL_RATE_PER_10S": HIGH_RATE_LIMIT,
        }

    def prepare(self) -> None:
        """Fresh database, migrated; then Django set up in this process against it (the
        session cookies made here must be signed with the servers' SECRET_KEY)."""
        print(f"database    {self.database} (dropped, recreated, migrated)", flush=True)
        self.database_url = database_recreate(self.database, server=self.postgres, env=self.env)
        os.environ.update(self.env)
        import django

        django.setup()

    def cleanup(self) -> None:
        from django.db import connections

        connections.close_all()
        database_drop(self.database, server=self.postgres)


@dataclass
class Person:
    user_id: int
    name: str
    cookie: str


@dataclass
class SeededRoom:
    room_id: str
    people: list[Person]  # the owner (a therapist, moderator) first


def rooms_seed(*, rooms: int, participants: int, member_role: str = "family") -> list[SeededRoom]:
    """`rooms` support groups with the waiting room off, each with `participants` people: a
    therapist who owns it, then members. Rooms and memberships go through rooms.services;
    users are bulk-created without a usable password (hashing hundreds of passwords would
    take longer than the benchmark) and get a session cookie each."""
    from django.conf import settings
    from django.test import Client

    from rooms import services
    from rooms.models import StaffRole, User

    if not 2 <= participants <= 50:
        raise ValueError("participants must be 2 to 50 (a room's capacity range)")
    tag = uuid.uuid4().hex[:6]
    users = []
    for r in range(rooms):
        for p in range(participants):
            name = f"r{r}p{p}-{tag}@bench.hearth"
            user = User(
                username=name,
                email=name,
                display_name=("Facilitator" if p == 0 else "Member") + f" {r}.{p}",
                staff_role=StaffRole.THERAPIST if p == 0 else StaffRole.NONE,
            )
            user.set_unusable_password()
            users.append(user)
    users = User.objects.bulk_create(users)
    seeded = []
    for r in range(rooms):
        group = users[r * participants : (r + 1) * participants]
        owner = group[0]
        room = services.room_create(
            owner=owner,
            kind="support_group",
            name=f"Bench group {r}",
            waiting_room_enabled=False,
            capacity=max(participants, 20),
        )
        for user in group[1:]:
            services.membership_add(actor=owner, room=room, user=user, role=member_role)
        people = []
        for user in group:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            people.append(
                Person(
                    user_id=user.pk,
                    name=user.display_name,
                    cookie=f"{settings.SESSION_COOKIE_NAME}={cookie}",
                )
            )
        seeded.append(SeededRoom(room_id=str(room.pk), people=people))
    return seeded


# --- servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuPlan:
    """Which CPUs the load generator (this process) and the servers run on; None = anywhere."""

    generator: frozenset[int] | None
    servers: frozenset[int] | None

    @classmethod
    def choose(cls, *, pin: bool) -> CpuPlan:
        cpus = sorted(os.sched_getaffinity(0))
        if not pin or len(cpus) < 2:
            return cls(None, None)
        return cls(frozenset({cpus[0]}), frozenset(cpus[1:]))

    def describe(self) -> str:
        if self.generator is None:
            return "not pinned"
        return (
            f"generator on CPU {sorted(self.generator)}, daphne instances and baseline "
            f"server on CPU {sorted(self.servers or [])} (PostgreSQL and Redis not pinned)"
        )


@contextlib.contextmanager
def _affinity(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run the block on `cpus`: child processes started inside inherit it (with all the
    threads they start later)."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class BaselineServer:
    """bench/baseline_ws_server.py in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="hearth-baseline-", suffix=".log", delete=False
        )

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> BaselineServer:
        self.process = subprocess.Popen(
            [PYTHON, str(ROOT / "bench" / "baseline_ws_server.py"), "--port", str(self.port)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def listening() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    "baseline server exited:\n" + Path(self.log.name).read_text(errors="replace")
                )
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, timeout=timeout, what="baseline websockets server")
        return self

    def stop(self) -> None:
        stop_logged_process(self.process, self.log)


class Servers:
    """N daphne instances of Hearth and the bare baseline server, one process tree, stopped
    together. With a CpuPlan the servers start on their CPUs and this process moves to the
    generator's."""

    def __init__(self, *, instances: int, env: dict[str, str], plan: CpuPlan) -> None:
        self.daphnes = [DaphneServer(env=env, name=f"web{n + 1}") for n in range(instances)]
        self.baseline = BaselineServer()
        self.plan = plan

    def start(self) -> Servers:
        try:
            with _affinity(self.plan.servers):
                for server in self.daphnes:
                    server.start(timeout=60)
                self.baseline.start()
        except BaseException:
            # The caller has no handle yet: stop what did start before raising.
            self.stop()
            raise
        if self.plan.generator is not None:
            os.sched_setaffinity(0, self.plan.generator)
        return self

    def stop(self) -> None:
        for server in self.daphnes:
            with contextlib.suppress(Exception):
                server.stop()
        with contextlib.suppress(Exception):
            self.baseline.stop()

    def pids(self) -> dict[str, int]:
        pids = {s.name: s.process.pid for s in self.daphnes if s.process is not None}
        if self.baseline.process is not None:
            pids["baseline"] = self.baseline.process.pid
        return pids

    def logs_tail(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {s.name} ---\n" + "\n".join(s.read_log().splitlines()[-lines:])
            for s in self.daphnes
        )


# --- load clients --------------------------------------------------------------------------

FrameHandler = Callable[["LoadClient", dict[str, Any], int], object]


class LoadClient:
    """One member's websocket. A reader task hands every frame, with its receipt time
    (CLOCK_MONOTONIC ns), to `handler`; nothing is kept, so memory stays flat."""

    def __init__(self, connection: ClientConnection, *, key: int, room: int) -> None:
        self.connection = connection
        self.key = key
        self.room = room
        self.participant_id = ""
        self.handler: FrameHandler | None = None
        self.welcomed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.closed_early = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls, url: str, *, key: int, room: int, cookie: str | None = None, timeout: float = 30
    ) -> LoadClient:
        connection = await connect(
            url,
            origin=ORIGIN,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie} if cookie else None,
            compression=None,
            open_timeout=timeout,
            max_size=2**20,
            # The run is short and loopback; protocol pings would only add frames.
            ping_interval=None,
        )
        client = cls(connection, key=key, room=room)
        welcome = await asyncio.wait_for(asyncio.shield(client.welcomed), timeout)
        you = welcome.get("data", {}).get("you") or {}
        client.participant_id = str(you.get("id", ""))
        return client

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                now = time.monotonic_ns()
                frame = json.loads(message)
                if not self.welcomed.done():
                    if frame.get("type") == "welcome":
                        self.welcomed.set_result(frame)
                    continue
                if self.handler is not None:
                    self.handler(self, frame, now)
        except ConnectionClosed:
            pass
        finally:
            # Read before close(): a socket the server closed during the run.
            self.closed_early = True
            if not self.welcomed.done():
                self.welcomed.set_exception(
                    ConnectionError(f"closed before welcome: {self.connection.close_code}")
                )

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.close(), 10)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


async def open_clients(
    specs: list[tuple[str, int, int, str | None]], *, concurrency: int = 8
) -> list[LoadClient]:
    """Open (url, key, room, cookie) sockets, a few at a time, each up to its welcome."""
    gate = asyncio.Semaphore(concurrency)

    async def one(spec: tuple[str, int, int, str | None]) -> LoadClient:
        url, key, room, cookie = spec
        async with gate:
            return await LoadClient.open(url, key=key, room=room, cookie=cookie)

    results = await asyncio.gather(*(one(s) for s in specs), return_exceptions=True)
    clients = [c for c in results if isinstance(c, LoadClient)]
    failures = [c for c in results if isinstance(c, BaseException)]
    if failures:
        await close_clients(clients)
        raise RuntimeError(f"{len(failures)} of {len(specs)} sockets failed: {failures[0]!r}")
    return clients


async def close_clients(clients: list[LoadClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


# --- open-loop chat ------------------------------------------------------------------------

BODY_PAD = "x" * 64


def chat_body(scheduled_ns: int, room: int, sender: int, k: int) -> str:
    """The scheduled send time first, so a receiver needs one split to read it."""
    return f"{scheduled_ns}:{room}:{sender}:{k}:{BODY_PAD}"


def chat_send_frame(body: str, *, client_msg_id: str) -> str:
    return json.dumps(
        {
            "v": 1,
            "type": "chat.send",
            "id": client_msg_id,
            "data": {"client_msg_id": client_msg_id, "body": body},
        }
    )


class ChatMeter:
    """Counts chat deliveries per recipient for messages SCHEDULED inside the measured window
    [window_start, window_end); a delivery counts if it arrives by window_end + grace, later
    ones are `late`. Hearth delivers `chat.message`; the baseline relays the sender's
    `chat.send` frame unchanged: both carry the body."""

    CHAT_TYPES = frozenset({"chat.message", "chat.send"})

    def __init__(self, *, window_start_ns: int, window_end_ns: int, grace_s: float) -> None:
        self.window_start_ns = window_start_ns
        self.window_end_ns = window_end_ns
        self.count_until_ns = window_end_ns + int(grace_s * 1e9)
        self.latencies: list[int] = []
        # Which second of the window each latency's message was scheduled in: a p99 per
        # second shows whether a backlog builds up (overload) or stays flat.
        self.second_of: list[int] = []
        self.received: Counter[int] = Counter()
        self.sent_per_room: Counter[int] = Counter()
        self.late = 0
        self.acks = 0
        self.errors: Counter[str] = Counter()
        self.send_failures = 0
        # Every frame type received during the phase, for a run that looks wrong.
        self.frames: Counter[str] = Counter()
        # How late the generator actually sent each message (a busy or overloaded generator
        # shows here; the latency above already includes it).
        self.send_lag: list[int] = []

    def in_window(self, scheduled_ns: int) -> bool:
        return self.window_start_ns <= scheduled_ns < self.window_end_ns

    def on_frame(self, client: LoadClient, frame: dict[str, Any], now_ns: int) -> bool:
        """True when the frame was chat (handled here)."""
        kind = frame.get("type")
        self.frames[str(kind)] += 1
        if kind in self.CHAT_TYPES:
            body = frame.get("data", {}).get("body", "")
            scheduled_ns = int(body.split(":", 1)[0])
            if self.in_window(scheduled_ns):
                if now_ns <= self.count_until_ns:
                    self.latencies.append(now_ns - scheduled_ns)
                    self.second_of.append((scheduled_ns - self.window_start_ns) // 1_000_000_000)
                    self.received[client.key] += 1
                else:
                    self.late += 1
            return True
        if kind == "ack":
            self.acks += 1
        elif kind == "error":
            self.errors[str(frame.get("error", {}).get("code"))] += 1
        return False

    def report(self, clients: list[LoadClient], seconds: float) -> dict[str, Any]:
        per_recipient = []
        for client in clients:
            expected = self.sent_per_room[client.room]
            if expected:
                per_recipient.append(self.received[client.key] / expected)
        expected_total = sum(self.sent_per_room[c.room] for c in clients)
        delivered = sum(self.received[c.key] for c in clients)
        seconds_p99: dict[int, list[int]] = defaultdict(list)
        for second, latency in zip(self.second_of, self.latencies, strict=True):
            seconds_p99[second].append(latency)
        return {
            **summarize(self.latencies),
            "p99_ms_per_second": [
                round(summarize(seconds_p99[n])["p99_ms"], 1) for n in sorted(seconds_p99)
            ],
            "messages_sent": sum(self.sent_per_room.values()),
            "deliveries_expected": expected_total,
            "deliveries": delivered,
            "deliveries_per_s": delivered / seconds,
            "delivered_pct": 100 * delivered / expected_total if expected_total else math.nan,
            "min_recipient_pct": 100 * min(per_recipient) if per_recipient else math.nan,
            "late": self.late,
            "acks": self.acks,
            "errors": dict(self.errors),
            "send_failures": self.send_failures,
            "send_lag_p99_ms": summarize(self.send_lag)["p99_ms"],
            "sockets_closed_early": sum(1 for c in clients if c.closed_early),
            "frames_received": dict(self.frames),
        }


async def chat_sender(
    client: LoadClient,
    *,
    meter: ChatMeter,
    rate: float,
    start_ns: int,
    end_ns: int,
    phase_ns: int,
    tag: str,
) -> None:
    """Open loop: message k is due at start + phase + k/rate whatever happened before; if the
    generator or the socket falls behind, the lateness is in the measured latency."""
    period_ns = 1e9 / rate
    k = 0
    while True:
        scheduled = start_ns + phase_ns + int(k * period_ns)
        if scheduled >= end_ns:
            return
        delay = (scheduled - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        frame = chat_send_frame(
            chat_body(scheduled, client.room, client.key, k), client_msg_id=f"{tag}-{k}"
        )
        try:
            await client.send(frame)
        except ConnectionClosed:
            meter.send_failures += 1
            return
        if meter.in_window(scheduled):
            meter.sent_per_room[client.room] += 1
            meter.send_lag.append(time.monotonic_ns() - scheduled)
        k += 1


def chat_senders(
    clients: list[LoadClient],
    *,
    meter: ChatMeter,
    rate: float,
    start_ns: int,
    end_ns: int,
    tag: str,
    seed: int = 1,
) -> list[Awaitable[None]]:
    """One open-loop sender per client, each with a fixed random phase inside its period so
    that a room's messages are spread over the second instead of arriving in a burst."""
    rng = random.Random(seed)
    period_ns = int(1e9 / rate)
    return [
        chat_sender(
            client,
            meter=meter,
            rate=rate,
            start_ns=start_ns,
            end_ns=end_ns,
            phase_ns=rng.randrange(period_ns),
            tag=f"{tag}{client.key}",
        )
        for client in clients
    ]


def by_room(clients: list[LoadClient]) -> dict[int, list[LoadClient]]:
    rooms: dict[int, list[LoadClient]] = defaultdict(list)
    for client in clients:
        rooms[client.room].append(client)
    return rooms


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def finish_run(
    *, name: str, args: Any, machine: Any, plan: Any, rounds: list[dict[str, Any]]
) -> None:
    """The closing lines every load benchmark prints (generator CPU warning, load average) and
    its JSON results file (`--out`, or var/bench/<name>-<time>.json). `rounds` holds one dict
    per round, mapping each phase to its report (with `cpu_pct`)."""
    generator_cpu_pct = max(
        (phase["cpu_pct"].get("generator", 0) for r in rounds for phase in r.values()), default=0
    )
    if generator_cpu_pct > 80:
        print(
            f"WARNING: the load generator used {generator_cpu_pct:.0f}% of its CPU: "
            "figures are not valid"
        )
    loadavg = [round(x, 2) for x in os.getloadavg()]
    print(f"loadavg     {loadavg} (at end)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    save_results(
        args.out or ROOT / "var" / "bench" / f"{name}-{stamp}.json",
        {
            "benchmark": name,
            "command": " ".join(sys.argv),
            "args": vars(args),
            "machine": machine,
            "cpus": plan.describe(),
            "loadavg_at_end": loadavg,
            "rounds": rounds,
        },
    )


def save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results     {path}")
