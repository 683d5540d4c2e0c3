"""Join time of a mesh call (issue 4, "Must show"): from the moment the first socket opens to
the moment every pair of the mesh is `connected`, for meshes of 2, 4 and 6 aiortc endpoints
that signal through Hearth (two daphne instances on one Redis, PostgreSQL), against the floor:
two aiortc peers connected directly in one process, with no server at all.

    .venv/bin/python bench/join_time.py                 # 10 joins of each, about 2 minutes
    .venv/bin/python bench/join_time.py --joins 20 --sizes 2,4,6

Needs root (it makes its own network namespace with `unshare --net`, like tests/webrtc) and
PostgreSQL on 127.0.0.1 (reached from inside the namespace through its unix socket). The
database named by --database is dropped and recreated. Everything else (redis-server, the two
daphne instances, every aiortc endpoint) runs inside the namespace, so no packet leaves the
namespace's loopback, and the run stops by itself (--max-seconds).

How a join is measured (docs/benchmarks.md, "Join time (signaling)"):
- a fresh family-session room (waiting room off) per join; websocket tickets are issued before
  the clock starts;
- t0: just before the endpoints open their sockets, all at once, alternating between the two
  instances;
- who offers (--offers): by default only the impolite side of each pair, as soon as it sees the
  other (its `welcome` or a `participant.joined`), so offers never cross. With `everyone`, each
  endpoint offers to everyone its `welcome` lists, as a browser's `negotiationneeded` does;
  people who arrive together then both offer and perfect negotiation settles it, which in
  aiortc (no rollback) costs the polite side a replaced RTCPeerConnection, a cost browsers do
  not pay;
- t1: the last of the 2 x pairs RTCPeerConnections reaches `connected` (ICE and DTLS done);
- every endpoint sends and receives audio (20 ms) and video (160x120, 30 fps) and opens a data
  channel, like the tests (--no-media: the data channel only);
- the floor: the same two endpoints (same tracks, same data channel), one offering, the other
  answering through a function call in the same process; t0 is the moment the first
  RTCPeerConnection is made.
Joins run round-robin (floor, 2, 4, 6, floor, ...) after one unrecorded warm-up round, so that a
change in the machine's load falls on all of them alike. Each endpoint of a mesh runs in its own
process (a `Home`, started once and kept warm), as each home is its own machine; they still
share the machine's two cores with the servers. Every endpoint process (and the floor's)
freezes what it loaded and collects its garbage between joins, outside the measured time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

MESH_SIZES = (2, 4, 6)
TARGET_RATIO = 3.0
# After a join is torn down, the servers record the departures; the next join starts after.
SETTLE_S = 1.0
JOIN_TIMEOUT_S = 60.0
THIS_FILE = str(Path(__file__).resolve())


# --- inside the namespace ----------------------------------------------------------------------


async def floor_join(*, media: bool) -> dict[str, Any]:
    from aiortc import RTCConfiguration

    from tests.webrtc.peer import Bus, MeshPeer

    bus = Bus()
    started = time.monotonic()
    peers = [
        MeshPeer(
            me=me,
            peer=other,
            send=bus.sender(me),
            configuration=lambda: RTCConfiguration(iceServers=[]),
            media=media,
        )
        for me, other in (("p-1", "p-2"), ("p-2", "p-1"))
    ]
    try:
        for peer in peers:
            bus.attach(peer)
        bus.start()
        await peers[0].negotiate()
        async with asyncio.timeout(JOIN_TIMEOUT_S):
            for peer in peers:
                await peer.connected.wait()
        finished = max(peer.connected_at or math.inf for peer in peers)
        if bus.errors:
            raise RuntimeError(f"floor join failed: {bus.errors}")
        return {"ms": (finished - started) * 1000}
    finally:
        await bus.stop()
        for peer in peers:
            await peer.close()


class Home:
    """One family's home: its own process (`--home`), as each home is its own machine, kept
    warm across joins. It takes one JSON command per line on stdin and answers one per line.

    {"cmd": "join", ...}: at time.monotonic() == t0 (one clock for every process here) open
    the room socket and connect to `others` people; answer the moments of its `welcome` and
    of its last connection. {"cmd": "close"}: hang up and answer. EOF: exit."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Home:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            THIS_FILE,
            "--home",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        home = cls(process)
        await home.request({"cmd": "ping"})
        return home

    async def request(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), JOIN_TIMEOUT_S + 10)
        if not line:
            raise RuntimeError(f"home process ended (exit {await self.process.wait()})")
        return json.loads(line)

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def home_main() -> None:
    """The `--home` process: one RoomEndpoint per join, driven by Home's commands."""
    from tests.webrtc.media import wait_until
    from tests.webrtc.scenarios.room_kit import RoomEndpoint

    # A home's Python garbage collector is an artifact of the test endpoint (a browser collects
    # incrementally): what is loaded now is frozen, and each hang-up is followed by a full
    # collection, outside the measured time, so that no join pays for an earlier one's garbage
    # (full collections of a warm home took 15-95 ms, docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    endpoint: RoomEndpoint | None = None

    def answer(reply: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "ping":
            answer({"ok": True})
        elif command["cmd"] == "join":
            endpoint = RoomEndpoint("home", offers=command["offers"], media=command["media"])
            await asyncio.sleep(max(0.0, command["t0"] - time.monotonic()))
            try:
                await endpoint.open(command["ws"], command["room"], ticket=command["ticket"])
                others = command["others"]
                await wait_until(
                    lambda e=endpoint, n=others: len(e.peers) >= n, timeout=JOIN_TIMEOUT_S
                )
                await endpoint.wait_connected(list(endpoint.peers), timeout=JOIN_TIMEOUT_S)
                answer(
                    {
                        "ok": True,
                        "connected_at": max(
                            p.connected_at or math.inf for p in endpoint.peers.values()
                        ),
                        "welcomed_at": endpoint.welcomed_at,
                        "problems": [*endpoint.errors, *map(str, endpoint.socket_errors())],
                        "rollbacks": sum(p.rollbacks for p in endpoint.peers.values()),
                        "ignored_offers": sum(p.ignored_offers for p in endpoint.peers.values()),
                    }
                )
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
                answer({"ok": False, "problems": [repr(exc)]})
        elif command["cmd"] == "close":
            if endpoint is not None:
                await endpoint.close()
                endpoint = None
            gc.collect()
            answer({"ok": True})


async def mesh_join(
    stack: Any, homes: list[Home], room: dict[str, Any], *, offers: str, media: bool
) -> dict[str, Any]:
    from tests.webrtc.scenarios.room_kit import ticket_for

    tickets = [await ticket_for(user_id=user, room_id=room["room"]) for user in room["users"]]
    size = len(tickets)
    # The clock starts a moment after the commands are out, so every home opens at once.
    started = time.monotonic() + 0.05
    try:
        replies = await asyncio.gather(
            *(
                home.request(
                    {
                        "cmd": "join",
                        "ws": stack.ws(n),
                        "room": room["room"],
                        "ticket": ticket,
                        "others": size - 1,
                        "offers": offers,
                        "media": media,
                        "t0": started,
                    }
                )
                for n, (home, ticket) in enumerate(zip(homes, tickets, strict=False))
            )
        )
    finally:
        await asyncio.gather(*(home.request({"cmd": "close"}) for home in homes[:size]))
    problems = [problem for reply in replies for problem in reply["problems"]]
    if problems or not all(reply["ok"] for reply in replies):
        raise RuntimeError(f"mesh join failed: {problems}")
    return {
        "ms": (max(reply["connected_at"] for reply in replies) - started) * 1000,
        # The split: until the last `welcome` (the server's join path), then negotiation.
        "welcome_ms": (max(reply["welcomed_at"] for reply in replies) - started) * 1000,
        "rollbacks": sum(reply["rollbacks"] for reply in replies),
        "ignored_offers": sum(reply["ignored_offers"] for reply in replies),
    }


async def child_main(args: list[str]) -> dict[str, Any]:
    from tests.webrtc.scenarios.room_kit import Stack, django_setup

    spec = json.loads(args[0])
    django_setup(spec["database"])
    stack = Stack(database=spec["database"], instances=2, redis=True, env=spec["server_env"])
    await stack.start()
    homes = list(await asyncio.gather(*(Home.start() for _ in range(max(spec["sizes"])))))
    samples: dict[str, list[dict[str, Any]]] = {"floor": []}
    samples.update({str(size): [] for size in spec["sizes"]})
    try:
        # Round 0 warms up (imports, codecs, the servers' first database connections).
        # The floor's endpoints live in this process: the same collector hygiene as a Home's.
        gc.collect()
        gc.freeze()
        for round_ in range(spec["joins"] + 1):
            gc.collect()
            joins: dict[str, dict[str, Any]] = {"floor": await floor_join(media=spec["media"])}
            for size in spec["sizes"]:
                await asyncio.sleep(SETTLE_S)
                joins[str(size)] = await mesh_join(
                    stack,
                    homes,
                    spec["rooms"][str(size)][round_],
                    offers=spec["offers"],
                    media=spec["media"],
                )
            if round_ > 0:
                for name, join in joins.items():
                    samples[name].append(join)
            sys.stderr.write(
                f"round {round_}: "
                + ", ".join(f"{name} {join['ms']:.0f} ms" for name, join in joins.items())
                + "\n"
            )
        return {"samples": samples}
    except BaseException:
        sys.stderr.write(json.dumps(stack.logs(), indent=1) + "\n")
        raise
    finally:
        await asyncio.gather(*(home.stop() for home in homes), return_exceptions=True)
        stack.stop()


# --- outside: database, seed data, report --------------------------------------------------


def seed(*, sizes: list[int], rooms_per_size: int) -> dict[str, list[dict[str, Any]]]:
    """A therapist and five family members; per mesh size, `rooms_per_size` family sessions
    (waiting room off) holding the therapist and size - 1 of the others."""
    from rooms import services
    from rooms.models import StaffRole, User

    tag = uuid.uuid4().hex[:6]
    users = []
    for n in range(max(sizes)):
        name = f"join{n}-{tag}@bench.hearth"
        user = User(
            username=name,
            email=name,
            display_name=f"Home {n}",
            staff_role=StaffRole.THERAPIST if n == 0 else StaffRole.NONE,
        )
        # Hashing passwords would take longer than the benchmark; tickets need none.
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users)
    therapist = users[0]
    rooms: dict[str, list[dict[str, Any]]] = {}
    for size in sizes:
        rooms[str(size)] = []
        for k in range(rooms_per_size):
            room = services.room_create(
                owner=therapist,
                kind="family_session",
                name=f"Join {size}.{k}",
                waiting_room_enabled=False,
            )
            for n, user in enumerate(users[1:size]):
                services.membership_add(
                    actor=therapist, room=room, user=user, role="client" if n == 0 else "family"
                )
            rooms[str(size)].append(
                {"room": str(room.pk), "users": [user.pk for user in users[:size]]}
            )
    return rooms


