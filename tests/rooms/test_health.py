"""Liveness and readiness: /healthz answers while the process can answer at all and reports
what it depends on; /readyz turns 503 while Redis is unreachable."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

CLOSED_PORT = "redis://127.0.0.1:1/0"


def test_healthz_reports_the_database_and_redis():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_readyz_is_200_when_both_are_reachable():
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_readyz_is_503_when_redis_is_unreachable_while_healthz_stays_200(settings):
    settings.REDIS_URL = CLOSED_PORT
    browser = Client()

    ready = browser.get("/readyz")
    health = browser.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["redis"].startswith("error")
    assert ready.json()["database"] == "ok"
    assert health.status_code == 200
    assert health.json()["redis"].startswith("error")
