"""A family session end to end (issue 4, item 5): the therapist, the client and two family homes
join one room at the same moment through two daphne instances on one Redis, and build the mesh
by signaling only through the room websocket.

Argument: JSON {"database", "room", "people": [{"name", "user_id", "instance"}]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.webrtc.child import scenario
from tests.webrtc.scenarios.room_kit import (
    RoomEndpoint,
    Stack,
    close_all,
    django_setup,
    parse_spec,
    ticket_for,
)

FRAMES = 10
TIMEOUT = 60.0


async def main(args: list[str]) -> dict[str, Any]:
    spec = parse_spec(args)
    django_setup(spec["database"])
    stack = Stack(database=spec["database"], instances=2, redis=True, env={})
    endpoints: list[RoomEndpoint] = []
    try:
        await stack.start()
        people = spec["people"]
        tickets = [
            await ticket_for(user_id=person["user_id"], room_id=spec["room"]) for person in people
        ]
        endpoints = [RoomEndpoint(person["name"]) for person in people]
        first_frames = await asyncio.gather(
            *(
                endpoint.open(stack.ws(person["instance"]), spec["room"], ticket=ticket)
                for endpoint, person, ticket in zip(endpoints, people, tickets, strict=True)
            )
        )
        ids = [endpoint.me for endpoint in endpoints]

        def others(endpoint: RoomEndpoint) -> list[str]:
            return [other for other in ids if other is not None and other != endpoint.me]

        await asyncio.gather(
            *(endpoint.wait_connected(others(endpoint), timeout=TIMEOUT) for endpoint in endpoints)
        )
        await asyncio.gather(
            *(
                endpoint.wait_media(others(endpoint), frames=FRAMES, timeout=TIMEOUT)
                for endpoint in endpoints
            )
        )
        return {
            "first_frames": [
                {
                    "type": frame["type"],
                    "you": frame["data"]["you"]["id"],
                    "role": frame["data"]["you"]["role"],
                    "ice": frame["data"]["ice"],
                }
                for frame in first_frames
            ],
            "instances": [stack.ws(person["instance"]) for person in people],
            "endpoints": {endpoint.name: endpoint.summary() for endpoint in endpoints},
        }
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