def summary(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50_ms": common.percentile(ordered, 50),  # type: ignore[arg-type]
        "p99_ms": common.percentile(ordered, 99),  # type: ignore[arg-type]
        "min_ms": ordered[0] if ordered else math.nan,
        "max_ms": ordered[-1] if ordered else math.nan,
    }


def report(samples: dict[str, list[dict[str, Any]]], sizes: list[int]) -> dict[str, Any]:
    rows = {name: summary([join["ms"] for join in joins]) for name, joins in samples.items()}
    print()
    print("join time: first socket open -> every pair connected (ms; p99 is nearest-rank)")
    print(
        f"{'':34} {'n':>4} {'p50':>7} {'p99':>7} {'min':>7} {'max':>7}"
        f" {'welcome p50':>12} {'glare/join':>11}"
    )
    labels = {"floor": "floor: 2 peers direct, no server"}
    labels.update({str(size): f"mesh of {size} via 2 instances" for size in sizes})
    for name, row in rows.items():
        welcome = glare = ""
        if name != "floor":
            joins = samples[name]
            row["welcome_p50_ms"] = summary([join["welcome_ms"] for join in joins])["p50_ms"]
            row["glare_per_join"] = sum(join["rollbacks"] for join in joins) / len(joins)
            welcome = f"{row['welcome_p50_ms']:.0f}"
            glare = f"{row['glare_per_join']:.1f}"
        print(
            f"{labels[name]:34} {row['n']:>4} {row['p50_ms']:>7.0f} {row['p99_ms']:>7.0f} "
            f"{row['min_ms']:>7.0f} {row['max_ms']:>7.0f} {welcome:>12} {glare:>11}"
        )
    print(
        "welcome p50: until the last endpoint had its `welcome` (the server's join path); "
        "glare/join: offers that crossed (the polite side replaced its connection)"
    )
    result: dict[str, Any] = {"rows": rows}
    if "4" in rows:
        ratio = common.ratio(rows["4"]["p50_ms"], rows["floor"]["p50_ms"])
        verdict = "within" if ratio <= TARGET_RATIO else "NOT within"
        print(
            f"\nratio 4-home mesh p50 / floor p50 = {ratio:.2f} "
            f"({verdict} the target of {TARGET_RATIO:g}x)"
        )
        result["ratio_4_over_floor"] = ratio
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=10, help="recorded joins of each kind")
    parser.add_argument("--sizes", default="2,4,6", help="mesh sizes, 2 to 6 endpoints")
    parser.add_argument(
        "--offers",
        choices=("everyone", "impolite"),
        default="impolite",
        help="who offers: the impolite side of each pair only, or everyone on welcome",
    )
    parser.add_argument(
        "--no-media",
        action="store_true",
        help="data channel only, no audio or video tracks (floor and meshes alike)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the daphne instances (to try a setting)",
    )
    parser.add_argument("--database", default="hearth_bench_join")
    parser.add_argument("--postgres", default=common.POSTGRES_SERVER)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default var/bench/...)"
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="hard time limit")
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    if not sizes or not all(2 <= size <= 6 for size in sizes):
        parser.error("--sizes are mesh sizes from 2 to 6 (a family session's capacity)")
    if args.joins < 1:
        parser.error("--joins must be at least 1")
    limit = args.max_seconds or 120 + (args.joins + 1) * (15 + 10 * len(sizes))

    from tests.webrtc.netns import run_in_netns

    machine = common.machine_description()
    print("== join time (signaling) ==")
    common.print_machine(machine)
    print(
        f"load        meshes of {', '.join(map(str, sizes))} aiortc endpoints in one process, "
        f"through 2 daphne instances + redis-server inside a private network namespace; "
        f"{args.joins} joins each (+1 warm-up), limit {limit:.0f} s; offers: {args.offers}; "
        f"media: {'none (data channel only)' if args.no_media else 'audio + 160x120 video'}"
    )
    env = common.BenchEnvironment(database=args.database, postgres=args.postgres)
    try:
        env.prepare()
        rooms = seed(sizes=sizes, rooms_per_size=args.joins + 1)
        spec = {
            "database": args.database,
            "joins": args.joins,
            "sizes": sizes,
            "rooms": rooms,
            "deadline": limit - 10,
            "offers": args.offers,
            "media": not args.no_media,
            "server_env": dict(item.split("=", 1) for item in args.server_env),
        }
        print("running     (the namespace child prints nothing until it ends)", flush=True)
        started = time.monotonic()
        child = run_in_netns(Path(__file__).resolve(), "--child", json.dumps(spec), timeout=limit)
        print(f"took        {time.monotonic() - started:.0f} s")
        result = report(child["samples"], sizes)
        loadavg = [round(x, 2) for x in os.getloadavg()]
        print(f"loadavg     {loadavg} (at end)")
        out = args.out or common.ROOT / "var" / "bench" / (
            f"join_time-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
        )
        common.save_results(
            out,
            {
                "benchmark": "join_time",
                "command": " ".join(sys.argv),
                "args": vars(args),
                "machine": machine,
                "loadavg_at_end": loadavg,
                **result,
                "samples": child["samples"],
            },
        )
    finally:
        env.cleanup()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--home"]:
        asyncio.run(home_main())
    elif sys.argv[1:2] == ["--child"]:
        from tests.webrtc.child import scenario

        sys.argv = [sys.argv[0], *sys.argv[2:]]
        scenario(child_main, deadline=json.loads(sys.argv[1])["deadline"])
    else:
        sys.exit(main())
