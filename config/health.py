"""Liveness and readiness. /healthz stays 200 while the process can answer at all (an outage of
Redis or PostgreSQL is a loss of capacity, not a reason to restart healthy processes);
/readyz is 503 while either is unreachable, so a load balancer stops sending new sockets."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"error: {type(exc).__name__}"
    return "ok"


def redis_status() -> str:
    if not settings.REDIS_URL:
        return "not configured (in-memory layer)"
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "database": database_status(), "redis": redis_status()})


def readyz(request: HttpRequest) -> JsonResponse:
    database, redis_state = database_status(), redis_status()
    ready = database == "ok" and (redis_state == "ok" or not settings.REDIS_URL)
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "database": database, "redis": redis_state},
        status=200 if ready else 503,
    )
