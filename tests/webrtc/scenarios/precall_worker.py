"""The production path of the pre-call test: `manage.py precall_worker` as its own process on a
real Redis (both inside the namespace), driven over the channel layer the way the room
consumer drives it, by an aiortc client that plays the browser."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.webrtc.child import scenario
from tests.webrtc.media import wait_until
from tests.webrtc.netns import REPO_ROOT
from tests.webrtc.peer import PrecallClient
from tests.webrtc.servers import ManagedProcess, RedisServer

TIMEOUT = 20.0
MAX_SECONDS = 3


class Mailbox:
    """One reply channel, read continuously (cancelling a pub/sub receive unsubscribes it)."""

    def __init__(self, layer: Any, name: str) -> None:
        self.name = name
        self._layer = layer
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            self._queue.put_nowait(await self._layer.receive(self.name))

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def start_worker(redis: RedisServer, log_path: Path) -> ManagedProcess:
    env = {
        "REDIS_URL": redis.url,
        "PRECALL_MAX_CONCURRENT": "1",
        "PRECALL_MAX_SECONDS": str(MAX_SECONDS),
        "STUN_URLS": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(REPO_ROOT),
    }
    return await asyncio.to_thread(
        ManagedProcess,
        [sys.executable, str(REPO_ROOT / "manage.py"), "precall_worker"],
        ready=lambda: "Pre-call worker on channel 'precall'" in log_path.read_text(),
        env=env,
        log_path=log_path,
        ready_timeout=30.0,
    )


async def wait_for_worker(layer: Any) -> dict[str, Any]:
    """The worker subscribes when it first receives; ask for its status until it answers."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            box = Mailbox(layer, await layer.new_channel())
            try:
                await layer.send("precall", {"type": "precall.status", "reply_channel": box.name})
                return await box.next(timeout=0.5)
            except TimeoutError:
                continue
            finally:
                await box.close()


async def start_session(layer: Any, box: Mailbox, client: PrecallClient, owner: str, ref: str):
    await layer.send(
        "precall",
        {
            "type": "precall.start",
            "reply_channel": box.name,
            "offer_sdp": await client.offer(),
            "owner": owner,
            "ref": ref,
        },
    )
    return await box.next()


async def main(args: list[str]) -> dict[str, Any]:
    redis = RedisServer()
    os.environ["REDIS_URL"] = redis.url
    import django

    django.setup()
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    log_dir = tempfile.TemporaryDirectory(prefix="hearth-precall-")
    log_path = Path(log_dir.name) / "worker.log"
    log_path.touch()
    worker = await start_worker(redis, log_path)
    box = Mailbox(layer, await layer.new_channel())
    clients: list[PrecallClient] = []
    result: dict[str, Any] = {"layer": type(layer).__name__}
    try:
        result["status"] = await wait_for_worker(layer)

        # A malformed request gets an error and the worker carries on.
        await layer.send("precall", {"type": "precall.start", "reply_channel": box.name})
        result["malformed"] = await box.next()

        client = PrecallClient()
        clients.append(client)
        answer = await start_session(layer, box, client, "p-1", "r-1")
        result["answer"] = {key: value for key, value in answer.items() if key != "sdp"}
        await client.accept(answer["sdp"])
        async with asyncio.timeout(TIMEOUT):
            await client.connected.wait()
            await wait_until(lambda: {"audio", "video"} <= set(client.sinks), timeout=TIMEOUT)
            for kind in ("audio", "video"):
                await client.sinks[kind].wait_for(10, TIMEOUT)
        result["echo_frames"] = {kind: sink.count for kind, sink in client.sinks.items()}

        busy_client = PrecallClient()
        clients.append(busy_client)
        result["busy"] = await start_session(layer, box, busy_client, "p-2", "r-2")

        session_id = answer["session_id"]
        async with asyncio.timeout(TIMEOUT):
            while True:
                await layer.send(
                    "precall",
                    {
                        "type": "precall.report",
                        "reply_channel": box.name,
                        "session_id": session_id,
                        "owner": "p-1",
                        "ref": "r-3",
                    },
                )
                reply = await box.next()
                if reply["type"] == "precall.result" and reply["rtt_ms"] is not None:
                    result["report"] = reply
                    break
                await asyncio.sleep(0.2)

        await layer.send(
            "precall",
            {
                "type": "precall.report",
                "reply_channel": box.name,
                "session_id": session_id,
                "owner": "p-2",
            },
        )
        result["someone_elses_report"] = await box.next()

        await layer.send(
            "precall",
            {
                "type": "precall.stop",
                "reply_channel": box.name,
                "session_id": session_id,
                "owner": "p-1",
                "ref": "r-4",
            },
        )
        result["stopped"] = await box.next()
        await asyncio.wait_for(client.ended.wait(), TIMEOUT)
        result["client_state_after_stop"] = client.pc.connectionState

        # The time limit, through the worker: the person's socket hears precall.closed.
        timed = PrecallClient()
        clients.append(timed)
        timed_answer = await start_session(layer, box, timed, "p-5", "r-5")
        await timed.accept(timed_answer["sdp"])
        result["time_limited"] = await box.next(timeout=MAX_SECONDS + TIMEOUT)
        await asyncio.wait_for(timed.ended.wait(), TIMEOUT)

        # SIGTERM while a test runs: the worker closes it and exits cleanly.
        last = PrecallClient()
        clients.append(last)
        last_answer = await start_session(layer, box, last, "p-6", "r-6")
        await last.accept(last_answer["sdp"])
        await asyncio.wait_for(last.connected.wait(), TIMEOUT)
        worker.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(last.ended.wait(), TIMEOUT)
        result["exit_code"] = await asyncio.to_thread(worker.process.wait, TIMEOUT)
        result["client_state_after_sigterm"] = last.pc.connectionState
        result["worker_log"] = log_path.read_text()[-3000:]
        return result
    finally:
        await box.close()
        for client in clients:
            await client.close()
        worker.stop()
        redis.stop()
        log_dir.cleanup()


if __name__ == "__main__":
    scenario(main, deadline=180.0)
