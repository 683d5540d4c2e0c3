"""Chat fan-out: R rooms x P participants spread over N daphne instances of Hearth on Redis
(waiting room off), every participant sending open-loop at RATE messages/s; then the same
load, from the same load generator in the same run, on a bare `websockets` broadcast server
(bench/baseline_ws_server.py, the Python ceiling). Prints p50/p95/p99/max delivery latency
(scheduled send time -> receipt, per recipient), delivered messages per second, delivered %
(overall and the worst recipient), CPU shares, and the ratio Hearth/baseline.

    .venv/bin/python bench/chat_fanout.py                       # 20 x 10 at 1 msg/s, 30 s
    .venv/bin/python bench/chat_fanout.py --rooms 4 --seconds 10 --warmup 3

Needs PostgreSQL and Redis on 127.0.0.1 (docs/benchmarks.md). The database named by
--database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

SETTLE_S = 1.0  # after the last socket opened: the join events of a big room have passed


async def run_phase(
    target: str,
    *,
    servers: common.Servers,
    rooms: list[common.SeededRoom],
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    specs: list[tuple[str, int, int, str | None]] = []
    instances = len(servers.daphnes)
    for r, room in enumerate(rooms):
        for p, person in enumerate(room.people):
            key = r * args.participants + p
            if target == "hearth":
                base = servers.daphnes[key % instances].ws
                specs.append((f"{base}/ws/rooms/{room.room_id}/", key, r, person.cookie))
            else:
                specs.append((f"{servers.baseline.ws}/rooms/{r}", key, r, None))
    opened = time.monotonic()
    clients = await common.open_clients(specs)
    connect_s = time.monotonic() - opened
    try:
        await asyncio.sleep(SETTLE_S)
        start_ns = time.monotonic_ns() + 100_000_000
        window_start = start_ns + int(args.warmup * 1e9)
        window_end = window_start + int(args.seconds * 1e9)
        meter = common.ChatMeter(
            window_start_ns=window_start, window_end_ns=window_end, grace_s=args.grace
        )
        for client in clients:
            client.handler = meter.on_frame
        sampler = common.CpuSampler(servers.pids())
        cpu: dict[str, float] = {}

        async def sample() -> None:
            await asyncio.sleep(max(0.0, (window_start - time.monotonic_ns()) / 1e9))
            sampler.start()
            await asyncio.sleep(max(0.0, (window_end - time.monotonic_ns()) / 1e9))
            cpu.update(sampler.stop())

        await asyncio.gather(
            sample(),
            *common.chat_senders(
                clients,
                meter=meter,
                rate=args.rate,
                start_ns=start_ns,
                end_ns=window_end,
                tag=tag,
            ),
        )
        await asyncio.sleep(max(0.0, (meter.count_until_ns - time.monotonic_ns()) / 1e9))
        report = meter.report(clients, args.seconds)
        report["cpu_pct"] = cpu
        report["connect_s"] = round(connect_s, 2)
        report["sockets"] = len(clients)
        return report
    finally:
        await common.close_clients(clients)


def print_row(label: str, report: dict[str, Any], server_names: list[str]) -> None:
    f = common.fmt
    cpu = report.get("cpu_pct", {})
    servers = "+".join(f(cpu.get(name, float("nan")), 0) for name in server_names)
    errors = sum(report["errors"].values()) + report["send_failures"]
    print(
        f"{label:<24} {f(report['p50_ms']):>7} {f(report['p95_ms']):>7} "
        f"{f(report['p99_ms']):>7} {f(report['max_ms']):>7} "
        f"{f(report['deliveries_per_s'], 0):>10} {f(report['delivered_pct'], 2):>9} "
        f"{f(report['min_recipient_pct'], 2):>9} {report['late']:>5} {errors:>6} "
        f"{f(cpu.get('generator', float('nan')), 0):>7} {servers:>10} "
        f"{f(report['send_lag_p99_ms']):>8}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--participants", type=int, default=10, help="per room, 2 to 50")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per participant")
    parser.add_argument("--seconds", type=float, default=30, help="measured window")
    parser.add_argument("--warmup", type=float, default=5, help="load before the window")
    parser.add_argument("--grace", type=float, default=2, help="wait for late deliveries")
    parser.add_argument("--instances", type=int, default=2, help="daphne instances")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (Hearth, baseline)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--database", default="hearth_bench_chat", help="dropped and recreated")
    parser.add_argument("--postgres", default=common.POSTGRES_SERVER)
    parser.add_argument("--redis-url", default=common.REDIS_URL)
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    parser.add_argument("--max-seconds", type=float, default=None, help="hard time limit")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.rooms < 1 or args.instances < 1:
        parser.error("rooms, instances, rate and seconds must be positive")
    if not 2 <= args.participants <= 50:
        parser.error("--participants must be 2 to 50")
    phase_s = args.warmup + args.seconds + args.grace + SETTLE_S + 60
    limit = args.max_seconds or 240 + 2 * args.repeat * phase_s

    machine = common.machine_description()
    plan = common.CpuPlan.choose(pin=not args.no_pin)
    offered = args.rooms * args.participants * args.rate
    print("== chat fan-out ==")
    common.print_machine(machine)
    print(f"cpus        {plan.describe()}")
    print(
        f"load        {args.rooms} rooms x {args.participants} participants, "
        f"{args.rate:g} msg/s each, open loop; {args.warmup:g} s warm-up + {args.seconds:g} s "
        f"measured (+{args.grace:g} s grace); Hearth on {args.instances} daphne instances"
    )
    print(
        f"offered     {offered:g} messages/s, {offered * args.participants:g} deliveries/s "
        f"(every member receives every message of its room, sender included)"
    )
    env = common.BenchEnvironment(
        database=args.database, postgres=args.postgres, redis_url=args.redis_url
    )
    servers: common.Servers | None = None
    rounds: list[dict[str, Any]] = []
    try:
        with common.time_limit(limit, what="chat_fanout"):
            env.prepare()
            rooms = common.rooms_seed(rooms=args.rooms, participants=args.participants)
            servers = common.Servers(instances=args.instances, env=env.env, plan=plan).start()
            for n in range(args.repeat):
                # Interleaved so that a change in the machine's load hits both alike.
                hearth = asyncio.run(
                    run_phase("hearth", servers=servers, rooms=rooms, args=args, tag=f"h{n}k")
                )
                baseline = asyncio.run(
                    run_phase("baseline", servers=servers, rooms=rooms, args=args, tag=f"b{n}k")
                )
                rounds.append({"hearth": hearth, "baseline": baseline})
    except BaseException:
        if servers is not None:
            print(servers.logs_tail(), file=sys.stderr)
        raise
    finally:
        if servers is not None:
            servers.stop()
        with contextlib.suppress(Exception):
            env.cleanup()

    daphne_names = [f"web{n + 1}" for n in range(args.instances)]
    print()
    print(
        f"{'':<24} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'deliv./s':>10} {'deliv. %':>9} {'worst %':>9} {'late':>5} {'errors':>6} "
        f"{'gen CPU':>7} {'srv CPU %':>10} {'lag p99':>8}"
    )
    for n, result in enumerate(rounds):
        suffix = f" #{n + 1}" if len(rounds) > 1 else ""
        print_row(f"Hearth ({args.instances}x daphne){suffix}", result["hearth"], daphne_names)
        print_row(f"baseline (websockets){suffix}", result["baseline"], ["baseline"])
    for n, result in enumerate(rounds):
        for name in ("hearth", "baseline"):
            # A p99 that climbs second by second is a backlog building: the load is past
            # what the server sustains, whatever the averages say.
            series = " ".join(common.fmt(v, 0) for v in result[name]["p99_ms_per_second"])
            print(f"p99 by second, {name}{f' #{n + 1}' if len(rounds) > 1 else ''}: {series}")
    last = rounds[-1]
    h, b = last["hearth"], last["baseline"]
    f = common.fmt
    print(
        f"Hearth / baseline       p50 x{f(common.ratio(h['p50_ms'], b['p50_ms']), 2)}, "
        f"p99 x{f(common.ratio(h['p99_ms'], b['p99_ms']), 2)}, "
        f"deliveries/s x{f(common.ratio(h['deliveries_per_s'], b['deliveries_per_s']), 3)}"
    )
    short = [
        name
        for r in rounds
        for name in ("hearth", "baseline")
        if r[name]["min_recipient_pct"] < 100
    ]
    if short:
        print(f"NOTE: some recipients missed messages ({', '.join(sorted(set(short)))})")
    common.finish_run(
        name="chat_fanout",
        args=args,
        machine=machine,
        plan=plan,
        rounds=rounds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
