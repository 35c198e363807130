"""Running the archiver: inside ``companion serve`` (in-memory bus), or on its own (Redis).

``archiver_context(config, bus)`` is a cleanup context for the service's app: the
archiver follows the bus of this process and, when the app stops, gets up to
``DRAIN_SECONDS`` to write what was published before it stops. ``run_worker``
is ``companion worker archive``: a consumer group on ``REDIS_URL``, its health
published through a Redis bus of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from companion.bus import open_bus
from companion.bus.base import Bus
from companion.config import EventConfig
from companion.transcripts.archive import TranscriptArchive, archive_root
from workers.archiver.archiver import Archiver
from workers.archiver.bus_source import BusSource

log = logging.getLogger(__name__)

DRAIN_SECONDS = 5.0


def archiver_context(config: EventConfig, bus: Bus) -> Callable[[Any], AsyncIterator[None]]:
    """A cleanup context that archives ``bus``'s channels while the app runs."""

    async def ctx(app: Any) -> AsyncIterator[None]:
        archive = TranscriptArchive(config, archive_root(config))
        source = BusSource(bus, [c.id for c in config.channels])
        archiver = Archiver(archive, source, bus.set_state)
        task = asyncio.create_task(archiver.run(), name="archiver")
        log.info("archiving transcripts in %s", archive.files.event_dir)
        try:
            yield
        finally:
            if not task.done() and not await archiver.drain(DRAIN_SECONDS):
                log.error("archiver stopped with captions not yet written (shutdown)")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


async def run_worker(config: EventConfig, redis_url: str, group: str, consumer: str) -> None:
    """Archive the channels' Redis streams until cancelled."""
    from workers.archiver.redis_source import RedisSource

    bus = open_bus(redis_url, namespace=config.event.id)
    await bus.start()
    archive = TranscriptArchive(config, archive_root(config))
    source = RedisSource(
        redis_url, config.event.id, [c.id for c in config.channels], group, consumer
    )
    log.info("archiving %s into %s", redis_url, archive.files.event_dir)
    task = asyncio.create_task(Archiver(archive, source, bus.set_state).run(), name="archiver")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop cleanly; kill -9 is fine too
        loop.add_signal_handler(signum, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await bus.close()
