"""The harness can run the whole server side inside a namespace: redis-server and two daphne
instances on it, PostgreSQL through its unix socket (for the multi-instance WebRTC tests)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

from tests.webrtc.child import scenario
from tests.webrtc.servers import DaphneServer, RedisServer, unix_socket_database_url


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return {"status": response.status, "body": json.loads(response.read())}


async def main(args: list[str]) -> dict[str, Any]:
    redis = RedisServer()
    env = {"REDIS_URL": redis.url, "DATABASE_URL": unix_socket_database_url(args[0])}
    daphnes: list[DaphneServer] = []
    try:
        for _ in range(2):
            daphnes.append(await asyncio.to_thread(DaphneServer, env=env))
        return {
            "ready": [
                await asyncio.to_thread(get_json, f"{daphne.http_url}/readyz") for daphne in daphnes
            ]
        }
    finally:
        for daphne in daphnes:
            daphne.stop()
        redis.stop()


if __name__ == "__main__":
    scenario(main)
