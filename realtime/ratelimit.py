"""Per-user rate limits shared by every instance (Redis), or per process in the embedded mode.

Fixed windows: INCR a key named after the user, the action and the window, EXPIRE it with the
window. Cheap (one round trip) and exact enough for flood control. When Redis is
unreachable the limiter lets the frame through: chat is still bounded by PostgreSQL, and a
Redis outage must not make everyone "rate limited".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)


_COUNT_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True, slots=True)
class Limit:
    action: str
    count: int
    window_seconds: int


def limit_for(action: str) -> Limit:
    table = {
        "chat": settings.CHAT_RATE_PER_10S,
        "typing": settings.TYPING_RATE_PER_10S,
        "signal": settings.SIGNAL_RATE_PER_10S,
    }
    return Limit(action=action, count=table[action], window_seconds=10)


class RateLimiter:
    def __init__(self, *, redis_url: str, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._redis = (
            aioredis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
            if redis_url
            else None
        )
        self._local: dict[str, int] = {}
        # INCR, and EXPIRE on a window's first hit, in one atomic round trip (EVALSHA): this
        # runs for every chat message and signal.
        self._count_hit = self._redis.register_script(_COUNT_HIT) if self._redis else None

    async def hit(self, *, user_id: int, limit: Limit) -> float | None:
        """Count one use. Returns None if allowed, else seconds until the window resets."""
        now = self._clock()
        window = int(now // limit.window_seconds)
        key = f"hearth:rl:{limit.action}:{user_id}:{window}"
        retry_after = round((window + 1) * limit.window_seconds - now, 2)
        if self._redis is None:
            self._local = {k: v for k, v in self._local.items() if k.endswith(f":{window}")}
            self._local[key] = self._local.get(key, 0) + 1
            count = self._local[key]
        else:
            try:
                count = await self._count_hit(keys=[key], args=[limit.window_seconds + 1])
            except Exception as exc:  # noqa: BLE001 - fail open on any Redis failure
                logger.warning("rate limiter unavailable, allowing: %s", type(exc).__name__)
                return None
        return retry_after if count > limit.count else None


_limiters: dict[int, RateLimiter] = {}


def get_rate_limiter() -> RateLimiter:
    """One limiter per event loop (redis.asyncio connections belong to a loop)."""
    import asyncio

    loop_id = id(asyncio.get_running_loop())
    limiter = _limiters.get(loop_id)
    if limiter is None:
        limiter = RateLimiter(redis_url=settings.REDIS_URL)
        _limiters[loop_id] = limiter
    return limiter
