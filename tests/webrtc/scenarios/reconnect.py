"""Reconnection (issue 4, item 4): three people in a call, one loses their websocket (the TCP
connection is dropped with no closing handshake) and comes back with a new ticket and
`?after_seq`, on the other daphne instance.

The room has its waiting room on, so the first entry needs the therapist's `mod.admit`; the
way back in must not (the lease readmits at once). The others hear `participant.left` and then
`participant.joined`; the person who came back restarts ICE towards everyone in the `welcome`
(`signal.send` with `restart: true`) and media flows on the restarted connections.

aiortc cannot restart ICE on a live connection, so here both sides of a restarted pair replace
their RTCPeerConnection (tests/webrtc/peer.py). The browser client (frontend/.../call.js) calls
`pc.restartIce()` instead (and sends no `restart` hint), from `Mesh.sync` on the `welcome`, for
every connection that is not connected, or when ICE fails; the people who stayed drop their
connection on `participant.left` and open a fresh one on `participant.joined`.

Argument: JSON {"database", "room", "people": [{"name", "user_id", "instance"}]}; the first
person is the therapist, the second the one whose socket is cut.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.webrtc.child import scenario
from tests.webrtc.scenarios.room_kit import (
    TIMEOUT,
    RoomEndpoint,
    Stack,
    close_all,
    django_setup,
    parse_spec,
    ticket_for,
)

FRAMES = 10


async def main(args: list[str]) -> dict[str, Any]:
    spec = parse_spec(args)
    django_setup(spec["database"])
    room = spec["room"]
    stack = Stack(database=spec["database"], instances=2, redis=True, env={})
    endpoints: list[RoomEndpoint] = []
    result: dict[str, Any] = {}
    try:
        await stack.start()
        people = spec["people"]
        endpoints = [RoomEndpoint(person["name"]) for person in people]
        therapist, dropper, stayer = endpoints

        async def open_first(endpoint: RoomEndpoint, person: dict[str, Any]) -> dict[str, Any]:
            ticket = await ticket_for(user_id=person["user_id"], room_id=room)
            return await endpoint.open(stack.ws(person["instance"]), room, ticket=ticket)

        # The first entry: the therapist goes in, the other two wait and are admitted.
        result["first_entry"] = [(await open_first(therapist, people[0]))["type"]]
        for endpoint, person in zip(endpoints[1:], people[1:], strict=True):
            waiting = await open_first(endpoint, person)
            result["first_entry"].append(waiting["type"])
            assert therapist.socket is not None
            admit = await therapist.socket.request(
                "mod.admit", {"participant": waiting["data"]["you"]["id"]}
            )
            assert admit["type"] == "ack", admit
            await endpoint.wait_welcome()
        ids = {endpoint.name: endpoint.me for endpoint in endpoints}

        def others(endpoint: RoomEndpoint) -> list[str]:
            return [i for i in ids.values() if i is not None and i != endpoint.me]

        await asyncio.gather(*(e.wait_connected(others(e)) for e in endpoints))
        await asyncio.gather(*(e.wait_media(others(e), frames=FRAMES) for e in endpoints))

        # A chat message the person sees before the drop, and one sent while they are away.
        assert therapist.socket is not None
        before = await therapist.socket.request(
            "chat.send", {"client_msg_id": "before-drop", "body": "Can everyone hear me?"}
        )
        assert dropper.socket is not None
        seen = await dropper.socket.expect("chat.message")
        last_seq = seen["data"]["seq"]

        # The drop: no closing handshake, the peer connections are left as they are.
        lobby_frames_before = len(therapist.frames_of("lobby.updated"))
        assert stayer.socket is not None
        therapist.socket.skip_received()
        stayer.socket.skip_received()
        dropper.cut()
        left = await therapist.socket.expect("participant.left", timeout=TIMEOUT)
        stayer_left = await stayer.socket.expect("participant.left", timeout=TIMEOUT)
        away = await therapist.socket.request(
            "chat.send", {"client_msg_id": "while-away", "body": "We will wait for you."}
        )

        # Back, on the other instance, with a new ticket and the last seq it has.
        back_instance = (people[1]["instance"] + 1) % 2
        ticket = await ticket_for(user_id=people[1]["user_id"], room_id=room)
        returned = await dropper.open(
            stack.ws(back_instance), room, ticket=ticket, after_seq=last_seq
        )
        joined = await therapist.socket.expect("participant.joined", timeout=TIMEOUT)
        stayer_joined = await stayer.socket.expect("participant.joined", timeout=TIMEOUT)

        await asyncio.gather(*(e.wait_connected(others(e)) for e in endpoints))
        # Frames counted from here on are on the restarted connections (the replaced ones'
        # sinks were stopped), so reaching FRAMES again means media resumed.
        await asyncio.gather(*(e.wait_media(others(e), frames=FRAMES) for e in endpoints))

        result.update(
            ids=ids,
            chat_before=before,
            chat_away=away,
            last_seq_before_drop=last_seq,
            dropped_close_code=dropper.sockets[0].close_code,
            left=[left["data"], stayer_left["data"]],
            returned={
                "type": returned["type"],
                "you": returned["data"]["you"],
                "chat": [m["body"] for m in returned["data"]["chat"]["messages"]],
                "participants": [p["id"] for p in returned["data"]["participants"]],
            },
            instances={"first": stack.ws(people[1]["instance"]), "back": stack.ws(back_instance)},
            joined=[joined["data"]["participant"], stayer_joined["data"]["participant"]],
            therapist_events_after_drop=[
                frame["type"]
                for frame in therapist.sockets[0].received
                if frame["type"].startswith(("participant.", "lobby."))
            ],
            lobby_updates_after_drop=therapist.frames_of("lobby.updated")[lobby_frames_before:],
            returned_frames=[frame["type"] for frame in dropper.sockets[1].received],
            endpoints={endpoint.name: endpoint.summary() for endpoint in endpoints},
        )
        return result
    except BaseException:
        sys.stderr.write(json.dumps(stack.logs(), indent=1) + "\n")
        sys.stderr.write(
            json.dumps({e.name: e.summary() for e in endpoints}, indent=1, default=str) + "\n"
        )
        raise
    finally:
        await close_all(endpoints)
        stack.stop()


if __name__ == "__main__":
    scenario(main, deadline=150.0)
