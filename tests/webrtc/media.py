"""Small synthetic media for test peers, and sinks that count what arrives.

Frames are tiny (160x120 video, 20 ms audio) so several encoders fit on a 2-core machine
shared with other test runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

VIDEO_WIDTH = 160
VIDEO_HEIGHT = 120


class SmallVideoTrack(VideoStreamTrack):
    """160x120 frames paced at 30 fps by aiortc's own clock; the luma changes every frame so
    the encoder sends real (inter) frames, not only a repeated picture."""

    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=VIDEO_WIDTH, height=VIDEO_HEIGHT, format="yuv420p")
        luma = frame.planes[0]
        luma.update(bytes([(self._n * 7) % 256]) * luma.buffer_size)
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        self._n += 1
        frame.pts = pts
        frame.time_base = time_base
        return frame


def local_tracks() -> list[MediaStreamTrack]:
    """A fresh microphone (silence) and camera for one peer connection."""
    return [AudioStreamTrack(), SmallVideoTrack()]


class FrameSink:
    """Reads a remote track until it ends or is stopped; `wait_for(n)` waits for n frames."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.kind = track.kind
        self.count = 0
        self._track = track
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await self._track.recv()
                self.count += 1
                async with self._changed:
                    self._changed.notify_all()

    async def wait_for(self, frames: int, timeout: float) -> int:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.count >= frames or self._task.done())
        return self.count

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
            await self._task


async def wait_until(predicate: Any, *, timeout: float, interval: float = 0.02) -> None:
    """Poll a cheap condition with a deadline, for state aiortc exposes without an event."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)
