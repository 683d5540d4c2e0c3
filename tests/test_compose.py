"""The production deployment files cannot rot silently: docker-compose.yml, the Dockerfile and
the nginx and coturn configuration under deploy/ are checked against config/settings.py,
docs/operations.md and the Makefile. There is no Docker engine here, so the compose file is
parsed with PyYAML (anchors and merge keys included) and interpolated the way compose does it;
the pieces that can run on this machine (the container health check against a real daphne, the
coturn entrypoint and configuration in a real coturn) do run."""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import hmac
import ipaddress
import json
import queue
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from aioice import stun
from aioice.turn import TurnClientUdpProtocol

from tests.servers import stop_process
from tests.test_production_mode import STARTUP, good_production_env, hearth_env
from tests.test_settings_docs import ROOT, configuration_table, outside_settings_table

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKEFILE = ROOT / "Makefile"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
TURNSERVER_CONF = ROOT / "deploy" / "turnserver.conf"
COTURN_ENTRYPOINT = ROOT / "deploy" / "coturn-entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"

TOPOLOGY = {"postgres", "redis", "migrate", "web1", "web2", "precall", "nginx", "coturn"}
WEB = ("web1", "web2")
HEARTH_IMAGE_SERVICES = ("migrate", "web1", "web2", "precall")
PRODUCTION_SECRETS = ("SECRET_KEY", "MESSAGE_KEYS", "TURN_SECRET")

INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariableError(Exception):
    """What `${VAR:?message}` makes compose do: refuse to start, printing the message."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error}, ${VAR?error}; `$$` is a literal dollar."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = env.get(name)
        if op == ":-":
            return present or arg
        if op == "-":
            return arg if present is None else present
        if op == ":?" and not present:
            raise MissingVariableError(f"{name}: {arg}")
        if op == "?" and present is None:
            raise MissingVariableError(f"{name}: {arg}")
        return present or ""

    return INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def interpolated_names(node: Any) -> Iterator[tuple[str, str | None]]:
    """(variable, operator) for every interpolation anywhere in the parsed compose file."""
    if isinstance(node, str):
        for match in INTERPOLATION.finditer(node.replace("$$", "")):
            yield match.group("name"), match.group("op")
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from interpolated_names(key)
            yield from interpolated_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from interpolated_names(item)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def operator_env() -> dict[str, str]:
    """What an operator's .env provides (deploy/env.example, filled in)."""
    production = good_production_env()
    return {
        "SECRET_KEY": production["SECRET_KEY"],
        "MESSAGE_KEYS": production["MESSAGE_KEYS"],
        "TURN_SECRET": production["TURN_SECRET"],
        "POSTGRES_PASSWORD": "0f3a9c1e5b7d2468ace0",
        "ALLOWED_HOSTS": "hearth.example.org",
        "PUBLIC_BASE_URL": "https://hearth.example.org",
        "TURN_URLS": "turn:turn.example.org:3478?transport=udp",
    }


def strip_comments(text: str, marker: str = "#") -> str:
    return "\n".join(line.split(marker, 1)[0] for line in text.splitlines())


def nginx_blocks(text: str, header: str) -> list[str]:
    """The bodies of every `header { ... }` block (header is a regex), braces matched."""
    bodies = []
    for match in re.finditer(header + r"\s*\{", text):
        depth, start = 1, match.end()
        for position in range(start, len(text)):
            if text[position] == "{":
                depth += 1
            elif text[position] == "}":
                depth -= 1
                if depth == 0:
                    bodies.append(text[start:position])
                    break
        else:
            raise AssertionError(f"unbalanced braces after {header!r}")
    return bodies


def nginx_block(text: str, header: str) -> str:
    blocks = nginx_blocks(text, header)
    assert blocks, f"no block {header!r} in deploy/nginx.conf"
    return blocks[0]


