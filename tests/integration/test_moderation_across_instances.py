"""Moderation through two real daphne instances on real Redis and PostgreSQL: a mute follows
the person to the other instance, two moderators acting at once on two instances produce one
outcome, a removal closes sockets on both instances within a second, and the people a killed
instance held are shown as gone (issue 5, items 5, 6 and 11)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from tests.integration.client import WsClient
from tests.integration.conftest import cookie_for, server_env
from tests.realtime.moderation_kit import Cast, make_cast
from tests.servers import DaphneServer, daphne_instances

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Presence is announced within PRESENCE_TIMEOUT_SECONDS plus one heartbeat: 3 + 1 s here
# (production: 45 + 15 s, under a minute).
FAST_PRESENCE = {"PRESENCE_HEARTBEAT_SECONDS": "1", "PRESENCE_TIMEOUT_SECONDS": "3"}


@pytest.fixture
def web(transactional_db) -> Iterator[list[DaphneServer]]:
    with daphne_instances(2, env=server_env(**FAST_PRESENCE)) as servers:
        yield servers


@pytest.fixture
def open_cast(transactional_db) -> Cast:
    return make_cast(waiting_room=False)


@pytest.fixture
def lobby_cast(transactional_db) -> Cast:
    return make_cast(waiting_room=True, name="Wednesday group")


class People:
    """Sockets opened by the test, each signed in with its person's session cookie."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self.cookies: dict[int, str] = {}
        self.clients: list[WsClient] = []

    async def open(self, server: DaphneServer, user: Any) -> WsClient:
        if user.pk not in self.cookies:
            self.cookies[user.pk] = await database_sync_to_async(cookie_for)(user)
        client = await WsClient.open(server.ws, self.cast.room.pk, cookie=self.cookies[user.pk])
        self.clients.append(client)
        return client

    async def enter(self, server: DaphneServer, user: Any) -> tuple[WsClient, dict[str, Any]]:
        client = await self.open(server, user)
        first = await client.expect(None)
        assert first["type"] == "welcome", first
        return client, first["data"]

    async def close_all(self) -> None:
        for client in self.clients:
            if not client.closed.is_set():
                await client.close()


@pytest.fixture
async def open_people(open_cast: Cast):
    people = People(open_cast)
    yield people
    await people.close_all()


@pytest.fixture
async def lobby_people(lobby_cast: Cast):
    people = People(lobby_cast)
    yield people
    await people.close_all()


def about(frames: list[dict[str, Any]], type_: str, participant_id: str) -> list[dict[str, Any]]:
    """The frames of `type_` about one participant."""
    found = []
    for frame in frames:
        if frame["type"] != type_:
            continue
        subject = frame["data"].get("participant", frame["data"].get("target"))
        if isinstance(subject, dict):
            subject = subject["id"]
        if subject == participant_id:
            found.append(frame)
    return found


async def wait_for(client: WsClient, type_: str, participant_id: str, timeout: float = 10):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await client.expect(type_, timeout=max(0.01, deadline - loop.time()))
        if about([frame], type_, participant_id):
            return frame


async def wait_listed(moderator: WsClient, participant_id: str) -> None:
    """Until the moderator's lobby lists the person."""
    while True:
        lobby = (await moderator.expect("lobby.updated"))["data"]["lobby"]
        if participant_id in [entry["id"] for entry in lobby]:
            return


async def test_a_muted_person_who_reconnects_to_the_other_instance_is_still_muted(
    web, open_cast, open_people
):
    web1, web2 = web
    cast, people = open_cast, open_people
    jordan_id = cast.pid(cast.jordan)
    dana, _ = await people.enter(web1, cast.dana)
    jordan, _ = await people.enter(web1, cast.jordan)
    await wait_for(dana, "participant.joined", jordan_id)
    reply = await dana.request("mod.mute", {"participant": jordan_id, "audio": True, "chat": True})
    assert reply["type"] == "ack"
    await wait_for(jordan, "participant.updated", jordan_id)
    await jordan.close()
    await wait_for(dana, "participant.left", jordan_id)

    jordan, welcome = await people.enter(web2, cast.jordan)
    assert welcome["you"]["imposed"] == {"audio": True, "video": False, "chat": True}
    assert welcome["you"]["audio"] is False
    joined = await wait_for(dana, "participant.joined", jordan_id)
    assert joined["data"]["participant"]["imposed"]["audio"] is True
    refused = await jordan.request("media.set", {"audio": True})
    assert refused["error"]["code"] == "muted_by_moderator"
    refused = await jordan.request("chat.send", {"client_msg_id": "j-1", "body": "can you hear?"})
    assert refused["error"]["code"] == "chat_muted"


