"""What is true now, as the fault drill reads it: the channel's stream in Redis, the
archive on disk, the workers' reports in the event state and the replicas' ``/readyz``;
and ``timed``, which polls one of them until it holds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from companion.bus.redis import RedisBus
from companion.captions import CaptionEvent
from companion.errors import BusUnavailableError
from companion.transcripts.files import ArchiveFiles, complete_lines

POLL = 0.05
STREAM_TIMEOUT = 30.0

Check = Callable[[], Awaitable[bool] | bool]


async def timed(t0: float, check: Check, timeout: float) -> float | None:
    """Seconds from monotonic ``t0`` until ``check`` holds (polled every ``POLL`` s,
    an outage counting as not yet), or None past ``timeout``."""
    while time.monotonic() - t0 < timeout:
        with contextlib.suppress(BusUnavailableError):
            value = check()
            if not isinstance(value, bool):
                value = await value
            if value:
                return round(time.monotonic() - t0, 2)
        await asyncio.sleep(POLL)
    return None


class Probes:
    """Reads, never writes: the drill's own view of the channel ``channel``."""

    def __init__(
        self,
        bus: RedisBus,
        session: aiohttp.ClientSession,
        archive: ArchiveFiles,
        ports: tuple[int, int],
        channel: str,
    ) -> None:
        self.bus = bus
        self.session = session
        self.archive = archive
        self.ports = ports
        self.channel = channel

    async def stream(self) -> list[CaptionEvent]:
        """The channel's whole stream; read again while Redis does not answer."""
        deadline = time.monotonic() + STREAM_TIMEOUT
        events: list[CaptionEvent] = []
        while True:
            try:
                page = await self.bus.read(self.channel, events[-1].seq if events else 0)
            except BusUnavailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(POLL)
                continue
            if not page:
                return events
            events += page

    async def last_seq(self) -> int:
        events = await self.stream()
        return events[-1].seq if events else 0

    async def event_after(self, seq: int) -> bool:
        return bool(await self.bus.read(self.channel, seq, limit=1))

    async def final_after(self, seq: int) -> bool:
        return any(e.final for e in await self.bus.read(self.channel, seq))

    def archived(self) -> list[int]:
        """The seq of every caption line in the archive, duplicates included (the
        project's reader, ``read_captions``, would hide them)."""
        return [
            int(data["seq"])
            for path in self.archive.caption_files(self.channel)
            for _, data in complete_lines(path)
        ]

    async def report(self, key: str) -> dict[str, Any]:
        """A state document (``archiver:health``, ``poster:<channel>``), or {}."""
        return (await self.bus.get_state()).get(key, {})

    async def archiver_writing(self, since: float) -> bool:
        """The archiver said ``writing`` after Unix time ``since``."""
        doc = await self.report("archiver:health")
        return doc.get("status") == "writing" and float(doc.get("updated", 0)) > since

    async def poster_instance(self) -> str:
        return str((await self.report(f"poster:{self.channel}")).get("instance", ""))

    async def poster_active(self, old: str) -> bool:
        """A poster other than ``old`` holds the channel and says so."""
        doc = await self.report(f"poster:{self.channel}")
        return bool(doc.get("active")) and doc.get("instance") not in (None, "", old)

    async def ready(self, n: int) -> bool:
        """Replica ``n``'s ``/readyz`` answers 200."""
        try:
            url = f"http://127.0.0.1:{self.ports[n]}/readyz"
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def both_ready(self) -> bool:
        return await self.ready(0) and await self.ready(1)