def https_server() -> str:
    """The server block that serves people (TLS on 443)."""
    conf = strip_comments(NGINX_CONF.read_text(encoding="utf-8"))
    servers = [b for b in nginx_blocks(conf, r"\bserver") if re.search(r"listen\s+443\b", b)]
    assert len(servers) == 1, "deploy/nginx.conf needs one server listening on 443"
    return servers[0]


def directives(block: str) -> list[list[str]]:
    """The simple directives of an nginx block (nested blocks removed), split into words."""
    flat = re.sub(r"\{[^{}]*\}", ";", block)
    while re.search(r"\{[^{}]*\}", flat):
        flat = re.sub(r"\{[^{}]*\}", ";", flat)
    return [shlex.split(part) for part in flat.split(";") if part.strip()]


def dockerfile_cmd() -> list[str]:
    match = re.search(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert match, "the Dockerfile has no exec-form CMD"
    return json.loads(match.group(1))


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


# --- compose: services, health, dependencies ------------------------------------------------


def test_compose_defines_every_service_of_the_production_topology(
    services: dict[str, Any],
) -> None:
    assert sorted(TOPOLOGY - set(services)) == []


def test_postgres_keeps_its_data_in_a_named_volume_and_reports_health_with_pg_isready(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in (compose.get("volumes") or {})


def test_redis_reports_health_with_ping_and_keeps_nothing_on_disk(
    services: dict[str, Any],
) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    command = redis["command"]
    assert option(command, "--save") == ""
    assert option(command, "--appendonly") == "no"


@pytest.mark.parametrize("name", WEB)
def test_web_instances_check_liveness_on_healthz_and_start_after_healthy_postgres_and_redis(
    services: dict[str, Any], name: str
) -> None:
    web = services[name]
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", WEB)
def test_web_instances_build_the_dockerfile_and_run_in_production_mode(
    services: dict[str, Any], name: str
) -> None:
    web = services[name]
    assert web["build"]["context"] == "."
    assert web["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    env = environment(web)
    assert env["HEARTH_MODE"] == "production"
    assert env["DEBUG"] in {"0", "false", "False"}


@pytest.mark.parametrize("name", WEB)
def test_web_instances_are_reachable_only_through_nginx(
    services: dict[str, Any], name: str
) -> None:
    # daphne runs with --proxy-headers and believes X-Forwarded-For: nobody else may reach it.
    assert "ports" not in services[name]
    assert services[name].get("network_mode") is None


def test_migrations_run_once_in_their_own_service_before_the_web_instances(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in WEB:
        assert "command" not in services[name]  # the image's daphne CMD, no migrate


def test_the_precall_worker_runs_in_its_own_service_from_the_same_image(
    services: dict[str, Any],
) -> None:
    precall = services["precall"]
    assert precall["command"] == ["python", "manage.py", "precall_worker"]
    assert precall["image"] == services["web1"]["image"]
    assert environment(precall) == environment(services["web1"])
    assert "ports" not in precall


def test_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert "pgdata" in declared
    assert sorted(used - declared) == []


# --- compose: environment against settings and docs ------------------------------------------


@pytest.mark.parametrize("name", HEARTH_IMAGE_SERVICES)
def test_every_variable_a_hearth_service_sets_is_in_the_operations_table(
    services: dict[str, Any], name: str
) -> None:
    documented = {row.name for row in configuration_table()}
    unknown = sorted(set(environment(services[name])) - documented)
    assert unknown == [], f"{name} sets variables settings.py does not read: {unknown}"


def test_every_variable_compose_interpolates_is_documented(compose: dict[str, Any]) -> None:
    documented = {row.name for row in configuration_table()} | {
        row.name for row in outside_settings_table()
    }
    names = {name for name, _ in interpolated_names(compose)}
    assert sorted(names - documented) == []


@pytest.mark.parametrize("secret", PRODUCTION_SECRETS)
def test_production_secrets_are_required_so_compose_refuses_to_start_without_them(
    services: dict[str, Any], secret: str
) -> None:
    for name in HEARTH_IMAGE_SERVICES:
        value = environment(services[name])[secret]
        assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", value), f"{name}: {value}"
        with pytest.raises(MissingVariableError, match=secret):
            interpolate(value, {k: v for k, v in operator_env().items() if k != secret})
        with pytest.raises(MissingVariableError, match=secret):
            interpolate(value, {**operator_env(), secret: ""})


def test_no_secret_has_a_default_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, op in interpolated_names(compose):
        if name in {*PRODUCTION_SECRETS, "POSTGRES_PASSWORD"}:
            assert op == ":?", f"{name} must be required (`${{{name}:?...}}`), not {op}"


def test_allowed_hosts_must_be_given_and_is_never_a_wildcard(services: dict[str, Any]) -> None:
    value = environment(services["web1"])["ALLOWED_HOSTS"]
    assert re.fullmatch(r"\$\{ALLOWED_HOSTS:\?[^}]+\}", value)
    assert interpolate(value, operator_env()) == "hearth.example.org"


def test_web_instances_reach_postgres_and_redis_by_their_service_names(
    services: dict[str, Any],
) -> None:
    env = {
        key: interpolate(value, operator_env())
        for key, value in environment(services["web1"]).items()
    }
    assert re.fullmatch(r"postgres://hearth:[^@]+@postgres:5432/hearth", env["DATABASE_URL"])
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    postgres_env = environment(services["postgres"])
    assert postgres_env["POSTGRES_USER"] == "hearth"
    assert postgres_env["POSTGRES_DB"] == "hearth"


def test_the_environment_compose_gives_a_web_instance_starts_hearth_in_production(
    services: dict[str, Any], tmp_path: Path
) -> None:
    env = {
        key: interpolate(value, operator_env())
        for key, value in environment(services["web1"]).items()
    }
    result = subprocess.run(
        [sys.executable, "-c", STARTUP],
        cwd=ROOT,
        env=hearth_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["started", "production", "True"]


# --- the image ---------------------------------------------------------------------------------


def test_the_image_runs_daphne_with_the_same_flags_as_make_run() -> None:
    cmd = dockerfile_cmd()
    makefile = MAKEFILE.read_text(encoding="utf-8")
    match = re.search(r"^DAPHNE_MAX_MESSAGE\s*\?=\s*(\d+)", makefile, re.M)
    assert match, "the Makefile no longer sets DAPHNE_MAX_MESSAGE"
    assert cmd[0] == "daphne"
    assert cmd[-1] == "config.asgi:application"
    assert option(cmd, "--websocket-max-message-size") == match.group(1)
    assert "--websocket-max-message-size $(DAPHNE_MAX_MESSAGE)" in makefile
    assert "--proxy-headers" in cmd
    assert "--proxy-headers" in makefile
    assert option(cmd, "-b") == "0.0.0.0"  # noqa: S104 - inside the container, behind nginx


def test_the_image_is_python_311_slim_collects_static_files_and_runs_as_a_non_root_user() -> None:
    text = strip_comments(DOCKERFILE.read_text(encoding="utf-8"))
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "pyproject.toml" in text
    collect = re.search(r"^RUN .*collectstatic.*$", text.replace("\\\n", " "), re.M)
    assert collect
    assert "HEARTH_MODE=production" in collect.group(0)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users
    assert users[-1] not in {"root", "0"}


def test_the_collectstatic_step_of_the_image_build_succeeds_in_production_mode(
    tmp_path: Path,
) -> None:
    """The Dockerfile's collectstatic, with its own build-only values, into a scratch
    directory: production refuses weak build values, and the manifest storage refuses a
    stylesheet that points at a missing file, either of which would break the image build."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    run = re.search(r"^RUN (.*collectstatic.*)$", text, re.M)
    assert run
    build_env = dict(re.findall(r"\b([A-Z_]+)=(\S+)", run.group(1).split("python", 1)[0]))
    assert build_env["HEARTH_MODE"] == "production"
    script = (
        "import django; django.setup(); from django.conf import settings; "
        f"settings.STATIC_ROOT = {str(tmp_path / 'static')!r}; "
        "from django.core.management import call_command; "
        "call_command('collectstatic', '--noinput', verbosity=0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=hearth_env(tmp_path, **build_env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert manifest["paths"]


def test_the_image_leaves_out_secrets_and_local_state_but_keeps_what_it_runs() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (".env", ".venv", ".git", "var"):
        assert excluded in patterns
    for needed in ("manage.py", "pyproject.toml", "config/settings.py", "deploy/healthcheck.py"):
        hits = [p for p in patterns if fnmatch.fnmatch(needed, p) or needed.startswith(p + "/")]
        assert hits == [], f"{needed} would be left out of the image by {hits}"


# --- nginx ---------------------------------------------------------------------------------


def test_nginx_publishes_http_and_https_and_has_a_health_check(services: dict[str, Any]) -> None:
    nginx = services["nginx"]
    published = {str(port).split(":")[-1] for port in nginx["ports"]}
    assert {"80", "443"} <= published
    assert any(str(v).startswith("./deploy/nginx.conf:") for v in nginx["volumes"])
    assert nginx["healthcheck"]["test"]
    for name in WEB:
        assert nginx["depends_on"][name]["condition"] == "service_healthy"


def test_nginx_balances_over_both_web_instances_on_the_port_daphne_listens_on() -> None:
    conf = strip_comments(NGINX_CONF.read_text(encoding="utf-8"))
    port = option(dockerfile_cmd(), "-p")
    upstream = directives(nginx_block(conf, r"upstream\s+hearth_web"))
    servers = {words[1] for words in upstream if words[0] == "server"}
    assert servers == {f"web1:{port}", f"web2:{port}"}


def test_nginx_proxies_websockets_with_upgrade_headers_and_a_long_read_timeout() -> None:
    conf = strip_comments(NGINX_CONF.read_text(encoding="utf-8"))
    ws = directives(nginx_block(https_server(), r"location\s+/ws/"))
    assert ["proxy_pass", "http://hearth_web"] in ws
    assert ["proxy_http_version", "1.1"] in ws
    assert ["proxy_set_header", "Upgrade", "$http_upgrade"] in ws
    connection = [w for w in ws if w[:2] == ["proxy_set_header", "Connection"]]
    assert connection == [["proxy_set_header", "Connection", "$connection_upgrade"]]
    upgrade_map = directives(nginx_block(conf, r"map\s+\$http_upgrade\s+\$connection_upgrade"))
    assert ["default", "upgrade"] in upgrade_map
    assert ["proxy_set_header", "Host", "$host"] in ws
    assert ["proxy_set_header", "X-Forwarded-Proto", "$scheme"] in ws
    timeout = next(w[1] for w in ws if w[0] == "proxy_read_timeout")
    assert int(timeout.rstrip("s")) >= 3600


def test_nginx_tells_daphne_the_scheme_and_never_passes_on_a_client_forwarded_for() -> None:
    conf = strip_comments(NGINX_CONF.read_text(encoding="utf-8"))
    assert "$proxy_add_x_forwarded_for" not in conf
    for location in (r"location\s+/ws/", r"location\s+/\s"):
        block = directives(nginx_block(https_server(), location))
        assert ["proxy_set_header", "X-Forwarded-For", "$remote_addr"] in block
        assert ["proxy_set_header", "X-Forwarded-Proto", "$scheme"] in block


# --- coturn --------------------------------------------------------------------------------


def turn_config_lines() -> list[str]:
    return [line.strip() for line in strip_comments(TURNSERVER_CONF.read_text()).splitlines()]


def denied_ranges() -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]]:
    ranges = []
    for line in turn_config_lines():
        if line.startswith("denied-peer-ip="):
            low, _, high = line.split("=", 1)[1].partition("-")
            ranges.append((ipaddress.ip_address(low), ipaddress.ip_address(high or low)))
    return ranges


def test_coturn_runs_the_repository_config_with_its_secret_from_the_environment(
    services: dict[str, Any],
) -> None:
    coturn = services["coturn"]
    assert coturn["image"].startswith("coturn/coturn")
    volumes = coturn["volumes"]
    assert "./deploy/turnserver.conf:/etc/coturn/turnserver.conf:ro" in volumes
    assert any(str(v).startswith("./deploy/coturn-entrypoint.sh:") for v in volumes)
    secret = environment(coturn)["TURN_SECRET"]
    assert re.fullmatch(r"\$\{TURN_SECRET:\?[^}]+\}", secret)
    # Never on a command line, where `ps` on the host shows it.
    for key in ("command", "entrypoint"):
        assert "TURN_SECRET" not in json.dumps(coturn.get(key, ""))


def test_coturn_checks_turn_rest_credentials_and_keeps_no_secret_in_the_repository() -> None:
    lines = turn_config_lines()
    assert "use-auth-secret" in lines
    assert not [line for line in lines if line.startswith(("static-auth-secret", "user="))]
    assert "lt-cred-mech" not in lines


def test_coturn_never_allows_loopback_peers_and_refuses_multicast() -> None:
    assert "allow-loopback-peers" not in TURNSERVER_CONF.read_text(encoding="utf-8")
    assert "no-multicast-peers" in turn_config_lines()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.17.0.2",  # Docker's default bridge: the compose network
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata service
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
        "224.0.0.251",
        "::1",
        "fe80::1",
        "fd00::2",
        "::ffff:127.0.0.1",
    ],
)
def test_coturn_denies_relaying_to_private_loopback_and_link_local_addresses(
    address: str,
) -> None:
    target = ipaddress.ip_address(address)
    covering = [
        (low, high)
        for low, high in denied_ranges()
        if low.version == target.version and low <= target <= high
    ]
    assert covering, f"no denied-peer-ip covers {address}"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def turn_rest_credentials(secret: str, participant: str, expires_at: int) -> tuple[str, str]:
    """The TURN REST scheme coturn's use-auth-secret checks (docs/operations.md, TURN)."""
    username = f"{expires_at}:{participant}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


async def wait_for_stun(port: int, deadline: float) -> None:
    """Until coturn answers a STUN binding request on 127.0.0.1:port."""
    loop = asyncio.get_running_loop()
    request = bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        while loop.time() < deadline:
            sock.sendto(request, ("127.0.0.1", port))
            try:
                await asyncio.wait_for(loop.sock_recv(sock, 2048), 0.2)
                return
            except (TimeoutError, ConnectionRefusedError):
                await asyncio.sleep(0.05)
    raise AssertionError(f"coturn did not answer on port {port}")


@pytest.fixture
def production_coturn(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    """The real coturn (Debian's `turnserver`) started through deploy/coturn-entrypoint.sh with
    deploy/turnserver.conf as is; only the listening addresses, ports and TLS are changed on
    the command line so it stays on loopback and needs no certificate."""
    port, secret = free_udp_port(), "test-turn-secret-" + tmp_path.name
    log = tmp_path / "coturn.log"
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TURN_SECRET": secret,
        "TURN_REALM": "hearth.test",
        "TURN_CONFIG": str(TURNSERVER_CONF),
        "TMPDIR": str(tmp_path),
    }
    args = [
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        "--no-tls",
        "--no-dtls",
        f"--pidfile={tmp_path / 'coturn.pid'}",
        f"--userdb={tmp_path / 'turndb'}",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            ["sh", str(COTURN_ENTRYPOINT), *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port, secret, log
    finally:
        stop_process(process)


async def turn_client(port: int, username: str, password: str) -> TurnClientUdpProtocol:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(("127.0.0.1", port), username, password, 600, 300),
        remote_addr=("127.0.0.1", port),
    )
    return protocol


async def permission_error(client: TurnClientUdpProtocol, address: str) -> int | None:
    """The error code of a CreatePermission for `address` (None: granted). No packet goes to
    `address`: a permission only tells coturn which peers may be relayed to."""
    request = stun.Message(stun.Method.CREATE_PERMISSION, stun.Class.REQUEST)
    request.attributes["XOR-PEER-ADDRESS"] = (address, 9)
    try:
        await asyncio.wait_for(client.request_with_retry(request), 5)
    except stun.TransactionFailed as exc:
        return exc.response.error_code
    return None


async def test_the_production_coturn_relays_for_a_valid_credential_but_never_into_private_networks(
    production_coturn: tuple[int, str, Path],
) -> None:
    port, secret, log = production_coturn
    await wait_for_stun(port, asyncio.get_running_loop().time() + 10)
    username, password = turn_rest_credentials(secret, "p-1", int(time.time()) + 600)
    client = await turn_client(port, username, password)
    try:
        relayed = await asyncio.wait_for(client.connect(), 5)
        assert relayed[0] == "127.0.0.1"
        refused = {
            address: await permission_error(client, address)
            for address in ("127.0.0.1", "10.0.0.5", "172.17.0.2", "192.168.1.1", "169.254.169.254")
        }
        assert refused == dict.fromkeys(refused, 403)
        # A family's public address is fine (documentation ranges are denied, so a plain
        # public one stands in for it).
        assert await permission_error(client, "5.5.5.5") is None
    finally:
        client.transport.close()
    # The secret reached coturn through its private config file, not its command line.
    config_copies = list(log.parent.glob("turnserver.*"))
    assert len(config_copies) == 1
    assert f"static-auth-secret={secret}" in config_copies[0].read_text()
    assert config_copies[0].stat().st_mode & 0o077 == 0


async def test_the_production_coturn_refuses_an_expired_or_forged_credential(
    production_coturn: tuple[int, str, Path],
) -> None:
    port, secret, _ = production_coturn
    await wait_for_stun(port, asyncio.get_running_loop().time() + 10)
    expired = turn_rest_credentials(secret, "p-2", int(time.time()) - 5)
    forged = turn_rest_credentials("not-the-secret", "p-3", int(time.time()) + 600)
    for username, password in (expired, forged):
        client = await turn_client(port, username, password)
        try:
            with pytest.raises(stun.TransactionFailed) as failure:
                await asyncio.wait_for(client.connect(), 5)
            assert failure.value.response.error_code == 401
        finally:
            client.transport.close()


def test_the_coturn_entrypoint_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(COTURN_ENTRYPOINT)],
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "TURN_CONFIG": str(TURNSERVER_CONF)},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode != 0
    assert "TURN_SECRET is not set" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- the container health check against a real production-mode daphne ------------------------


@pytest.fixture
def production_daphne(tmp_path: Path) -> Iterator[int]:
    """daphne with the image's flags, in production mode, on 127.0.0.1 and a free port."""
    env = hearth_env(
        tmp_path,
        **{
            **good_production_env(),
            "ALLOWED_HOSTS": "hearth.example.org",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'health.sqlite3'}",
            "REDIS_URL": "",
        },
    )
    cmd = dockerfile_cmd()
    cmd[cmd.index("-b") + 1] = "127.0.0.1"
    cmd[cmd.index("-p") + 1] = "0"
    cmd[0] = str(Path(sys.executable).with_name("daphne"))
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in process.stderr or []], daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            match = re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", line)
            port = int(match.group(1)) if match else None
        assert port, "daphne did not start listening"
        yield port
    finally:
        stop_process(process)


def run_healthcheck(url: str, allowed_hosts: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), url],
        env={"ALLOWED_HOSTS": allowed_hosts, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_container_health_check_passes_on_a_production_instance_that_knows_only_public_hosts(
    production_daphne: int,
) -> None:
    url = f"http://127.0.0.1:{production_daphne}/healthz"
    # What a naive check would see: Django refuses the unknown Host "127.0.0.1".
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 400
    result = run_healthcheck(url, "hearth.example.org,www.hearth.example.org")
    assert result.returncode == 0, result.stderr


def test_the_container_health_check_fails_when_the_instance_does_not_answer() -> None:
    result = run_healthcheck(f"http://127.0.0.1:{free_udp_port()}/healthz", "hearth.example.org")
    assert result.returncode == 1
    assert "unreachable" in result.stderr
