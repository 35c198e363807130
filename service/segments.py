"""The segment writer: one per channel per replica, one of them writing at a time.

Design (issue 15; the reader's side is ``docs/segments.md``): **one writer per
channel, segments stored on the bus**, so every replica serves the same bytes.

* Every service process runs a ``SegmentWriter`` per channel. It hears each event its
  ``ChannelHub`` fans out and hands the finals, with the time they arrived, to a
  ``SegmentAssembler`` (``companion/segments.py``, pure), holder or not.
* It tries to hold the lease ``segments:<channel>`` (``Bus.claim``), renewed every
  third of ``LEASE_SECONDS``. The holder cuts each window once it has closed, stores
  the segment (``Bus.put_segment``: set-if-absent, kept ``KEEP_SECONDS``), then moves
  the channel's ``latest`` document forward (``Bus.set_latest_segment``). Segment
  first, then ``latest``: a listed segment is always stored.
* A standby reads ``latest`` every tick, forgets the finals it lists, and serves what
  it says. When the holder dies its lease lapses after ``LEASE_SECONDS`` and a standby
  takes over: it continues the stored run with the next window and the finals past
  the stored ``seq`` (those it heard, and any it missed, read from the bus), so no
  final is written twice or skipped, and no window is left out.
* Should two writers ever overlap (a lease lapsed during a stall), set-if-absent
  refuses the second copy of a segment: that writer reads the stored one and goes
  on from it; ``latest`` never moves back, and a writer that finds it ahead of itself
  gives up the writing until its next claim resumes from what is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from companion.bus.base import Bus
from companion.captions import CaptionEvent
from companion.errors import BusUnavailableError
from companion.segments import KEEP_SECONDS, Latest, Segment, SegmentAssembler

log = logging.getLogger(__name__)

LEASE_SECONDS = 5.0  # how long a dead writer's lease keeps its channel's segments waiting
MAX_TICK = 0.25  # s between steps at most (a quarter window for shorter windows)
CATCH_UP_STEP = 100  # windows published in one step at most when far behind
RECOVER_BATCH = 1000


def lease_key(channel: str) -> str:
    return f"segments:{channel}"


class SegmentWriter:
    """Writes one channel's segments while it holds the lease; else follows ``latest``."""

    def __init__(
        self,
        bus: Bus,
        channel: str,
        seconds: float,
        owner: str,
        clock: Callable[[], float] = time.time,
        lease_seconds: float | None = None,
    ) -> None:
        self.bus = bus
        self.channel = channel
        self.owner = owner
        self.clock = clock
        self.lease_seconds = LEASE_SECONDS if lease_seconds is None else lease_seconds
        self.assembler = SegmentAssembler(channel, seconds)
        self.latest: Latest | None = None  # what this replica serves
        self.holding = False
        self.written = 0  # segments this writer stored
        self._next_claim = 0.0

    @property
    def tick(self) -> float:
        return min(MAX_TICK, self.assembler.seconds / 4)

    def hear(self, event: CaptionEvent) -> None:
        """A ``ChannelHub`` listener: each event, as the hub fans it out."""
        self.assembler.add(event, self.clock())

    async def run(self) -> None:
        """Step every tick until cancelled; an outage is waited out, a bug logged."""
        while True:
            try:
                await self.step()
            except BusUnavailableError as exc:
                if self.holding:
                    log.warning("segments of %s: the bus is down (%s)", self.channel, exc)
                self.holding = False  # resume from what is stored once it is back
                self._next_claim = 0.0
            except Exception:
                log.exception("segments of %s: a step failed", self.channel)
                self.holding = False
                self._next_claim = 0.0
            await asyncio.sleep(self.tick)

    async def step(self) -> None:
        """Claim or renew the lease when due; publish what has closed, or follow."""
        now = self.clock()
        if now >= self._next_claim:
            held = await self.bus.claim(lease_key(self.channel), self.owner, self.lease_seconds)
            self._next_claim = now + self.lease_seconds / 3
            if held and not self.holding:
                await self._take_over(now)
            elif self.holding and not held:
                log.info("segments of %s: another replica writes them now", self.channel)
            self.holding = held
        if self.holding:
            for _ in range(CATCH_UP_STEP):
                if not self.assembler.due(now) or not await self._publish_next():
                    break
        else:
            await self._follow()

    async def _follow(self) -> None:
        stored = await self.bus.get_latest_segment(self.channel)
        if stored is not None:
            self.latest = Latest.from_json(stored)
            self.assembler.forget_through(self.latest.seq)

    async def _take_over(self, now: float) -> None:
        stored = await self.bus.get_latest_segment(self.channel)
        latest = Latest.from_json(stored) if stored is not None else None
        last = None
        if latest is not None:
            doc = await self.bus.get_segment(self.channel, latest.segment)
            last = Segment.from_json(doc) if doc is not None else None
        if self.assembler.resume(latest, last, now):
            assert latest is not None
            await self._recover(latest.seq, now)
            log.info("segments of %s: continuing after %d", self.channel, latest.segment)
        else:
            log.info("segments of %s: a new run from %s", self.channel, self.assembler.next)
        self.latest = (
            latest if latest is not None and latest.seconds == self.assembler.seconds else None
        )

    async def _recover(self, after: int, now: float) -> None:
        """Finals past the stored ``seq`` that this replica never heard (it was not
        following yet): from the bus, as if they arrived now."""
        while True:
            events = await self.bus.read(self.channel, after=after, limit=RECOVER_BATCH)
            for event in events:
                self.assembler.add(event, now)
            if len(events) < RECOVER_BATCH:
                return
            after = events[-1].seq

    async def _publish_next(self) -> bool:
        """Store the next segment and move ``latest``; False if this writer must stop."""
        segment = self.assembler.build()
        if await self.bus.put_segment(self.channel, segment.n, segment.to_json(), KEEP_SECONDS):
            self.written += 1
        else:  # another writer stored it first: go on from its copy
            stored = await self.bus.get_segment(self.channel, segment.n)
            if stored is None:
                raise RuntimeError(f"segment {segment.n} of {self.channel} refused, then gone")
            segment = Segment.from_json(stored)
            log.warning("segments of %s: %d was stored by another writer", self.channel, segment.n)
        self.assembler.published(segment)
        latest = self.assembler.latest()
        if not await self.bus.set_latest_segment(
            self.channel, latest.segment, latest.to_json(), KEEP_SECONDS
        ):
            log.warning(
                "segments of %s: latest is past %d; stepping back", self.channel, latest.segment
            )
            self.holding = False
            self._next_claim = 0.0
            return False
        self.latest = latest
        return True
