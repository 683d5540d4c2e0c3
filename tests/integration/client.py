"""A protocol-v1 client over a real websocket (the `websockets` library), for black-box tests
against daphne processes. Every received frame is kept; `expect` takes the first unconsumed
frame that matches, so replies and events can be awaited in any order."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

_ids = itertools.count(1)


class WsClient:
    def __init__(self, connection: ClientConnection, *, read: bool = True) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._arrived = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = (
            asyncio.create_task(self._read()) if read else None
        )

    @classmethod
    async def open(
        cls,
        base: str,
        room_id: Any,
        *,
        cookie: str | None = None,
        ticket: str | None = None,
        after_seq: int | None = None,
        read: bool = True,
    ) -> WsClient:
        query = []
        if ticket:
            query.append(f"ticket={ticket}")
        if after_seq is not None:
            query.append(f"after_seq={after_seq}")
        url = f"{base}/ws/rooms/{room_id}/" + (f"?{'&'.join(query)}" if query else "")
        headers = {"Cookie": cookie} if cookie else {}
        connection = await connect(
            url,
            origin="http://localhost",
            additional_headers=headers,
            open_timeout=10,
            max_size=2**20,
            compression=None,
            max_queue=4 if not read else 16,
        )
        return cls(connection, read=read)

    def start_reading(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                self.received.append(json.loads(message))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.connection.close_code
            self.closed.set()
            self._arrived.set()

    async def send(self, type_: str, data: dict[str, Any] | None = None) -> str:
        frame_id = f"c-{next(_ids)}"
        await self.connection.send(
            json.dumps({"v": 1, "type": type_, "id": frame_id, "data": data or {}})
        )
        return frame_id

    def _take(self, type_: str | None, ref: str | None) -> dict[str, Any] | None:
        for index, frame in enumerate(self.received):
            if index in self._consumed:
                continue
            if (type_ is None or frame["type"] == type_) and (
                ref is None or frame.get("ref") == ref
            ):
                self._consumed.add(index)
                return frame
        return None

    async def expect(
        self, type_: str | None, *, timeout: float = 10, ref: str | None = None
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self._take(type_, ref)
            if found is not None:
                return found
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.closed.is_set():
                raise AssertionError(
                    f"no {type_ or 'reply'} frame (ref={ref}) within {timeout}s; "
                    f"closed={self.close_code}"
                )
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue

    async def request(
        self, type_: str, data: dict[str, Any] | None = None, *, timeout: float = 10
    ) -> dict[str, Any]:
        frame_id = await self.send(type_, data)
        return await self.expect(None, ref=frame_id, timeout=timeout)

    def all_of(self, type_: str) -> list[dict[str, Any]]:
        return [frame for frame in self.received if frame["type"] == type_]

    async def wait_closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.connection.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
