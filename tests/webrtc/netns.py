"""Parent side of the WebRTC harness: run a scenario in a child process inside a fresh network
namespace, so media can only ever flow over that namespace's loopback.

aioice never offers 127.0.0.1 as a host candidate (it would fall back to the machine's
interface address), so the child first brings `lo` up and adds 127.0.0.2/8: inside the
namespace that is the only address there is, and there is no route anywhere else. Nothing a
scenario does (aiortc, coturn, redis-server, daphne) can reach the real network.

The child prints one JSON line last (tests/webrtc/child.py); the test asserts on it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
NETNS_ADDRESS = "127.0.0.2"
# `lo` starts down in a new namespace; 127.0.0.2 is what aioice will gather.
NETNS_PREPARE = f"ip link set lo up && ip addr add {NETNS_ADDRESS}/8 dev lo"


class ScenarioFailed(AssertionError):
    """The child reported an error, crashed, printed no result or ran out of time."""


def netns_command(argv: list[str]) -> list[str]:
    """`argv` run inside a new network namespace with loopback prepared."""
    return ["unshare", "--net", "--", "sh", "-c", f'{NETNS_PREPARE} && exec "$@"', "netns", *argv]


def run_in_netns(
    script_path_or_module: str | Path,
    *args: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a scenario (a dotted module such as "tests.webrtc.scenarios.two_peers", or a .py
    path) with `args` in a new network namespace and return the dict it printed.

    Raises ScenarioFailed with the child's output when it fails or exceeds `timeout` seconds
    (the whole process group is killed, so servers it started go too)."""
    target = str(script_path_or_module)
    python = [sys.executable, "-X", "faulthandler"]
    argv = [*python, target] if target.endswith(".py") else [*python, "-m", target]
    child_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    child_env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if env:
        child_env.update(env)
    process = subprocess.Popen(
        netns_command([*argv, *args]),
        cwd=REPO_ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise ScenarioFailed(
            f"{target} did not finish within {timeout} s\n--- stdout\n{stdout[-4000:]}"
            f"\n--- stderr\n{stderr[-6000:]}"
        ) from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    result = _last_json_line(stdout)
    if process.returncode != 0 or result is None or not result.get("ok"):
        detail = (result or {}).get("traceback") or ""
        raise ScenarioFailed(
            f"{target} failed (exit {process.returncode})\n{detail}\n--- stdout\n"
            f"{stdout[-4000:]}\n--- stderr\n{stderr[-6000:]}"
        )
    return result


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
