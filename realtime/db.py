"""How the live interface runs ORM work: in a pool of threads, not Channels' default single
thread-sensitive thread, on which one slow query would hold up every socket of the process
(asgiref#218, channels#2132). DatabaseSyncToAsync closes the call's connection afterwards, which
returns it to psycopg's pool (DATABASE_POOL_SIZE) instead of ending a PostgreSQL backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import DatabaseSyncToAsync


async def run_db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await DatabaseSyncToAsync(func, thread_sensitive=False)(*args, **kwargs)
