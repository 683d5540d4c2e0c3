"""Servers a scenario starts inside its network namespace: coturn, redis-server (and, for the
multi-instance tests, daphne through `ManagedProcess`). Each binds the namespace's loopback,
is waited on until ready and is stopped by the scenario (the parent kills the whole process
group if a scenario dies)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from tests.webrtc.netns import NETNS_ADDRESS


def free_port(*, kind: int = socket.SOCK_STREAM, host: str = NETNS_ADDRESS) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ManagedProcess:
    """A child process with a readiness check and a clean stop."""

    def __init__(
        self,
        argv: list[str],
        *,
        ready: Callable[[], bool],
        ready_timeout: float = 15.0,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.argv = argv
        self._log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        deadline = time.monotonic() + ready_timeout
        while not ready():
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{argv[0]} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{argv[0]} was not ready within {ready_timeout} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class TurnServer:
    """Debian's coturn in TURN REST mode (`use-auth-secret`) on 127.0.0.2, UDP only.

    `--allow-loopback-peers` is what lets two peers on loopback relay to each other; the
    production configuration must not have it (docs/operations.md, "TURN deployment in detail")."""

    def __init__(self, *, secret: str | None = None) -> None:
        self.secret = secret or secrets.token_hex(16)
        self.port = free_port(kind=socket.SOCK_DGRAM)
        self._dir = tempfile.TemporaryDirectory(prefix="hearth-coturn-")
        self.log_path = Path(self._dir.name) / "turnserver.log"
        self.url = f"turn:{NETNS_ADDRESS}:{self.port}?transport=udp"
        argv = [
            "turnserver",
            "-n",  # no configuration file
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            "--realm=hearth.test",
            f"--listening-ip={NETNS_ADDRESS}",
            f"--relay-ip={NETNS_ADDRESS}",
            f"--listening-port={self.port}",
            "--min-port=49152",
            "--max-port=49352",
            "--allow-loopback-peers",
            "--no-multicast-peers",
            "--no-tls",
            "--no-dtls",
            "--no-tcp-relay",
            "--no-cli",
            "--fingerprint",
            "--verbose",  # logs each refused request with its user name
            f"--log-file={self.log_path}",
            "--simple-log",
            "--no-stdout-log",
            f"--pidfile={Path(self._dir.name) / 'turnserver.pid'}",
            f"--userdb={Path(self._dir.name) / 'turndb'}",
        ]
        self._process = ManagedProcess(
            argv, ready=lambda: "Total General servers" in self.log(), ready_timeout=15.0
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        self._process.stop()
        self._dir.cleanup()


class RedisServer:
    """redis-server on the namespace's 127.0.0.1 (TCP loopback needs no special address)."""

    def __init__(self) -> None:
        self.port = free_port(host="127.0.0.1")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        self._process = ManagedProcess(argv, ready=self._answers_ping)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self._process.stop()


POSTGRES_SOCKET_DIR = "/var/run/postgresql"


def unix_socket_database_url(name: str, *, user: str = "postgres") -> str:
    """A DATABASE_URL for PostgreSQL's unix socket: the one way to reach the machine's
    PostgreSQL from inside a network namespace (its TCP port is in the root namespace)."""
    return f"postgres://{user}@{quote(POSTGRES_SOCKET_DIR, safe='')}/{name}"


class DaphneServer:
    """A Hearth daphne instance inside the namespace, with the flags `make run` uses.

    `env` must carry at least DATABASE_URL (see unix_socket_database_url) and, for several
    instances, the same REDIS_URL."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        host: str = "127.0.0.1",
        max_message_bytes: int = 131072,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = free_port(host=host)
        self.http_url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            host,
            "-p",
            str(self.port),
            "--websocket-max-message-size",
            str(max_message_bytes),
            "config.asgi:application",
        ]
        self._process = ManagedProcess(
            argv,
            ready=self._accepts,
            ready_timeout=30.0,
            env={"DJANGO_SETTINGS_MODULE": "config.settings", **env},
            log_path=log_path,
        )

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self._process.process

    def stop(self) -> None:
        self._process.stop()