async def test_admit_and_deny_at_once_from_two_instances_end_in_one_outcome_everyone_sees(
    web, lobby_cast, lobby_people
):
    web1, web2 = web
    cast, people = lobby_cast, lobby_people
    dana, _ = await people.enter(web1, cast.dana)
    fran, _ = await people.enter(web2, cast.fran)
    alex = await people.open(web2, cast.alex)
    assert (await alex.expect(None))["type"] == "lobby.waiting"
    await dana.request("mod.admit", {"participant": cast.pid(cast.alex)})
    await alex.expect("welcome")

    for knocker, server in ((cast.jordan, web1), (cast.riley, web2)):
        target = cast.pid(knocker)
        person = await people.open(server, knocker)
        assert (await person.expect(None))["type"] == "lobby.waiting"
        for moderator in (dana, fran):
            await wait_listed(moderator, target)
        admit, deny = await asyncio.gather(
            dana.request("mod.admit", {"participant": target}),
            fran.request("mod.deny", {"participant": target}),
        )
        replies = sorted([admit["type"], deny["type"]])
        assert replies == ["ack", "error"], (admit, deny)
        loser = deny if admit["type"] == "ack" else admit
        assert loser["error"]["code"] == "not_waiting"
        admitted = admit["type"] == "ack"

        if admitted:
            await person.expect("welcome")
        else:
            assert await person.wait_closed() == 4411
        # Each moderator's socket publishes its action's events before it handles its next
        # frame, and Redis keeps one publisher's order: once every watcher has both markers,
        # every event of both actions has reached them.
        markers: set[str] = set()
        for name, moderator in (("dana", dana), ("fran", fran)):
            marker = f"{target}-after-{name}"
            reply = await moderator.request("chat.send", {"client_msg_id": marker, "body": marker})
            assert reply["type"] == "ack", reply
            markers.add(marker)
        for watcher in [dana, fran, alex] + ([person] if admitted else []):
            seen: set[str] = set()
            while seen != markers:
                body = (await watcher.expect("chat.message"))["data"]["body"]
                seen |= {body} & markers

        assert len(about(alex.received, "participant.joined", target)) == (1 if admitted else 0)
        if admitted:
            assert len(person.all_of("welcome")) == 1
            assert not person.closed.is_set()
        else:
            assert [f["type"] for f in person.all_of("removed")] == ["removed"]
            assert person.all_of("removed")[0]["data"]["reason"] == "denied"
            assert person.all_of("welcome") == []
        for moderator in (dana, fran):
            told = about(moderator.all_of("moderation"), "moderation", target)
            assert [f["data"]["action"] for f in told] == ["admit" if admitted else "deny"]
            last_lobby = moderator.all_of("lobby.updated")[-1]["data"]["lobby"]
            assert target not in [entry["id"] for entry in last_lobby]


async def test_remove_closes_the_persons_sockets_on_both_instances_within_a_second(
    web, open_cast, open_people
):
    web1, web2 = web
    cast, people = open_cast, open_people
    jordan_id = cast.pid(cast.jordan)
    dana, _ = await people.enter(web2, cast.dana)
    alex, _ = await people.enter(web1, cast.alex)
    on_web1, _ = await people.enter(web1, cast.jordan)
    on_web2, _ = await people.enter(web2, cast.jordan)
    await wait_for(alex, "participant.joined", jordan_id)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await dana.send("mod.remove", {"participant": jordan_id})
    codes = await asyncio.gather(on_web1.wait_closed(timeout=1), on_web2.wait_closed(timeout=1))
    assert loop.time() - started < 1.0
    assert codes == [4412, 4412]
    for device in (on_web1, on_web2):
        assert device.received[-1]["type"] == "removed"
        assert device.received[-1]["data"]["reason"] == "removed"
    await wait_for(alex, "participant.left", jordan_id)


async def test_the_people_a_killed_instance_held_are_shown_as_gone(web, open_cast, open_people):
    web1, web2 = web
    cast, people = open_cast, open_people
    jordan_id = cast.pid(cast.jordan)
    dana, _ = await people.enter(web2, cast.dana)
    alex, _ = await people.enter(web2, cast.alex)
    jordan, _ = await people.enter(web1, cast.jordan)
    await wait_for(alex, "participant.joined", jordan_id)

    loop = asyncio.get_running_loop()
    started = loop.time()
    web1.kill()
    for watcher in (alex, dana):
        await wait_for(watcher, "participant.left", jordan_id, timeout=10)
    assert loop.time() - started < 10
    await jordan.wait_closed(timeout=5)  # and Jordan's own connection dropped
