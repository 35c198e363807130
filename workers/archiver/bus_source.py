"""The in-process source: follows each channel of a bus in this process (the embedded default).

The in-memory bus numbers every channel from 1 again each time the process starts,
so each ``BusSource`` is an epoch of its own, and following resumes after the highest
seq already archived in it (when the archiver restarts inside the same process).
Nothing needs acknowledging: the bus lives and dies with this process. A bounded
buffer holds what the followers read; while the archive cannot be written it fills and
the followers wait, so the bus keeps the rest (up to its own bound; what it trims
before the archiver reads it is reported as lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Callable, Sequence

from companion.bus.base import Bus
from workers.archiver.archiver import Delivery

QUEUE_LIMIT = 10_000
WAIT_SECONDS = 1.0


class BusSource:
    """Delivers every event of ``channels`` from ``bus``, in order per channel."""

    def __init__(self, bus: Bus, channels: Sequence[str], epoch: str | None = None) -> None:
        self.bus = bus
        self.channels = tuple(channels)
        self.epoch = epoch or f"run{uuid.uuid4().hex[:12]}"
        self._buffer: deque[Delivery] = deque()  # cheaper than a Queue: no future per item
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._read: dict[str, int] = {}

    async def start(self, stored: Callable[[str, str], int]) -> None:
        for channel in self.channels:
            after = stored(channel, self.epoch)
            self._read[channel] = after
            self._tasks.append(
                asyncio.create_task(self._follow(channel, after), name=f"archive-{channel}")
            )

    async def _follow(self, channel: str, after: int) -> None:
        async for event in self.bus.follow(channel, after):
            while len(self._buffer) >= QUEUE_LIMIT:  # the archive is behind: wait for room
                self._room.clear()
                await self._room.wait()
            self._buffer.append(Delivery(channel, event.seq, self.epoch, event))
            self._read[channel] = event.seq
            self._ready.set()

    async def batch(self, limit: int) -> list[Delivery]:
        if not self._buffer:
            self._ready.clear()
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    await self._ready.wait()
            except TimeoutError:
                return []
        count = min(limit, len(self._buffer))
        out = [self._buffer.popleft() for _ in range(count)]
        self._room.set()
        return out

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Nothing to acknowledge on a bus of this process."""

    async def caught_up(self) -> bool:
        if self._buffer:
            return False
        for channel in self.channels:
            if await self.bus.read(channel, self._read.get(channel, 0), limit=1):
                return False
        return True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
