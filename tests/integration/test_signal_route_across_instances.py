"""The route check of every relayed signal, as production runs it: two real daphne instances
whose check reads PostgreSQL on the event loop over their own async connection
(DATABASE_ASYNC_READS, on with a pool). The check answers per frame, so a participant moved out
of the room stops receiving at once, and a connection PostgreSQL dropped is replaced without the
sender seeing an error."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from tests.integration.client import WsClient
from tests.integration.conftest import server_env
from tests.servers import child_database_url, daphne_instances

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OFFER_SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
# The instances' PostgreSQL sessions carry this name, so the test can drop them and no other.
INSTANCE_APPLICATION = "hearth-route-test"


def offer_to(participant_id: str) -> dict[str, Any]:
    return {"to": participant_id, "description": {"type": "offer", "sdp": OFFER_SDP}}


async def enter(server: Any, room: Any, cookie: str) -> tuple[WsClient, str]:
    client = await WsClient.open(server.ws, room.pk, cookie=cookie)
    welcome = await client.expect("welcome")
    return client, welcome["data"]["you"]["id"]


@database_sync_to_async
def drop_the_instances_connections() -> int:
    """What a PostgreSQL restart does to the instances' connections."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [INSTANCE_APPLICATION],
        )
        return int(cursor.fetchone()[0])


async def test_a_signal_crosses_instances_and_a_stranger_is_refused(two_instances, open_room):
    web1, web2 = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    alice, alice_id = await enter(web1, room, cookies[1])
    bob, bob_id = await enter(web2, room, cookies[2])

    reply = await alice.request("signal.send", offer_to(bob_id))
    assert reply["type"] == "ack"
    relayed = await bob.expect("signal")
    assert relayed["data"]["from"] == alice_id
    assert relayed["data"]["description"]["sdp"] == OFFER_SDP

    unknown = await alice.request("signal.send", offer_to("p-999999999"))
    assert unknown["type"] == "error"
    assert unknown["error"]["code"] == "no_such_participant"
    assert not alice.closed.is_set()
    await alice.close()
    await bob.close()


async def test_someone_sent_back_to_the_lobby_gets_no_more_signals(two_instances, open_room):
    web1, web2 = two_instances
    room, cookies = open_room["room"], open_room["cookies"]
    therapist, _ = await enter(web1, room, cookies[0])
    alice, _alice_id = await enter(web1, room, cookies[1])
    bob, bob_id = await enter(web2, room, cookies[2])
    assert (await alice.request("signal.send", offer_to(bob_id)))["type"] == "ack"
    await bob.expect("signal")

    moved = await therapist.request("mod.return_to_lobby", {"participant": bob_id})
    assert moved["type"] == "ack", moved
    # The very next frame is checked against the database, not against what alice's instance
    # has heard so far.
    refused = await alice.request("signal.send", offer_to(bob_id))
    assert refused["type"] == "error"
    assert refused["error"]["code"] == "no_such_participant"
    await bob.expect("lobby.waiting")
    assert len(bob.all_of("signal")) == 1
    for client in (therapist, alice, bob):
        await client.close()


async def test_a_connection_postgresql_dropped_is_replaced_without_an_error(open_room):
    room, cookies = open_room["room"], open_room["cookies"]
    env = server_env(DATABASE_URL=f"{child_database_url()}?application_name={INSTANCE_APPLICATION}")
    with daphne_instances(2, env=env) as (web1, web2):
        alice, alice_id = await enter(web1, room, cookies[1])
        bob, bob_id = await enter(web2, room, cookies[2])
        # The instance's async connection exists once it has checked a route.
        assert (await alice.request("signal.send", offer_to(bob_id)))["type"] == "ack"
        await bob.expect("signal")

        assert await drop_the_instances_connections() >= 1

        reply = await alice.request("signal.send", offer_to(bob_id))
        assert reply["type"] == "ack", reply
        relayed = await bob.expect("signal")
        assert relayed["data"]["from"] == alice_id
        await alice.close()
        await bob.close()
