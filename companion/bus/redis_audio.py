"""A booth's console microphone through Redis: one short stream per booth.

Key, under the bus's namespace::

    {ns}:audio:{booth}   stream; field ``pcm`` = one frame (s16le mono, 16 kHz), at
                         most ``AUDIO_HELD`` entries, gone ``IDLE_EXPIRY`` after the last

``publish`` never waits on Redis, so a slow or absent Redis cannot stall the
microphone's socket (its pacing would then refuse the late burst as ``too_fast``).
The frame joins a small queue (``QUEUE_FRAMES``) that one sender task drains, each
time with one pipeline (``XADD … MAXLEN`` per frame, an expiry per booth). While
Redis is down the sender backs off and the queue rolls over: the oldest frames are
dropped and counted (``dropped``, logged once per 10 s), never buffered beyond it;
when Redis is back, what is queued is at most the last ``QUEUE_FRAMES``, the live edge.

``follow`` reads with a blocking ``XREAD`` on a connection of its own. Entry ids are
Redis's own milliseconds, so "now" and "fresh" are read on one clock (``TIME``),
whatever the machines' clocks say: a new follower starts at Redis's "now" (nothing
published before it is replayed), and after an outage it resumes after the last frame
it yielded but never earlier than ``FRESH_SECONDS`` before Redis's "now". MAXLEN is
exact, not ``~``: at ten frames a second trimming one entry costs nothing, and the
bound is a number one can check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import cast

from companion.bus.base import AUDIO_HELD
from companion.bus.redis_link import (
    BACKOFF_MIN,
    FOLLOW_BLOCK_MS,
    OUTAGE_ERRORS,
    RedisKeys,
    backoff,
    connect,
    jittered,
    raise_if_cancelled,
)
from companion.bus.redis_state import Link

log = logging.getLogger(__name__)

QUEUE_FRAMES = 20  # frames waiting for the sender (2 s of 100 ms frames) before the oldest go
FRESH_SECONDS = 2.0  # after an outage, frames older than this (on Redis's clock) are skipped
IDLE_EXPIRY_MS = 60_000  # a booth's stream is deleted this long after its last frame
POOL_SIZE = 8  # the sender's connection and a follower's per booth followed
DROP_LOG_SECONDS = 10.0

StreamId = tuple[int, int]  # (milliseconds, sequence)
Reply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]  # XREAD, undecoded


class AudioStreams:
    """Microphone frames per booth through one Redis, for one ``RedisBus``."""

    def __init__(self, url: str, keys: RedisKeys, link: Link) -> None:
        self._client = connect(url, pool_size=POOL_SIZE, decode=False)
        self._keys = keys
        self._link = link
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.dropped = 0
        self._drop_logged = 0.0

    # -- publishing ---------------------------------------------------------------

    def publish(self, booth: str, pcm: bytes) -> None:
        """Queue one frame for the sender; the oldest queued frame goes when it is full."""
        if self._link.closed:
            self._drop(1)
            return
        if len(self._queue) >= QUEUE_FRAMES:
            self._queue.popleft()
            self._drop(1)
        self._queue.append((booth, pcm))
        self._wake.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(), name="redis-audio-sender")

    async def _send_loop(self) -> None:
        delay = BACKOFF_MIN
        while True:
            raise_if_cancelled()  # see there: redis-py may have lost a cancel
            await self._wake.wait()
            self._wake.clear()
            batch = list(self._queue)
            self._queue.clear()
            if not batch:
                continue
            try:
                await self._send(batch)
            except OUTAGE_ERRORS as exc:
                self._drop(len(batch))  # not known to have arrived: counted as lost
                self._link.mark_down(exc)
                await asyncio.sleep(jittered(delay))  # meanwhile the queue rolls over
                delay = backoff(delay)
            else:
                delay = BACKOFF_MIN

    async def _send(self, batch: list[tuple[str, bytes]]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for booth, pcm in batch:
                pipe.xadd(
                    self._keys.audio(booth), {"pcm": pcm}, maxlen=AUDIO_HELD, approximate=False
                )
            for booth in dict.fromkeys(booth for booth, _ in batch):
                pipe.pexpire(self._keys.audio(booth), IDLE_EXPIRY_MS)
            await pipe.execute()

    def _drop(self, frames: int) -> None:
        self.dropped += frames
        now = time.monotonic()
        if now - self._drop_logged >= DROP_LOG_SECONDS:
            self._drop_logged = now
            log.warning(
                "Redis bus: microphone audio not delivered; %d frames dropped so far",
                self.dropped,
            )

    # -- following ----------------------------------------------------------------

    async def follow(self, booth: str) -> AsyncIterator[bytes]:
        """Each frame of ``booth`` from Redis's "now" on; after an outage, only fresh ones."""
        key = self._keys.audio(booth)
        last: StreamId | None = None  # the last frame yielded, or where to start
        resuming = False
        delay = BACKOFF_MIN
        while not self._link.closed:
            raise_if_cancelled()  # see there: redis-py may have lost a cancel
            try:
                if last is None:
                    last = (await self._redis_ms(), 0)
                elif resuming:
                    last = max(last, (await self._redis_ms() - round(FRESH_SECONDS * 1000), 0))
                resuming = False
                reply = cast(
                    Reply | None,
                    await self._client.xread(
                        {key: f"{last[0]}-{last[1]}"}, count=100, block=FOLLOW_BLOCK_MS
                    ),
                )
            except OUTAGE_ERRORS as exc:
                if self._link.closed:
                    return
                self._link.mark_down(exc)
                resuming = True
                await asyncio.sleep(jittered(delay))
                delay = backoff(delay)
                continue
            delay = BACKOFF_MIN
            for _key, entries in reply or ():
                for entry_id, fields in entries:
                    ms, seq = entry_id.split(b"-")
                    last = (int(ms), int(seq))
                    yield fields[b"pcm"]

    async def _redis_ms(self) -> int:
        seconds, micros = await self._client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # -- lifetime -----------------------------------------------------------------

    async def close(self) -> None:
        """Stop the sender (what it has not sent is dropped) and disconnect."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        if self._queue:
            self._drop(len(self._queue))
            self._queue.clear()
        await self._client.aclose()
