"""The pre-call test the way a browser runs it: `precall.offer`, `precall.report` and
`precall.stop` frames over the room websocket of a real daphne, and an aiortc client that
plays the person's camera, microphone and data channel.

Modes (the "mode" of the JSON argument):
- "in_process": the embedded default (PRECALL_IN_PROCESS=1): daphne hosts the test peer itself.
  With "redis": true the instance is on the Redis layer, as several embedded instances are.
- "worker": production (PRECALL_IN_PROCESS=0): `manage.py precall_worker` is its own process on
  the namespace's Redis, and daphne only relays frames to it.

Argument: JSON {"database", "room", "user_id", "mode", "redis"?}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.webrtc.child import scenario
from tests.webrtc.media import wait_until
from tests.webrtc.netns import REPO_ROOT
from tests.webrtc.peer import PrecallClient
from tests.webrtc.scenarios.precall_worker import wait_for_worker
from tests.webrtc.scenarios.room_kit import (
    TIMEOUT,
    RoomSocket,
    Stack,
    django_setup,
    parse_spec,
    ticket_for,
)
from tests.webrtc.servers import RedisServer

FRAMES = 10
WORKER_READY = "Pre-call worker on channel 'precall'"


async def precall_over_socket(socket: RoomSocket) -> dict[str, Any]:
    client = PrecallClient()
    try:
        offer_ref = await socket.send("precall.offer", {"sdp": await client.offer()})
        answer = await socket.expect(None, ref=offer_ref, timeout=TIMEOUT)
        if answer["type"] != "precall.answer":
            return {"answer": answer}
        await client.accept(answer["data"]["sdp"])
        async with asyncio.timeout(TIMEOUT):
            await client.connected.wait()
            await wait_until(lambda: {"audio", "video"} <= set(client.sinks), timeout=TIMEOUT)
            for kind in ("audio", "video"):
                await client.sinks[kind].wait_for(FRAMES, TIMEOUT)
            client.ping(4242.5)
            await client.pong_received.wait()
            await wait_until(lambda: client.pings_answered >= 1, timeout=TIMEOUT)

        # The report, once the test peer has measured a round trip ("not ready" until then).
        not_ready = 0
        async with asyncio.timeout(TIMEOUT):
            while True:
                reply = await socket.request("precall.report", timeout=TIMEOUT)
                if reply["type"] == "precall.result" and reply["data"]["rtt_ms"] is not None:
                    break
                if reply["type"] == "error" and reply["error"]["code"] == "precall_not_ready":
                    not_ready += 1
                elif reply["type"] != "precall.result":
                    return {"answer": answer, "report_failure": reply}
                await asyncio.sleep(0.2)
        stopped = await socket.request("precall.stop", timeout=TIMEOUT)
        await asyncio.wait_for(client.ended.wait(), TIMEOUT)
        after_stop = await socket.request("precall.report", timeout=TIMEOUT)
        return {
            "answer": {
                "type": answer["type"],
                "session_id": answer["data"]["session_id"],
                "max_seconds": answer["data"]["max_seconds"],
                "has_candidates": "a=candidate:" in answer["data"]["sdp"],
            },
            "echo_frames": {kind: sink.count for kind, sink in client.sinks.items()},
            "pongs": client.pongs,
            "server_pings_answered": client.pings_answered,
            "not_ready_replies": not_ready,
            "result": reply,
            "stopped": stopped,
            "client_state_after_stop": client.pc.connectionState,
            "report_after_stop": after_stop,
        }
    finally:
        await client.close()


async def main(args: list[str]) -> dict[str, Any]:
    spec = parse_spec(args)
    mode = spec["mode"]
    worker = mode == "worker"
    redis: RedisServer | bool = False
    if worker or spec.get("redis"):
        redis = await asyncio.to_thread(RedisServer)
    django_setup(spec["database"], redis_url=redis.url if isinstance(redis, RedisServer) else "")
    stack = Stack(
        database=spec["database"],
        instances=1,
        redis=redis,
        env={"PRECALL_IN_PROCESS": "0" if worker else "1"},
    )
    socket: RoomSocket | None = None
    try:
        await stack.start()
        result: dict[str, Any] = {"mode": mode}
        if worker:
            await stack.start_process(
                "precall-worker",
                [str(REPO_ROOT / "manage.py"), "precall_worker"],
                ready_text=WORKER_READY,
                env={"LOG_LEVEL": "INFO"},
            )
            from channels.layers import get_channel_layer

            # The pub/sub layer drops what is sent before the worker subscribed.
            result["worker_status"] = await wait_for_worker(get_channel_layer())
        ticket = await ticket_for(user_id=spec["user_id"], room_id=spec["room"])
        socket = await RoomSocket.open(stack.ws(0), spec["room"], ticket=ticket)
        first = await socket.expect(None, timeout=TIMEOUT)
        result["first_frame"] = first["type"]
        result["precall"] = await precall_over_socket(socket)
        result["socket_frames"] = [frame["type"] for frame in socket.received]
        result["logs"] = stack.logs(lines=200)
        return result
    except BaseException:
        sys.stderr.write(json.dumps(stack.logs(), indent=1) + "\n")
        raise
    finally:
        if socket is not None:
            await socket.close()
        stack.stop()


if __name__ == "__main__":
    scenario(main, deadline=150.0)
