"""The archiver: every final caption of every channel, written durably, then acknowledged.

``Archiver.run`` takes batches from a ``Source`` (a Redis consumer group, or the
in-memory bus of this process), files each final caption under the session running
when it was spoken, writes the batch with ``CaptionStore`` (encoded on the event loop,
written and fsynced in a thread) and only then acknowledges it. Partial captions are
acknowledged and dropped. Killed at any moment, what was not acknowledged comes again and what was
already written is recognised and not written twice.

When the archive cannot be written (disk full, directory gone or not a directory),
the archiver holds the batch, acknowledges nothing and reads nothing more; it logs an
error at once and every ``LOUD_EVERY`` seconds, says ``failing`` in its health
document (``archiver:health`` in the event state, which the organizer API shows),
and tries again with backoff until the write succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from companion.captions import CaptionEvent
from companion.errors import ArchiveLockedError
from companion.transcripts.archive import TranscriptArchive
from companion.transcripts.programme import UNSCHEDULED
from workers.archiver.store import CaptionStore, Pending

log = logging.getLogger(__name__)

HEALTH_KEY = "archiver:health"
HEARTBEAT_SECONDS = 5.0
LOUD_EVERY = 30.0
RETRY_MIN, RETRY_MAX = 0.2, 5.0
BATCH = 500  # at most this many captions encoded at once on the event loop


@dataclass(frozen=True)
class Delivery:
    """One stream entry as a source hands it over; ``event`` is None when it was lost."""

    channel: str
    seq: int
    epoch: str
    event: CaptionEvent | None
    token: str = ""  # what the source needs to acknowledge it (a stream entry id)


class Source(Protocol):
    """Where caption events come from, and where they are acknowledged."""

    async def start(self, stored: Callable[[str, str], int]) -> None:
        """Connect; ``stored(channel, epoch)`` is the highest seq already archived."""

    async def batch(self, limit: int) -> list[Delivery]:
        """The next entries, oldest first per channel; [] after about a second of none."""

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge ``deliveries`` (retrying through outages until it is done)."""

    async def caught_up(self) -> bool:
        """Whether nothing published so far is left to deliver."""

    async def close(self) -> None: ...


HealthSink = Callable[[str, dict[str, Any]], Awaitable[None]]
Durable = Callable[[list[Pending], float], None]


@dataclass
class Health:
    """What the archiver says about itself (the ``archiver:health`` document)."""

    directory: str
    status: str = "starting"  # starting | writing | failing | locked | stopped
    error: str = ""
    failing_since: float | None = None
    stored: int = 0
    duplicates: int = 0
    lost: int = 0
    waiting: int = 0
    last_write: float | None = None

    def document(self, now: float) -> dict[str, Any]:
        return {
            "ok": self.status == "writing",
            "status": self.status,
            "error": self.error,
            "failing_since": self.failing_since,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "waiting": self.waiting,
            "last_write": self.last_write,
            "directory": self.directory,
            "updated": now,
        }


