"""Moderation latency: a 12-person support group (a facilitator and 11 members, waiting room
off) spread over two daphne instances of Hearth. The facilitator sends `mod.mute` (audio) and
`mod.unmute` alternately, on a fixed schedule, to one member after another; for each action we
time, from its SCHEDULED send time, until the LAST of the 12 participants (facilitator and
target included) has received the matching `participant.updated` (that participant id with
`imposed.audio` true for a mute, false for an unmute). Once with the room idle, once while
everyone chats at 1 message/s.

The same 12 clients then do the same on the bare `websockets` broadcast server
(bench/baseline_ws_server.py), which relays the facilitator's `mod.mute`/`mod.unmute` frame to
the room: the floor any Python server stands on. Prints both and the ratio.

    .venv/bin/python bench/moderation_latency.py                 # 60 actions per phase
    .venv/bin/python bench/moderation_latency.py --actions 50 --interval 0.2

Needs PostgreSQL and Redis on 127.0.0.1 (docs/benchmarks.md). The database named by
--database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

SETTLE_S = 1.0


class ModerationMeter:
    """Per action, when each participant received its effect. A participant matches the
    first pending action on that target whose flag equals the one received; an update that
    carries the old flag (a stale or unrelated event) matches nothing."""

    def __init__(self, clients: list[common.LoadClient]) -> None:
        self.clients = clients
        self.pending: dict[int, dict[str, deque[tuple[int, bool]]]] = {c.key: {} for c in clients}
        self.scheduled: dict[int, int] = {}
        self.receipts: dict[int, dict[int, int]] = {}
        self.ack_latencies: list[int] = []
        self.errors: list[str] = []
        self.send_lag: list[int] = []

    def expect(self, action: int, *, target: str, muted: bool, scheduled_ns: int) -> None:
        self.scheduled[action] = scheduled_ns
        self.receipts[action] = {}
        for queues in self.pending.values():
            queues.setdefault(target, deque()).append((action, muted))

    def on_frame(self, client: common.LoadClient, frame: dict[str, Any], now_ns: int) -> bool:
        kind = frame.get("type")
        data = frame.get("data") or {}
        if kind == "participant.updated":
            participant = data.get("participant") or {}
            target = str(participant.get("id"))
            muted = bool((participant.get("imposed") or {}).get("audio"))
        elif kind in {"mod.mute", "mod.unmute"}:
            target, muted = str(data.get("participant")), kind == "mod.mute"
        elif str(frame.get("ref", "")).startswith("mod-"):
            action = int(frame["ref"].split("-", 1)[1])
            if kind == "ack":
                self.ack_latencies.append(now_ns - self.scheduled[action])
            else:
                self.errors.append(str((frame.get("error") or {}).get("code")))
            return True
        else:
            return False
        queue = self.pending[client.key].get(target)
        if queue and queue[0][1] == muted:
            action, _ = queue.popleft()
            self.receipts[action][client.key] = now_ns
        return True

    def complete(self) -> bool:
        return all(len(r) == len(self.clients) for r in self.receipts.values())

    def report(self) -> dict[str, Any]:
        last_of_all: list[int] = []
        every: list[int] = []
        in_order: list[float | None] = []
        incomplete = 0
        for action in sorted(self.receipts):
            receipts, scheduled = self.receipts[action], self.scheduled[action]
            every.extend(t - scheduled for t in receipts.values())
            if len(receipts) == len(self.clients):
                last_of_all.append(max(receipts.values()) - scheduled)
                in_order.append(round(last_of_all[-1] / 1e6, 1))
            else:
                incomplete += 1
                in_order.append(None)
        return {
            "actions": len(self.receipts),
            "incomplete_actions": incomplete,
            "last_recipient": common.summarize(last_of_all),
            "each_recipient": common.summarize(every),
            "ack": common.summarize(self.ack_latencies),
            "send_lag_p99_ms": common.summarize(self.send_lag)["p99_ms"],
            "errors": self.errors,
            # Raw, in the order sent (None: someone never got it): shows a backlog building.
            "last_recipient_ms_by_action": in_order,
        }


def mod_frame(action: int, *, target: str, mute: bool) -> str:
    data: dict[str, Any] = {"participant": target, "audio": True}
    if not mute:
        # Lift only the audio mute that was imposed (unmute defaults to every medium).
        data.update(video=False, chat=False)
    return json.dumps(
        {"v": 1, "type": "mod.mute" if mute else "mod.unmute", "id": f"mod-{action}", "data": data}
    )


async def run_actions(
    facilitator: common.LoadClient,
    *,
    meter: ModerationMeter,
    targets: list[str],
    start_ns: int,
    interval_s: float,
    count: int,
) -> None:
    """Open loop: action k is due at start + k * interval; it alternates mute and unmute on
    one member, then moves to the next member."""
    for k in range(count):
        scheduled = start_ns + int(k * interval_s * 1e9)
        delay = (scheduled - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        target = targets[(k // 2) % len(targets)]
        mute = k % 2 == 0
        meter.expect(k, target=target, muted=mute, scheduled_ns=scheduled)
        await facilitator.send(mod_frame(k, target=target, mute=mute))
        meter.send_lag.append(time.monotonic_ns() - scheduled)


async def run_phase(
    target: str,
    *,
    chatting: bool,
    servers: common.Servers,
    room: common.SeededRoom,
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    instances = len(servers.daphnes)
    specs: list[tuple[str, int, int, str | None]] = []
    for key, person in enumerate(room.people):
        if target == "hearth":
            base = servers.daphnes[key % instances].ws
            specs.append((f"{base}/ws/rooms/{room.room_id}/", key, 0, person.cookie))
        else:
            specs.append((f"{servers.baseline.ws}/rooms/group", key, 0, None))
    clients = await common.open_clients(specs, concurrency=4)
    try:
        if target == "hearth":
            targets = [c.participant_id for c in clients[1:]]
        else:
            targets = [f"p-b{c.key}" for c in clients[1:]]
        await asyncio.sleep(SETTLE_S)
        start_ns = time.monotonic_ns() + 100_000_000
        window_start = start_ns + int(args.warmup * 1e9)
        window_end = window_start + int(args.actions * args.interval * 1e9)
        meter = ModerationMeter(clients)
        chat = common.ChatMeter(
            window_start_ns=window_start, window_end_ns=window_end, grace_s=args.timeout
        )

        def on_frame(client: common.LoadClient, frame: dict[str, Any], now_ns: int) -> None:
            if not meter.on_frame(client, frame, now_ns):
                chat.on_frame(client, frame, now_ns)

        for client in clients:
            client.handler = on_frame
        sampler = common.CpuSampler(servers.pids())
        jobs = [
            run_actions(
                clients[0],
                meter=meter,
                targets=targets,
                start_ns=window_start,
                interval_s=args.interval,
                count=args.actions,
            )
        ]
        if chatting:
            jobs += common.chat_senders(
                clients,
                meter=chat,
                rate=args.chat_rate,
                start_ns=start_ns,
                end_ns=window_end,
                tag=tag,
            )
        await asyncio.sleep(max(0.0, (window_start - time.monotonic_ns()) / 1e9))
        sampler.start()
        await asyncio.gather(*jobs)
        # Wait for the last actions to reach everyone, bounded by --timeout.
        deadline = time.monotonic() + args.timeout
        while not meter.complete() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        cpu = sampler.stop()
        report = meter.report()
        report["cpu_pct"] = cpu
        if chatting:
            await asyncio.sleep(max(0.0, (chat.count_until_ns - time.monotonic_ns()) / 1e9))
            report["chat"] = chat.report(clients, args.actions * args.interval)
        report["sockets_closed_early"] = sum(1 for c in clients if c.closed_early)
        return report
    finally:
        await common.close_clients(clients)


def print_row(label: str, report: dict[str, Any]) -> None:
    f = common.fmt
    last, ack = report["last_recipient"], report["ack"]
    chat = report.get("chat")
    chat_text = (
        f"chat p99 {f(chat['p99_ms'])} ms, {f(chat['delivered_pct'], 2)}% delivered"
        if chat
        else "-"
    )
    print(
        f"{label:<30} {f(last['p50_ms']):>7} {f(last['p95_ms']):>7} {f(last['p99_ms']):>7} "
        f"{f(last['max_ms']):>7} {last['n']:>4}/{report['actions']:<4} "
        f"{f(ack['p50_ms']):>7} {f(report['cpu_pct'].get('generator', float('nan')), 0):>5} "
        f"{f(report['send_lag_p99_ms']):>7}  "
        f"{chat_text}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=12, help="facilitator + members")
    parser.add_argument("--actions", type=int, default=50, help="per phase (even, >= 50)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between actions")
    parser.add_argument("--chat-rate", type=float, default=1.0, help="msg/s per person")
    parser.add_argument("--warmup", type=float, default=3, help="before the first action")
    parser.add_argument("--timeout", type=float, default=5, help="wait for the last action")
    parser.add_argument("--instances", type=int, default=2, help="daphne instances")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all four phases")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--database", default="hearth_bench_moderation")
    parser.add_argument("--postgres", default=common.POSTGRES_SERVER)
    parser.add_argument("--redis-url", default=common.REDIS_URL)
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    parser.add_argument("--max-seconds", type=float, default=None, help="hard time limit")
    args = parser.parse_args()
    if args.actions < 2 or args.actions % 2:
        parser.error("--actions must be even (every mute is followed by its unmute)")
    if not 3 <= args.participants <= 50:
        parser.error("--participants must be 3 to 50")
    if args.interval <= 0 or args.chat_rate <= 0 or args.instances < 1:
        parser.error("interval, chat rate and instances must be positive")
    phase_s = SETTLE_S + args.warmup + args.actions * args.interval + args.timeout + 40
    limit = args.max_seconds or 240 + 4 * args.repeat * phase_s

    machine = common.machine_description()
    plan = common.CpuPlan.choose(pin=not args.no_pin)
    print("== moderation latency ==")
    common.print_machine(machine)
    print(f"cpus        {plan.describe()}")
    print(
        f"load        1 support group of {args.participants} (facilitator + "
        f"{args.participants - 1} members) over {args.instances} daphne instances; "
        f"{args.actions} mute/unmute actions per phase, one every {args.interval:g} s "
        f"(open loop); chat phase: {args.chat_rate:g} msg/s per person"
    )
    env = common.BenchEnvironment(
        database=args.database, postgres=args.postgres, redis_url=args.redis_url
    )
    servers: common.Servers | None = None
    rounds: list[dict[str, Any]] = []
    try:
        with common.time_limit(limit, what="moderation_latency"):
            env.prepare()
            (room,) = common.rooms_seed(rooms=1, participants=args.participants)
            servers = common.Servers(instances=args.instances, env=env.env, plan=plan).start()
            for n in range(args.repeat):
                results: dict[str, Any] = {}
                # Interleaved so that a change in the machine's load hits both alike.
                for chatting in (False, True):
                    for target in ("hearth", "baseline"):
                        name = f"{target}_{'chat' if chatting else 'idle'}"
                        results[name] = asyncio.run(
                            run_phase(
                                target,
                                chatting=chatting,
                                servers=servers,
                                room=room,
                                args=args,
                                tag=f"{name[0]}{n}{'c' if chatting else 'i'}k",
                            )
                        )
                rounds.append(results)
    except BaseException:
        if servers is not None:
            print(servers.logs_tail(), file=sys.stderr)
        raise
    finally:
        if servers is not None:
            servers.stop()
        with contextlib.suppress(Exception):
            env.cleanup()

    print()
    print(
        f"{'time to the last of ' + str(args.participants):<30} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'done':>9} {'ack p50':>7} {'gen %':>5} {'lag p99':>7}  chat"
    )
    labels = {
        "hearth_idle": f"Hearth idle ({args.instances}x daphne)",
        "baseline_idle": "baseline idle (websockets)",
        "hearth_chat": "Hearth while chatting",
        "baseline_chat": "baseline while chatting",
    }
    for n, results in enumerate(rounds):
        suffix = f" #{n + 1}" if len(rounds) > 1 else ""
        for name, label in labels.items():
            print_row(label + suffix, results[name])
    f = common.fmt
    last = rounds[-1]
    for load in ("idle", "chat"):
        h = last[f"hearth_{load}"]["last_recipient"]
        b = last[f"baseline_{load}"]["last_recipient"]
        p50 = common.ratio(h["p50_ms"], b["p50_ms"])
        p99 = common.ratio(h["p99_ms"], b["p99_ms"])
        print(f"{f'Hearth / baseline ({load})':<30} p50 x{f(p50, 2)}, p99 x{f(p99, 2)}")
    errors = [e for r in rounds for phase in r.values() for e in phase["errors"]]
    if errors:
        print(f"WARNING: {len(errors)} moderation frames were refused: {sorted(set(errors))}")
    common.finish_run(
        name="moderation_latency",
        args=args,
        machine=machine,
        plan=plan,
        rounds=rounds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
