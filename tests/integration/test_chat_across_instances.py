"""Chat through two real daphne instances on real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.client import WsClient

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


async def test_people_on_different_instances_chat(two_instances, open_room):
    web1, web2 = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    alice = await WsClient.open(web1.ws, room.pk, cookie=cookies[1])
    bob = await WsClient.open(web2.ws, room.pk, cookie=cookies[2])
    await alice.expect("welcome")
    await bob.expect("welcome")
    reply = await alice.request("chat.send", {"client_msg_id": "a-1", "body": "hello from web1"})
    assert reply["type"] == "ack"
    message = await bob.expect("chat.message")
    assert message["data"]["body"] == "hello from web1"
    back = await bob.request("chat.send", {"client_msg_id": "b-1", "body": "hello from web2"})
    assert back["data"]["seq"] == 2
    assert (await alice.expect("chat.message"))["data"]["seq"] == 1
    assert (await alice.expect("chat.message"))["data"]["body"] == "hello from web2"
    await alice.close()
    await bob.close()


async def test_concurrent_senders_on_both_instances_produce_a_gap_free_seq(
    two_instances, open_room
):
    room, cookies = open_room["room"], open_room["cookies"]
    servers = two_instances
    clients = [
        await WsClient.open(servers[n % 2].ws, room.pk, cookie=cookies[n + 1]) for n in range(4)
    ]
    for client in clients:
        await client.expect("welcome")

    async def send_many(client: WsClient, who: int) -> list[int]:
        seqs = []
        for n in range(20):
            reply = await client.request(
                "chat.send", {"client_msg_id": f"{who}-{n}", "body": f"{who}:{n}"}
            )
            assert reply["type"] == "ack", reply
            seqs.append(reply["data"]["seq"])
        return seqs

    results = await asyncio.gather(*(send_many(c, i) for i, c in enumerate(clients)))
    acked = sorted(seq for seqs in results for seq in seqs)
    assert acked == list(range(1, 81))
    for client in clients:
        for expected in range(1, 81):
            frame = await client.expect("chat.message", timeout=15)
            assert frame["data"]["seq"] == expected
    for client in clients:
        await client.close()


async def test_a_killed_instance_loses_no_acknowledged_message(two_instances, open_room):
    """Alice (web1) chats while web1 is SIGKILLed; she reconnects to web2 with after_seq and
    resends what was not acknowledged. Both she and Bob end with every acknowledged message
    exactly once, in order."""
    web1, web2 = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    alice = await WsClient.open(web1.ws, room.pk, cookie=cookies[1])
    bob = await WsClient.open(web2.ws, room.pk, cookie=cookies[2])
    await alice.expect("welcome")
    await bob.expect("welcome")

    acked: dict[str, int] = {}
    pending = [f"a-{n}" for n in range(30)]
    for n, msg_id in enumerate(list(pending)):
        if n == 12:
            web1.kill()
        try:
            reply = await alice.request(
                "chat.send", {"client_msg_id": msg_id, "body": msg_id}, timeout=3
            )
        except AssertionError:
            break
        if reply["type"] == "ack":
            acked[msg_id] = reply["data"]["seq"]
            pending.remove(msg_id)
    seen_by_alice = [f["data"]["seq"] for f in alice.all_of("chat.message")]
    assert await alice.wait_closed(timeout=10) is not None or alice.closed.is_set()

    last = max(seen_by_alice, default=0)
    alice = await WsClient.open(web2.ws, room.pk, cookie=cookies[1], after_seq=last)
    welcome = await alice.expect("welcome")
    seen_by_alice += [m["seq"] for m in welcome["data"]["chat"]["messages"]]
    for msg_id in pending:  # resend with the original ids: never lost, never doubled
        reply = await alice.request("chat.send", {"client_msg_id": msg_id, "body": msg_id})
        assert reply["type"] == "ack"
        acked[msg_id] = reply["data"]["seq"]
    await asyncio.sleep(0)
    total = len(acked)
    assert sorted(acked.values()) == list(range(1, total + 1))
    # Live events after the welcome complete Alice's view.
    while len(seen_by_alice) < total:
        seen_by_alice.append((await alice.expect("chat.message"))["data"]["seq"])
    assert seen_by_alice == list(range(1, total + 1))
    bob_seqs = []
    while len(bob_seqs) < total:
        bob_seqs.append((await bob.expect("chat.message"))["data"]["seq"])
    assert bob_seqs == list(range(1, total + 1))
    await alice.close()
    await bob.close()


async def test_a_client_that_stops_reading_does_not_delay_the_others(two_instances, open_room):
    web1, _ = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    stalled = await WsClient.open(web1.ws, room.pk, cookie=cookies[3], read=False)
    sender = await WsClient.open(web1.ws, room.pk, cookie=cookies[1])
    listener = await WsClient.open(web1.ws, room.pk, cookie=cookies[2])
    await sender.expect("welcome")
    await listener.expect("welcome")
    body = "x" * 3000  # fill the stalled socket's buffers quickly
    loop = asyncio.get_running_loop()
    delays = []
    for n in range(150):
        started = loop.time()
        reply = await sender.request("chat.send", {"client_msg_id": f"s-{n}", "body": body})
        assert reply["type"] == "ack"
        await listener.expect("chat.message")
        delays.append(loop.time() - started)
    # The stalled reader never read a byte, yet every round trip to the listener stayed quick.
    assert max(delays) < 2.0, max(delays)
    stalled.start_reading()
    await sender.close()
    await listener.close()
    await stalled.close()


async def test_an_idle_socket_on_redis_stays_open_for_over_a_minute(two_instances, open_room):
    web1, web2 = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    idle = await WsClient.open(web1.ws, room.pk, cookie=cookies[1])
    await idle.expect("welcome")
    await asyncio.sleep(65)  # the point of the test: a minute of silence on the Redis layer
    assert not idle.closed.is_set()
    other = await WsClient.open(web2.ws, room.pk, cookie=cookies[2])
    await other.expect("welcome")
    await other.request("chat.send", {"client_msg_id": "wake", "body": "still there?"})
    assert (await idle.expect("chat.message"))["data"]["body"] == "still there?"
    await idle.close()
    await other.close()


async def test_daphne_drops_a_connection_that_sends_more_than_its_128_kib_cap(
    two_instances, open_room
):
    web1, _ = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    client = await WsClient.open(web1.ws, room.pk, cookie=cookies[1])
    await client.expect("welcome")
    await client.connection.send("x" * (200 * 1024))
    # autobahn fails such a connection by dropping it: the client sees 1006 (or 1009).
    assert await client.wait_closed() in {1006, 1009}
    other = await WsClient.open(web1.ws, room.pk, cookie=cookies[2])
    assert (await other.expect("welcome"))["type"] == "welcome"  # the server is fine
    await other.close()
