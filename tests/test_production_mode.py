"""Production mode refuses to start on insecure settings, and says which, before serving
anything. Each case starts Django in a fresh interpreter, as daphne or manage.py would, because
settings are read once per process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.test_settings_docs import ROOT, settings_variables

STARTUP = (
    "import django; django.setup(); from django.conf import settings; "
    "print('started', settings.HEARTH_MODE, settings.SESSION_COOKIE_SECURE)"
)
REFUSAL = "Hearth refuses to start in production mode"


def good_production_env() -> dict[str, str]:
    """What docker-compose.yml gives a web instance (nothing here is contacted at start-up)."""
    return {
        "HEARTH_MODE": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MESSAGE_KEYS": Fernet.generate_key().decode(),
        "DEBUG": "0",
        "DATABASE_URL": "postgres://hearth:pw@postgres.invalid:5432/hearth",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "ALLOWED_HOSTS": "hearth.example.org",
        "PUBLIC_BASE_URL": "https://hearth.example.org",
        "TURN_URLS": "turn:turn.example.org:3478?transport=udp",
        "TURN_SECRET": secrets.token_hex(32),
    }


def hearth_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """This process's environment without any Hearth variable (a developer's SECRET_KEY, the
    suite's DATABASE_URL), plus `overrides` (None removes one)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in settings_variables() and key != "DJANGO_SETTINGS_MODULE"
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["HEARTH_VAR_DIR"] = str(tmp_path)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def start_django(tmp_path: Path, **overrides: str | None) -> subprocess.CompletedProcess[str]:
    """Run django.setup() in a new interpreter with only the given Hearth variables set."""
    return subprocess.run(
        [sys.executable, "-c", STARTUP],
        cwd=ROOT,
        env=hearth_env(tmp_path, **overrides),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refusal_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, f"Django started: {result.stdout}"
    lines = [line for line in result.stderr.splitlines() if REFUSAL in line]
    assert lines, f"no clear refusal in:\n{result.stderr[-2000:]}"
    assert lines[-1].startswith("django.core.exceptions.ImproperlyConfigured: ")
    return lines[-1]


def test_production_with_the_default_secret_key_refuses_to_start_naming_secret_key(
    tmp_path: Path,
) -> None:
    line = refusal_line(start_django(tmp_path, **{**good_production_env(), "SECRET_KEY": None}))
    assert "SECRET_KEY" in line
    assert "DEBUG" not in line
    assert "docs/operations.md" in line


def test_production_with_a_short_secret_key_refuses_without_printing_it(
    tmp_path: Path,
) -> None:
    short = "tooshort-but-secret-value"
    result = start_django(tmp_path, **{**good_production_env(), "SECRET_KEY": short})
    assert "SECRET_KEY" in refusal_line(result)
    assert short not in result.stderr + result.stdout


def test_production_with_debug_on_refuses_to_start_naming_debug(tmp_path: Path) -> None:
    line = refusal_line(start_django(tmp_path, **{**good_production_env(), "DEBUG": "1"}))
    assert "DEBUG is on" in line
    assert "SECRET_KEY" not in line


def test_production_without_message_keys_refuses_to_start_naming_message_keys(
    tmp_path: Path,
) -> None:
    line = refusal_line(start_django(tmp_path, **{**good_production_env(), "MESSAGE_KEYS": None}))
    assert "MESSAGE_KEYS" in line
    assert "SECRET_KEY" not in line


def test_every_problem_is_named_in_one_refusal(tmp_path: Path) -> None:
    env = {**good_production_env(), "SECRET_KEY": None, "DEBUG": "true", "MESSAGE_KEYS": None}
    line = refusal_line(start_django(tmp_path, **env))
    assert all(name in line for name in ("SECRET_KEY", "DEBUG", "MESSAGE_KEYS"))


def test_production_with_good_values_starts(tmp_path: Path) -> None:
    result = start_django(tmp_path, **good_production_env())
    assert result.returncode == 0, result.stderr[-2000:]
    # Production is really on: cookies only travel over HTTPS.
    assert result.stdout.split() == ["started", "production", "True"]


def test_the_embedded_mode_starts_with_no_configuration_at_all(tmp_path: Path) -> None:
    result = start_django(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["started", "embedded", "False"]


@pytest.mark.parametrize("mode", ["prod", "Production"])
def test_an_unknown_mode_refuses_to_start_naming_hearth_mode(tmp_path: Path, mode: str) -> None:
    result = start_django(tmp_path, **{**good_production_env(), "HEARTH_MODE": mode})
    assert result.returncode != 0
    assert "HEARTH_MODE must be 'embedded' or 'production'" in result.stderr
