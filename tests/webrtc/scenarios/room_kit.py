"""What the scenarios that go through the real server share: the server side inside the
namespace (redis-server and daphne instances on PostgreSQL through its unix socket), Django set
up in the scenario process to issue websocket tickets, and `RoomEndpoint`, one participant's
aiortc side of a mesh room that signals only through the room websocket (docs/protocol.md,
"Signaling (WebRTC)").

The scenario's data (users, rooms, memberships) was committed by the test before the child
started; the child gets the test database's name and reaches it over the unix socket, the one
way into PostgreSQL from inside the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer
from websockets.exceptions import ConnectionClosed

from signaling.roles import is_polite
from tests.integration.client import WsClient
from tests.webrtc.media import wait_until
from tests.webrtc.netns import REPO_ROOT
from tests.webrtc.peer import MeshPeer
from tests.webrtc.servers import (
    DaphneServer,
    ManagedProcess,
    RedisServer,
    unix_socket_database_url,
)

TIMEOUT = 30.0


# --- Django in the scenario process ----------------------------------------------------------


def django_setup(database: str, *, redis_url: str = "") -> None:
    """Django against the test database over the unix socket (tickets are rows in it), and on
    the namespace's Redis if given (the machine's Redis is out of reach in the namespace)."""
    os.environ["DATABASE_URL"] = unix_socket_database_url(database)
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _issue_ticket(user_id: int, room_id: str) -> str:
    from django.db import connection

    from rooms import services
    from rooms.models import Room, User

    try:
        token, _expires = services.ticket_issue(
            user=User.objects.get(pk=user_id), room=Room.objects.get(pk=room_id)
        )
        return token
    finally:
        connection.close()


async def ticket_for(*, user_id: int, room_id: str) -> str:
    """A fresh single-use ticket (one per socket, valid 60 s)."""
    return await asyncio.to_thread(_issue_ticket, user_id, room_id)


# --- servers ---------------------------------------------------------------------------------


class Stack:
    """redis-server (optional) and `instances` daphne processes on one database, all inside the
    namespace. No STUN or TURN server is configured, so `welcome.ice.ice_servers` is empty and
    nothing is ever asked of a public server."""

    def __init__(
        self, *, database: str, instances: int, redis: bool | RedisServer, env: dict[str, str]
    ) -> None:
        self.database = database
        self.instances = instances
        self.use_redis = bool(redis)
        self.extra_env = env
        self.redis: RedisServer | None = redis if isinstance(redis, RedisServer) else None
        self.daphnes: list[DaphneServer] = []
        self.processes: list[ManagedProcess] = []
        self._dir = tempfile.TemporaryDirectory(prefix="hearth-webrtc-")
        self.log_dir = Path(self._dir.name)

    @property
    def env(self) -> dict[str, str]:
        from django.conf import settings

        return {
            "DATABASE_URL": unix_socket_database_url(self.database),
            "REDIS_URL": self.redis.url if self.redis else "",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STUN_URLS": "",
            "TURN_URLS": "",
            "TURN_SECRET": "",
            "LOG_LEVEL": "WARNING",
            "SIGNAL_RATE_PER_10S": "100000",
            "CHAT_RATE_PER_10S": "100000",
            "PYTHONPATH": str(REPO_ROOT),
            **self.extra_env,
        }

    async def start(self) -> Stack:
        if self.use_redis and self.redis is None:
            self.redis = await asyncio.to_thread(RedisServer)
        env = self.env
        self.daphnes = list(
            await asyncio.gather(
                *(
                    asyncio.to_thread(
                        DaphneServer, env=env, log_path=self.log_dir / f"daphne-{n}.log"
                    )
                    for n in range(self.instances)
                )
            )
        )
        return self

    async def start_process(
        self, name: str, argv: list[str], *, ready_text: str, env: dict[str, str] | None = None
    ) -> None:
        """Another process of the deployment (`manage.py precall_worker`), ready when its log
        says `ready_text`."""
        log_path = self.log_dir / f"{name}.log"
        log_path.touch()
        self.processes.append(
            await asyncio.to_thread(
                ManagedProcess,
                [sys.executable, *argv],
                ready=lambda: ready_text in log_path.read_text(errors="replace"),
                env={"DJANGO_SETTINGS_MODULE": "config.settings", **self.env, **(env or {})},
                log_path=log_path,
                ready_timeout=30.0,
            )
        )

    def ws(self, instance: int) -> str:
        return self.daphnes[instance % len(self.daphnes)].ws_url

    def logs(self, lines: int = 40) -> dict[str, str]:
        tails = {}
        for path in sorted(self.log_dir.glob("*.log")):
            tails[path.name] = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return tails

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        for daphne in self.daphnes:
            daphne.stop()
        if self.redis is not None:
            self.redis.stop()
        self._dir.cleanup()


# --- one participant -------------------------------------------------------------------------


class RoomSocket(WsClient):
    """The protocol-v1 client of the integration tests, with the frames that drive the mesh
    (`signal`, `participant.joined`) also queued in arrival order for the endpoint."""

    MESH_FRAMES = frozenset({"signal", "participant.joined"})

    def __init__(self, connection: Any, *, read: bool = True) -> None:
        self.mesh_frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        super().__init__(connection, read=read)

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                frame = json.loads(message)
                if frame.get("type") in self.MESH_FRAMES:
                    self.mesh_frames.put_nowait(frame)
                self.received.append(frame)
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.connection.close_code
            self.closed.set()
            self._arrived.set()

    def skip_received(self) -> None:
        """Later `expect` calls look only at frames that arrive from now on."""
        self._consumed.update(range(len(self.received)))

    def cut(self) -> None:
        """Drop the TCP connection with no closing handshake, as a lost network does."""
        self.connection.transport.abort()


class RoomEndpoint:
    """One participant: a room socket and a MeshPeer per other participant.

    Who offers (`offers`):
    - "everyone" (the default): on `welcome` it offers to everyone already in the room, as a
      browser's `negotiationneeded` does; when two people join at once both may offer, and
      perfect negotiation sorts it out (for aiortc at the price of a replaced connection);
    - "impolite": of each pair only the impolite side offers, when it first sees the other
      (in its `welcome` or a `participant.joined`), so offers never cross.
    Offers from people it does not know yet create their MeshPeer. After a reconnect, the
    `welcome` makes it restart every connection it already had (`restart: true`)."""

    def __init__(self, name: str, *, media: bool = True, offers: str = "everyone") -> None:
        if offers not in ("everyone", "impolite"):
            raise ValueError(f"offers must be 'everyone' or 'impolite', not {offers!r}")
        self.name = name
        self.media = media
        self.offers = offers
        self.me: str | None = None
        self.socket: RoomSocket | None = None
        self.sockets: list[RoomSocket] = []
        self.peers: dict[str, MeshPeer] = {}
        self.errors: list[str] = []
        self._ice_servers: list[RTCIceServer] = []
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # time.monotonic() of the latest `welcome` (bench/join_time.py splits a join there).
        self.welcomed_at: float | None = None

    # -- the socket ------------------------------------------------------------------------

    async def open(
        self, base: str, room_id: str, *, ticket: str, after_seq: int | None = None
    ) -> dict[str, Any]:
        """Open the room socket and return its first frame (`welcome` or `lobby.waiting`);
        a `welcome` is applied at once."""
        socket = await RoomSocket.open(base, room_id, ticket=ticket, after_seq=after_seq)
        self.socket = socket
        self.sockets.append(socket)
        first = await socket.expect(None, timeout=TIMEOUT)
        if first["type"] == "welcome":
            await self.enter(first)
        return first

    async def enter(self, welcome: dict[str, Any]) -> None:
        """Apply a `welcome`: connect to everyone in it, then handle signals from this socket."""
        assert self.socket is not None
        self.welcomed_at = time.monotonic()
        data = welcome["data"]
        self.me = data["you"]["id"]
        self._ice_servers = [
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in data["ice"]["ice_servers"]
        ]
        offers = []
        for participant in data["participants"]:
            other = participant["id"]
            if other == self.me:
                continue
            if other in self.peers:
                offers.append(self.peers[other].restart())
            elif self._offers_to(other):
                offers.append(self._peer(other).negotiate())
        # Tasks run in the order they are made: every offer is under way (making_offer set)
        # before the first signal from this socket is handled, so a crossing offer is seen as
        # a collision.
        for offer in offers:
            self._spawn(offer, what="offer")
        self._spawn(self._dispatch(self.socket), what="signals")

    def _offers_to(self, other: str) -> bool:
        assert self.me is not None
        return self.offers == "everyone" or not is_polite(me=self.me, peer=other)

    async def wait_welcome(self) -> None:
        """After `lobby.waiting`: wait for the admission's `welcome` and apply it."""
        assert self.socket is not None
        await self.enter(await self.socket.expect("welcome", timeout=TIMEOUT))

    def configuration(self) -> RTCConfiguration:
        return RTCConfiguration(iceServers=list(self._ice_servers))

    def _peer(self, other: str) -> MeshPeer:
        peer = self.peers.get(other)
        if peer is None:
            assert self.me is not None
            peer = MeshPeer(
                me=self.me,
                peer=other,
                send=self._send_signal,
                configuration=self.configuration,
                media=self.media,
            )
            self.peers[other] = peer
            self._queues[other] = asyncio.Queue()
            self._spawn(self._apply(other), what=f"apply {other}")
        return peer

    async def _send_signal(self, data: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send("signal.send", data)

    async def _dispatch(self, socket: RoomSocket) -> None:
        # Signals of one sender are applied in order; different senders do not wait for
        # each other (an answer takes an ICE gathering).
        while True:
            frame = await socket.mesh_frames.get()
            data = frame["data"]
            if frame["type"] == "signal":
                self._peer(data["from"])
                self._queues[data["from"]].put_nowait(data)
                continue
            other = data["participant"]["id"]
            new = other != self.me and other not in self.peers
            if self.offers == "impolite" and new and self._offers_to(other):
                self._spawn(self._peer(other).negotiate(), what="offer")

    async def _apply(self, other: str) -> None:
        queue = self._queues[other]
        while True:
            data = await queue.get()
            try:
                await self.peers[other].on_signal(data)
            except Exception as exc:  # noqa: BLE001 - reported by the scenario, not swallowed
                self.errors.append(f"{self.me} <- {other}: {exc!r}")

    def _spawn(self, coro: Any, *, what: str) -> None:
        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{self.name} {what}: {exc!r}")

        self._tasks.append(asyncio.get_running_loop().create_task(run()))

    def cut(self) -> None:
        """Lose the socket abruptly. The peer connections stay as they are."""
        assert self.socket is not None
        self.socket.cut()

    # -- results ---------------------------------------------------------------------------

    def frames_of(self, types: str | tuple[str, ...]) -> list[dict[str, Any]]:
        wanted = (types,) if isinstance(types, str) else types
        return [
            frame for socket in self.sockets for frame in socket.received if frame["type"] in wanted
        ]

    def socket_errors(self) -> list[dict[str, Any]]:
        return [frame["error"] for frame in self.frames_of("error")]

    async def wait_connected(self, others: list[str], *, timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            await wait_until(lambda: all(o in self.peers for o in others), timeout=timeout)
            for other in others:
                await self.peers[other].connected.wait()

    async def wait_media(self, others: list[str], *, frames: int, timeout: float = TIMEOUT) -> None:
        """Audio and video frames and the data-channel greeting from each of `others` (on
        their current connection)."""
        async with asyncio.timeout(timeout):
            for other in others:
                peer = self.peers[other]
                await wait_until(lambda p=peer: {"audio", "video"} <= set(p.sinks), timeout=timeout)
                for kind in ("audio", "video"):
                    await peer.sinks[kind].wait_for(frames, timeout)
                await peer.message_received.wait()

    def summary(self) -> dict[str, Any]:
        return {
            "me": self.me,
            "errors": self.errors,
            "socket_errors": self.socket_errors(),
            "peers": {
                other: {
                    "state": peer.pc.connectionState,
                    "polite": peer.polite,
                    "frames": {kind: sink.count for kind, sink in peer.sinks.items()},
                    "messages": peer.messages,
                    "rollbacks": peer.rollbacks,
                    "ignored_offers": peer.ignored_offers,
                    "restarts": peer.restarts,
                    "restart_offers_received": peer.restart_offers_received,
                    "pair": peer.selected_pair(),
                }
                for other, peer in sorted(self.peers.items())
            },
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for peer in self.peers.values():
            await peer.close()
        for socket in self.sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), 5)


async def close_all(endpoints: list[RoomEndpoint]) -> None:
    await asyncio.gather(*(endpoint.close() for endpoint in endpoints), return_exceptions=True)


def parse_spec(args: list[str]) -> dict[str, Any]:
    """The scenario's one argument: JSON written by the test (database, room, people)."""
    return dict(json.loads(args[0]))
