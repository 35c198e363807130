"""The one-process bus: caption streams and event state held in memory.

Each channel keeps its last ``max_len`` events in a deque and its own sequence
counter; the bus numbers every published event ``previous + 1``. Followers wait on
one ``asyncio.Condition`` that every publish and state change notifies, so a
follower that has read up to ``seq`` n wakes, reads everything past n and waits
again: no gap, no duplicate. A state document's version is the number of its
change, so ``set_state_if`` compares and stores with no await between: atomic within
the event loop. Nothing here does I/O, so nothing here can be down.

A booth's microphone frames are kept the same way, the last ``AUDIO_HELD`` of each
booth, counted; ``publish_audio`` does not wait, so it wakes the booth's followers by
setting an ``asyncio.Event`` that it replaces with a fresh one.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from companion.bus.base import AUDIO_HELD, BusHealth, StateEntry, check_transaction, stamped
from companion.captions import CaptionEvent


class MemoryBus:
    """Caption streams per channel and event state, for one process."""

    def __init__(self, max_len: int = 10_000) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, not {max_len}")
        self.max_len = max_len
        self._streams: dict[str, deque[CaptionEvent]] = {}
        self._seq: dict[str, int] = {}
        self._state: dict[str, dict[str, Any]] = {}
        # State changes are numbered too, so a subscriber sees each change after the
        # moment it subscribed, exactly once, without a queue per subscriber.
        self._state_log: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=max_len)
        self._state_count = 0
        self._versions: dict[str, int] = {}  # key -> the number of its last change
        self._changed = asyncio.Condition()
        self._closed = False
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (total, monotonic expiry)
        self._leases: dict[str, tuple[str, float]] = {}  # key -> (owner, monotonic expiry)
        # (channel, n) -> (doc, monotonic expiry); latest: channel -> (n, doc, expiry)
        self._segments: dict[tuple[str, int], tuple[str, float]] = {}
        self._latest: dict[str, tuple[int, str, float]] = {}
        self._audio: dict[str, deque[bytes]] = {}  # booth -> its last AUDIO_HELD frames
        self._audio_count: dict[str, int] = {}  # booth -> frames ever published
        self._audio_wake: dict[str, asyncio.Event] = {}  # booth -> set on the next frame
        self._audio_lost = 0  # frames a follower missed by falling AUDIO_HELD behind

    async def start(self) -> None:
        """Nothing to connect; kept for the ``Bus`` interface."""
        self._closed = False

    async def close(self) -> None:
        """Wake every follower and subscriber so that its iterator ends."""
        self._closed = True
        async with self._changed:
            self._changed.notify_all()
        for wake in self._audio_wake.values():
            wake.set()
        self._audio_wake.clear()

    async def publish(self, event: CaptionEvent) -> None:
        """Append ``event`` to its channel with the channel's next ``seq``."""
        seq = self._seq.get(event.channel, 0) + 1
        self._seq[event.channel] = seq
        stream = self._streams.setdefault(event.channel, deque(maxlen=self.max_len))
        stream.append(replace(event, seq=seq))
        async with self._changed:
            self._changed.notify_all()

    async def read(self, channel: str, after: int, limit: int = 1000) -> list[CaptionEvent]:
        """Events of ``channel`` with ``seq > after``, oldest first, at most ``limit``."""
        return self._after(channel, after, limit)

    async def recent_finals(self, channel: str, limit: int) -> list[CaptionEvent]:
        """The last ``limit`` final events still held for ``channel``, oldest first."""
        if limit <= 0:
            return []
        finals: list[CaptionEvent] = []
        for event in reversed(self._streams.get(channel, ())):
            if event.final:
                finals.append(event)
                if len(finals) == limit:
                    break
        finals.reverse()
        return finals

    async def follow(self, channel: str, after: int) -> AsyncIterator[CaptionEvent]:
        """Every held event of ``channel`` with ``seq > after``, then each new one.

        Ends when the bus is closed. If the follower falls more than ``max_len``
        events behind, the trimmed ones are gone; it resumes at the oldest held.
        """
        last = after
        while not self._closed:
            for event in self._after(channel, last, self.max_len):
                last = event.seq
                yield event
            async with self._changed:
                while not self._closed and self._seq.get(channel, 0) <= last:
                    await self._changed.wait()

    async def set_state(self, key: str, value: dict[str, Any]) -> None:
        """Store one state document and announce the change."""
        self._store(key, value)
        async with self._changed:
            self._changed.notify_all()

    def _store(self, key: str, value: dict[str, Any]) -> None:
        self._state_count += 1
        self._state[key] = value
        self._versions[key] = self._state_count
        self._state_log.append((self._state_count, key, value))

    async def get_state(self) -> dict[str, dict[str, Any]]:
        """A copy of every state document."""
        return dict(self._state)

    async def delete_state(self, key: str) -> None:
        """Forget one state document."""
        self._state.pop(key, None)
        self._versions.pop(key, None)

    def state_changes(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Each ``(key, value)`` stored after this call; ends when the bus is closed."""
        return self._state_changes_after(self._state_count)

    async def get_state_entries(self, keys: Sequence[str]) -> dict[str, StateEntry]:
        """The documents ``keys`` with their versions (0 and None: no document)."""
        return {key: StateEntry(self._versions.get(key, 0), self._state.get(key)) for key in keys}

    async def set_state_if(
        self, expected: Mapping[str, int], values: Mapping[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]] | None:
        """Store ``values``, each stamped with its version, if no expected version moved."""
        check_transaction(expected, values)
        if any(self._versions.get(key, 0) != version for key, version in expected.items()):
            return None
        stored = {}
        for key, value in values.items():
            doc = stamped(value, self._state_count + 1)
            self._store(key, doc)
            stored[key] = doc
        async with self._changed:
            self._changed.notify_all()
        return stored

    async def add_to_counter(self, key: str, amount: int, ttl_seconds: float) -> int:
        """Add ``amount`` to counter ``key``; forgotten ``ttl_seconds`` after its last change."""
        now = time.monotonic()
        total, expires = self._counters.get(key, (0, now))
        total = (total if expires > now else 0) + amount
        self._counters[key] = (total, now + ttl_seconds)
        return total

    async def claim(self, key: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``key`` for ``owner`` unless another holds it."""
        now = time.monotonic()
        holder, expires = self._leases.get(key, ("", now))
        if holder and holder != owner and expires > now:
            return False
        self._leases[key] = (owner, now + ttl_seconds)
        return True

    async def put_segment(self, channel: str, n: int, doc: str, ttl_seconds: float) -> bool:
        """Store segment ``n`` unless a live copy is stored; expired ones are swept here."""
        now = time.monotonic()
        if (channel, n) in self._segments and self._segments[channel, n][1] > now:
            return False
        self._segments = {k: v for k, v in self._segments.items() if v[1] > now}
        self._segments[channel, n] = (doc, now + ttl_seconds)
        return True

    async def get_segment(self, channel: str, n: int) -> str | None:
        """Segment ``n`` as stored, or None once it has expired."""
        doc, expires = self._segments.get((channel, n), ("", 0.0))
        return doc if expires > time.monotonic() else None

    async def set_latest_segment(self, channel: str, n: int, doc: str, ttl_seconds: float) -> bool:
        """Store ``doc`` as the latest if ``n`` is past the stored (live) one's."""
        now = time.monotonic()
        stored = self._latest.get(channel)
        if stored is not None and stored[2] > now and stored[0] >= n:
            return False
        self._latest[channel] = (n, doc, now + ttl_seconds)
        return True

    async def get_latest_segment(self, channel: str) -> str | None:
        """The latest segment document, or None once it has expired."""
        stored = self._latest.get(channel)
        return stored[1] if stored is not None and stored[2] > time.monotonic() else None

    def publish_audio(self, booth: str, pcm: bytes) -> None:
        """Keep the frame among the booth's last ``AUDIO_HELD`` and wake its followers."""
        self._audio.setdefault(booth, deque(maxlen=AUDIO_HELD)).append(pcm)
        self._audio_count[booth] = self._audio_count.get(booth, 0) + 1
        wake = self._audio_wake.pop(booth, None)
        if wake is not None:
            wake.set()

    async def follow_audio(self, booth: str) -> AsyncIterator[bytes]:
        """Each frame of ``booth`` published after the first step; ends when closed."""
        seen = self._audio_count.get(booth, 0)
        while not self._closed:
            count = self._audio_count.get(booth, 0)
            if count == seen:
                await self._audio_wake.setdefault(booth, asyncio.Event()).wait()
                continue
            held = self._audio[booth]
            new = count - seen
            if new > len(held):
                self._audio_lost += new - len(held)
                new = len(held)
            seen = count
            for pcm in list(itertools.islice(held, len(held) - new, None)):
                yield pcm

    def health(self) -> BusHealth:
        """Always connected; nothing is ever buffered or dropped, but audio a follower
        was too slow for is counted."""
        return BusHealth(backend="memory", connected=True, audio_dropped=self._audio_lost)

    def _after(self, channel: str, after: int, limit: int) -> list[CaptionEvent]:
        stream = self._streams.get(channel)
        if not stream or limit <= 0:
            return []
        # Seqs in a stream are consecutive, so the first wanted event's index is known.
        start = max(0, after + 1 - stream[0].seq)
        newer = len(stream) - start
        if newer <= 0:
            return []
        if newer < start:  # islice walks a deque from the left: count from the nearer end
            tail = list(itertools.islice(reversed(stream), newer))
            tail.reverse()
            return tail[:limit]
        return list(itertools.islice(stream, start, start + limit))

    async def _state_changes_after(self, seen: int) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        while not self._closed:
            for number, key, value in list(self._state_log):
                if number > seen:
                    seen = number
                    yield key, value
            async with self._changed:
                while not self._closed and self._state_count <= seen:
                    await self._changed.wait()
