"""How the live interface runs database work.

ORM work runs in a pool of threads, not Channels' default single thread-sensitive thread, on
which one slow query would hold up every socket of the process (asgiref#218, channels#2132).
DatabaseSyncToAsync closes the call's connection afterwards, which returns it to psycopg's pool
(DATABASE_POOL_SIZE) instead of ending a PostgreSQL backend.

`fetch_all` runs one hand-written read on the event loop itself, over a psycopg async
connection (DATABASE_ASYNC_READS, PostgreSQL only): no hop to a thread and back. It is for
the read on every relayed signal (rooms.moderation.signal_route_query): while a family joins,
the instance is busy and each hop waits for the interpreter lock, which made the route check
most of a signal's delay on the server (docs/benchmarks.md, "Join time")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import OperationalError, connection


async def run_db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await DatabaseSyncToAsync(func, thread_sensitive=False)(*args, **kwargs)


class _LoopConnection:
    """One async PostgreSQL connection per event loop (a daphne instance has one loop).
    psycopg runs the statements of concurrent callers on it one after another; each takes a
    fraction of a millisecond, and a pool's bookkeeping cost more than it saved (measured,
    docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.opening = asyncio.Lock()
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def get(self) -> psycopg.AsyncConnection[Any]:
        async with self.opening:
            if self.conn is None or self.conn.closed:
                # Django's own connection parameters (database, credentials, timeout,
                # prepare_threshold), less the sync-only parts: its cursor class and adapters.
                params = connection.get_connection_params()
                params.pop("cursor_factory", None)
                params.pop("context", None)
                # Prepared only where Django prepares (DATABASE_PREPARED): psycopg's own default
                # would prepare behind a pooler that cannot carry prepared statements.
                params.setdefault("prepare_threshold", None)
                self.conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            return self.conn

    async def drop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self.conn is conn:
            self.conn = None
        await conn.close()


_loop_connections: dict[asyncio.AbstractEventLoop, _LoopConnection] = {}


def _reads_on_loop() -> bool:
    return connection.vendor == "postgresql" and settings.DATABASE_ASYNC_READS


def _fetch_all_in_thread(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


async def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of one read-only statement. PostgreSQL failures raise Django's
    OperationalError, as the ORM's do, so callers handle an outage one way."""
    if not _reads_on_loop():
        return await run_db(_fetch_all_in_thread, sql, params)  # type: ignore[no-any-return]
    holder = _loop_connections.setdefault(asyncio.get_running_loop(), _LoopConnection())
    # A connection that PostgreSQL closed (a restart) fails once and is replaced; the statement
    # only reads, so it is tried once more on a fresh connection.
    for attempt in (1, 2):
        try:
            conn = await holder.get()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise OperationalError(str(exc)) from exc
        try:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await holder.drop(conn)
            if attempt == 2:
                raise OperationalError(str(exc)) from exc
    raise AssertionError("unreachable")  # pragma: no cover
