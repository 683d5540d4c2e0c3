"""Outages: PostgreSQL unreachable, Redis restarted mid-session. Capacity is lost while they
last; nothing acknowledged is lost, nothing crash-loops, and it all comes back by itself."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.exceptions import ConnectionClosed

from tests.integration.client import WsClient
from tests.integration.conftest import server_env
from tests.servers import DaphneServer, RedisServer, TcpProxy, child_database_url, http_get

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres_proxy(transactional_db):
    params = connection.settings_dict
    proxy = TcpProxy(
        target_host=params.get("HOST") or "127.0.0.1", target_port=int(params.get("PORT") or 5432)
    )
    yield proxy
    proxy.close()


async def test_with_postgresql_unreachable_chat_send_gets_unavailable_and_the_socket_stays_open(
    postgres_proxy, open_room
):
    room, cookies = open_room["room"], open_room["cookies"]
    server = DaphneServer(
        env=server_env(
            DATABASE_URL=child_database_url(host="127.0.0.1", port=postgres_proxy.port),
            DATABASE_CONNECT_TIMEOUT="1",
        )
    )
    await sync_to_async(server.start)()
    try:
        client = await WsClient.open(server.ws, room.pk, cookie=cookies[1])
        await client.expect("welcome")
        assert (await client.request("chat.send", {"client_msg_id": "before", "body": "before"}))[
            "type"
        ] == "ack"

        postgres_proxy.cut()
        reply = await client.request("chat.send", {"client_msg_id": "during", "body": "during"})
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "unavailable"
        assert (await client.request("ping"))["type"] == "pong"  # still open
        status, body = await sync_to_async(http_get)(f"{server.http}/readyz")
        assert status == 503
        assert body["database"].startswith("error")
        assert (await sync_to_async(http_get)(f"{server.http}/healthz"))[0] == 200

        postgres_proxy.restore()
        # The instance's connection pool reconnects with backoff; until it has, a send is still
        # refused as `unavailable` (and stored nowhere), so the client resends with the same
        # client_msg_id, as the browser's outbox does.
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            reply = await client.request("chat.send", {"client_msg_id": "during", "body": "during"})
            if reply["type"] == "ack" or asyncio.get_running_loop().time() > deadline:
                break
            assert reply["error"]["code"] == "unavailable", reply
            await asyncio.sleep(0.5)  # the client's own retry backoff
        assert reply["type"] == "ack", reply
        assert reply["data"]["seq"] == 2  # the refused send was never stored: no gap, no double
        assert (await sync_to_async(http_get)(f"{server.http}/readyz"))[0] == 200
        await client.close()
    finally:
        await sync_to_async(server.stop)()


async def test_a_redis_restart_closes_sockets_with_a_retryable_code_and_they_come_back(open_room):
    room, cookies = open_room["room"], open_room["cookies"]
    redis_server = await sync_to_async(RedisServer().start)()
    server = DaphneServer(env=server_env(REDIS_URL=redis_server.url))
    await sync_to_async(server.start)()
    try:
        alice = await WsClient.open(server.ws, room.pk, cookie=cookies[1])
        bob = await WsClient.open(server.ws, room.pk, cookie=cookies[2])
        await alice.expect("welcome")
        await bob.expect("welcome")
        first = await alice.request("chat.send", {"client_msg_id": "a-1", "body": "one"})
        assert first["data"]["seq"] == 1
        await bob.expect("chat.message")

        await sync_to_async(redis_server.kill)()
        # Losing Redis loses the fan-out: every socket closes with 4503 "try again later"
        # (right away when the instance notices, or after a send whose fan-out failed). A send
        # that was acknowledged is stored: PostgreSQL is the source of truth.
        acked_during_outage = False
        if not alice.closed.is_set():
            try:
                reply = await alice.request(
                    "chat.send", {"client_msg_id": "a-2", "body": "two"}, timeout=5
                )
                acked_during_outage = reply["type"] == "ack"
            except (AssertionError, ConnectionClosed):
                pass  # closed before or while sending, or before answering: resent below
        assert await alice.wait_closed() == 4503, server.read_log()[-3000:]
        assert await bob.wait_closed() == 4503
        status, body = await sync_to_async(http_get)(f"{server.http}/readyz")
        assert status == 503
        assert body["redis"].startswith("error")
        assert (await sync_to_async(http_get)(f"{server.http}/healthz"))[0] == 200
        # Reconnecting while Redis is down is refused with the same retryable code, cleanly.
        # (The close can come while the client library is still finishing its handshake.)
        try:
            retry = await WsClient.open(server.ws, room.pk, cookie=cookies[1], after_seq=1)
            refused_with = await retry.wait_closed()
        except ConnectionClosed as closed:
            refused_with = closed.rcvd.code if closed.rcvd else None
        assert refused_with == 4503

        await sync_to_async(redis_server.start)()  # same port: Redis is back, empty
        alice = await WsClient.open(server.ws, room.pk, cookie=cookies[1], after_seq=1)
        welcome = await alice.expect("welcome")
        resent = await alice.request("chat.send", {"client_msg_id": "a-2", "body": "two"})
        # Never lost, never doubled: the resend gets seq 2 whether or not the first attempt was
        # stored before the socket closed (it may have been committed without its ack arriving).
        assert resent["data"]["seq"] == 2
        if acked_during_outage:
            assert resent["data"]["created"] is False
            assert [m["body"] for m in welcome["data"]["chat"]["messages"]] == ["two"]
        bob_back = await WsClient.open(server.ws, room.pk, cookie=cookies[2], after_seq=1)
        assert [
            m["seq"] for m in (await bob_back.expect("welcome"))["data"]["chat"]["messages"]
        ] == [2]
        third = await alice.request("chat.send", {"client_msg_id": "a-3", "body": "three"})
        assert third["data"]["seq"] == 3
        assert (await bob_back.expect("chat.message"))["data"]["body"] == "three"
        assert (await sync_to_async(http_get)(f"{server.http}/readyz"))[0] == 200
        # No consumer crashed (daphne logs "Exception inside application" and sends 1011).
        assert "Exception inside application" not in server.read_log(), server.read_log()[-3000:]
        for client in (alice, bob, bob_back):
            if not client.closed.is_set():
                await client.close()
        await asyncio.sleep(0)
    finally:
        await sync_to_async(server.stop)()
        await sync_to_async(redis_server.stop)()
