"""``companion bench archive``: publish N final captions as fast as possible, time the archive.

The publisher and the archiver share one process and one event loop, as in
``companion serve`` (in-memory bus); with ``redis_url`` the captions go through
Redis streams and the archiver reads them through its consumer group. Each caption's
lag runs from the moment ``publish`` is called to the moment the ``fsync`` of the
batch that holds it returned. Throughput is captions over the time from the first
publish to the last durable write.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scoring import percentile
from companion.bus import open_bus
from companion.bus.base import Bus
from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent, Word
from companion.config import EventConfig
from companion.transcripts.archive import TranscriptArchive
from workers.archiver.archiver import Archiver, Source
from workers.archiver.bus_source import BusSource
from workers.archiver.store import Pending

TARGET_RATE = 5000.0
TARGET_P99_MS = 100.0
TEXT = "the social and solidarity economy grows in six Asian countries"


def bench_config(channels: int, directory: Path) -> EventConfig:
    now = time.time()
    return EventConfig.model_validate(
        {
            "event": {"id": f"bench-{uuid.uuid4().hex[:8]}"},
            "channels": [{"id": f"ch{i}", "language": "en"} for i in range(channels)],
            "archive": {"directory": str(directory)},
            "sessions": [
                {
                    "id": "bench",
                    "start": _iso(now - 3600),
                    "end": _iso(now + 86400),
                }
            ],
        }
    )


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


WORDS = tuple(Word(w, k * 0.4, k * 0.4 + 0.35, 0.9) for k, w in enumerate(TEXT.split()))


def caption(channel: str, i: int) -> CaptionEvent:
    """A final caption of ten words, like a sentence of a talk."""
    return CaptionEvent(
        channel, 0, True, f"{TEXT} ({i})", "en", 0.0, 4.0, 0.0, i, True, WORDS, at=time.time()
    )


async def run_bench(
    captions: int,
    channels: int = 2,
    rate: float = 0.0,
    redis_url: str | None = None,
    directory: Path | None = None,
    backlog: bool = False,
) -> dict[str, Any]:
    """Publish ``captions`` finals over ``channels`` (``rate`` a second, 0: as fast as
    possible); the figures as a dict. With ``backlog`` everything is published first and
    only the archiver's catching up is timed (its capacity, whatever the publisher's)."""
    scratch = Path(tempfile.mkdtemp(prefix="archive-bench-")) if directory is None else None
    config = bench_config(channels, directory or scratch or Path("."))
    ids = [c.id for c in config.channels]
    try:
        return await _run(config, ids, captions, rate, redis_url, backlog)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


async def publish(
    bus: Bus, ids: list[str], k: int, captions: int, rate: float, first: float, at: list[float]
) -> None:
    """Publish captions k, k + n, k + 2n … to channel ``ids[k]``, paced to ``rate`` overall."""
    for i in range(k, captions, len(ids)):
        at[i] = time.perf_counter()
        await bus.publish(caption(ids[k], i))
        ahead = first + (i + 1) / rate - time.perf_counter() if rate else 0.0
        if ahead > 0.001:  # a timer per caption would cost more than the caption
            await asyncio.sleep(ahead)
        else:  # one loop for all: let the archiver read in between
            await asyncio.sleep(0)


async def _run(
    config: EventConfig,
    ids: list[str],
    captions: int,
    rate: float,
    redis_url: str | None,
    backlog: bool,
) -> dict[str, Any]:
    published: list[float] = [0.0] * captions  # by caption index (its ``utterance``)
    lags: list[float] = []
    batches: list[int] = []
    done = asyncio.Event()
    last_durable = 0.0

    def durable(pending: list[Pending], at: float) -> None:
        nonlocal last_durable
        last_durable = at
        batches.append(len(pending))
        for p in pending:
            lags.append(at - published[p.event.utterance])
        if len(lags) >= captions:
            done.set()

    # The bus as `companion serve` has it (MemoryBus's own bound), or Redis.
    bus = MemoryBus() if redis_url is None else open_bus(redis_url, config.event.id)
    await bus.start()
    source: Source
    if redis_url is None:
        source = BusSource(bus, ids)
    else:
        from workers.archiver.redis_source import RedisSource

        source = RedisSource(redis_url, config.event.id, ids, group=f"bench-{uuid.uuid4().hex}")
    archive = TranscriptArchive(config, Path(config.archive.directory))
    archiver = Archiver(archive, source, on_durable=durable)
    task = asyncio.create_task(asyncio.sleep(0))
    try:
        if not backlog:
            task = asyncio.create_task(archiver.run())
            await archiver.drain(10.0)  # started and idle
        first = time.perf_counter()
        cpu = time.process_time()
        # One publisher per channel, as one captioner per channel publishes.
        await asyncio.gather(
            *(publish(bus, ids, k, captions, rate, first, published) for k in range(len(ids)))
        )
        publish_seconds = time.perf_counter() - first
        if backlog:  # everything is waiting: time the archiver alone
            first = time.perf_counter()
            cpu = time.process_time()
            task = asyncio.create_task(archiver.run())
        waiter = asyncio.create_task(done.wait())
        await asyncio.wait({waiter, task}, timeout=60.0, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # the archiver failed: say why
        if not done.is_set():
            raise RuntimeError(f"only {len(lags)} of {captions} captions archived in 60 s")
        cpu = time.process_time() - cpu
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
    seconds = last_durable - first
    stored = len(archive.files.read_captions())
    lag_ms = sorted(x * 1000 for x in lags)
    lag = {
        q: round(percentile(lag_ms, p) or 0.0, 2)
        for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
    lag["max"] = round(lag_ms[-1], 2)
    throughput = round(captions / seconds, 1)
    return {
        "bus": "memory" if redis_url is None else "redis",
        "backlog": backlog,
        "captions": captions,
        "channels": len(ids),
        "rate": rate or "as fast as possible",
        "stored": stored,
        "seconds": round(seconds, 3),
        "publish_rate": round(captions / publish_seconds, 1),
        "throughput": throughput,
        "lag_ms": None if backlog else lag,
        # CPU of this process (publisher, bus and archiver) per caption: what the figures
        # above would be with a core to itself, whatever else the machine is doing
        "cpu_us_per_caption": round(cpu / captions * 1e6, 1),
        "writes": len(batches),
        "mean_batch": round(sum(batches) / len(batches), 1),
        "target": {"throughput": TARGET_RATE, "p99_ms": TARGET_P99_MS},
        # Flat out, the publisher outruns the archiver and the lag is the backlog: judge
        # throughput flat out (rate 0) and the lag at the target rate (--rate 5000).
        "meets": {
            "throughput": throughput >= TARGET_RATE * (0.98 if rate else 1.0),
            "p99": not backlog and lag["p99"] < TARGET_P99_MS,
        },
    }