class Archiver:
    """Reads ``source``, writes ``archive``'s caption files, acknowledges; see the module."""

    def __init__(
        self,
        archive: TranscriptArchive,
        source: Source,
        health_sink: HealthSink | None = None,
        on_durable: Durable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.archive = archive
        self.store = CaptionStore(archive.files)
        self.source = source
        self.health = Health(str(archive.files.event_dir))
        self._sink = health_sink
        self._on_durable = on_durable
        self._clock = clock
        self._last_seen: dict[tuple[str, str], int] = {}
        self._last_loud = 0.0
        self._idle = asyncio.Event()
        # the archive's writes and fsyncs on a thread of their own: a crowd downloading
        # transcripts from the default pool can never hold the archiver up
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archiver")

    async def run(self) -> None:
        """Archive until cancelled."""
        beat = asyncio.create_task(self._heartbeat(), name="archiver-health")
        try:
            await self._retry(self.store.open)
            await self.source.start(self.store.highest)
            await self._set_status("writing")
            while True:
                self._idle.set()
                batch = await self.source.batch(BATCH)
                if not batch:
                    continue
                self._idle.clear()
                pending = self._prepare(batch)
                if pending:
                    self.health.waiting = len(pending)
                    # Encoding holds the GIL: do it here; the thread only writes and fsyncs.
                    encoded = self.store.encode(pending)
                    written, dupes = await self._retry(partial(self.store.flush, encoded))
                    now = self._clock()
                    self.health.stored += written
                    self.health.duplicates += dupes
                    self.health.waiting = 0
                    self.health.last_write = now
                    if self._on_durable is not None:
                        self._on_durable(pending, time.perf_counter())
                await self.source.ack(batch)
        finally:
            beat.cancel()
            self._writer.shutdown(wait=False)
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.health.status = "stopped"
            await self._publish()
            await self.source.close()
            self.store.close()

    async def drain(self, timeout: float) -> bool:
        """Wait until everything published so far is written (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.health.status not in ("failing", "locked"):
            if self._idle.is_set() and await self.source.caught_up() and self._idle.is_set():
                return True
            await asyncio.sleep(0.02)
        return False

    def _prepare(self, batch: list[Delivery]) -> list[Pending]:
        """The finals of ``batch`` with their sessions; gaps and lost entries counted."""
        received = self._clock()
        session_at = self.archive.programme().locator()
        out = []
        for d in batch:
            stream = (d.channel, d.epoch)
            last = self._last_seen.get(stream)
            if last is not None and d.seq > last + 1:
                self._lost(d.seq - last - 1, f"{d.channel}: seq {last + 1}..{d.seq - 1}")
            self._last_seen[stream] = max(d.seq, last or 0)
            if d.event is None:
                self._lost(1, f"{d.channel}: entry {d.token or d.seq} was trimmed")
                continue
            if not d.event.final:
                continue
            session = session_at(d.event.at or received) or UNSCHEDULED
            out.append(Pending(d.event, d.epoch, session, received))
        return out

    def _lost(self, count: int, what: str) -> None:
        self.health.lost += count
        log.error(
            "ARCHIVE GAP: %d caption events were gone before the archiver read them (%s)",
            count,
            what,
        )

    async def _retry(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in a thread until it succeeds; loud while it fails."""
        delay = RETRY_MIN
        while True:
            try:
                result = await asyncio.get_running_loop().run_in_executor(self._writer, work)
            except ArchiveLockedError as exc:
                await self._failing("locked", exc, loud=False)
            except OSError as exc:
                await self._failing("failing", exc, loud=True)
            else:
                if self.health.status in ("failing", "locked"):
                    since = self.health.failing_since or self._clock()
                    log.warning(
                        "archive is writable again after %.0f s: %s",
                        self._clock() - since,
                        self.health.directory,
                    )
                    self.health.error = ""
                    self.health.failing_since = None
                    await self._set_status("writing")
                return result
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _failing(self, status: str, exc: OSError, loud: bool) -> None:
        now = self._clock()
        first = self.health.status != status
        if first:
            self.health.failing_since = now
        self.health.error = f"{type(exc).__name__}: {exc}"
        if first or now - self._last_loud >= LOUD_EVERY:
            self._last_loud = now
            if loud:
                log.error(
                    "ARCHIVE CANNOT WRITE to %s (%s): %d captions held, nothing acknowledged; "
                    "retrying until it can",
                    self.health.directory,
                    self.health.error,
                    self.health.waiting,
                )
            else:
                log.warning("%s; waiting for it to stop", exc)
        if first:
            await self._set_status(status)

    async def _set_status(self, status: str) -> None:
        self.health.status = status
        await self._publish()

    async def _publish(self) -> None:
        if self._sink is None:
            return
        try:
            await self._sink(HEALTH_KEY, self.health.document(self._clock()))
        except Exception as exc:  # health is best effort; the logs still say it
            log.warning("cannot publish archiver health: %r", exc)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._publish()
