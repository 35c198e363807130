"""The booths' microphones on the bus: the contract on MemoryBus and a real RedisBus,
then what only Redis has (a bounded stream, outages, freshness after one).

Every Redis here is a private ``redis-server`` on a free port, polled until it answers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from companion.bus import Bus, MemoryBus
from companion.bus import redis_audio as redis_audio_module
from companion.bus.base import AUDIO_HELD
from companion.bus.redis import RedisBus
from companion.bus.redis_audio import QUEUE_FRAMES
from tests.support.microphone import hearing
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

# scripts/test installs redis-server; without it the Redis tests fail, they are not skipped.

TIMEOUT = 20.0


def frame(n: int) -> bytes:
    """A 100 ms frame that says its number in its first sample."""
    return n.to_bytes(2, "little") + bytes(3198)


def numbers(frames: list[bytes]) -> list[int]:
    return [int.from_bytes(f[:2], "little") for f in frames]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """A started bus of the parametrized backend (Redis: a fresh namespace)."""
    made: Bus
    if request.param == "memory":
        made = MemoryBus()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisBus(server.url, namespace=f"test-{uuid.uuid4().hex}")
    await made.start()
    yield made
    await made.close()


# -- contract: both backends ----------------------------------------------------------


async def test_a_follower_hears_the_live_edge_in_order_and_only_its_booth(bus: Bus) -> None:
    """A follower that starts later (a restarted worker) hears nothing of what came before."""
    async with hearing(bus, "booth-en") as before:
        for n in range(5):
            bus.publish_audio("booth-en", frame(n))
        await until(lambda: len(before) == 5, "the earlier frames", timeout=TIMEOUT)
    async with hearing(bus, "booth-en") as heard:
        for n in range(100, 110):
            bus.publish_audio("booth-en", frame(n))
            bus.publish_audio("booth-ko", frame(900 + n))
            await asyncio.sleep(0)  # a console sends one frame at a time
        await until(lambda: len(heard) >= 10, "ten frames", timeout=TIMEOUT)
    assert numbers(heard) == list(range(100, 110))
    assert bus.health().audio_dropped == 0


async def test_what_cannot_keep_up_is_dropped_oldest_first_and_counted(bus: Bus) -> None:
    """A burst far beyond what the bus holds (or queues): the follower hears the newest,
    in order, and every frame is either heard or counted as dropped."""
    burst = AUDIO_HELD + QUEUE_FRAMES + 30
    async with hearing(bus, "booth-en") as heard:
        for n in range(burst):
            bus.publish_audio("booth-en", frame(n))  # all at once, nothing awaited
        await until(lambda: heard and numbers(heard)[-1] == burst - 1, "the last frame", TIMEOUT)
    assert numbers(heard) == list(range(burst - len(heard), burst))
    assert len(heard) + bus.health().audio_dropped == burst
    assert bus.health().audio_dropped >= burst - AUDIO_HELD


async def test_a_follower_ends_when_the_bus_closes(bus: Bus) -> None:
    follower = bus.follow_audio("booth-en")
    waiting = asyncio.ensure_future(anext(follower, None))
    await asyncio.sleep(0)
    await bus.close()
    assert await asyncio.wait_for(waiting, TIMEOUT) is None


# -- Redis only -------------------------------------------------------------------------


@pytest.mark.redis
async def test_another_process_hears_the_frames(redis_server: RedisServer) -> None:
    """The service's bus publishes, the worker's bus (another client) hears."""
    namespace = f"test-{uuid.uuid4().hex}"
    service, worker = RedisBus(redis_server.url, namespace), RedisBus(redis_server.url, namespace)
    await service.start()
    await worker.start()
    try:
        async with hearing(worker, "booth-en") as heard:
            for n in range(20):
                service.publish_audio("booth-en", frame(n))
                await asyncio.sleep(0.005)
            await until(lambda: len(heard) == 20, "twenty frames", timeout=TIMEOUT)
        assert numbers(heard) == list(range(20))
    finally:
        await service.close()
        await worker.close()


@pytest.mark.redis
async def test_the_stream_is_bounded_and_expires(redis_server: RedisServer) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    bus = RedisBus(redis_server.url, namespace)
    raw = aioredis.Redis.from_url(redis_server.url)
    key = f"{namespace}:audio:booth-en"
    await bus.start()
    try:
        for n in range(3 * AUDIO_HELD):
            bus.publish_audio("booth-en", frame(n))
            if n % 10 == 9:  # a few frames at a time, as a console sends them
                await until(
                    lambda m=n: _last_number(raw, key, m), f"frame {n} in Redis", timeout=TIMEOUT
                )
        assert await raw.xlen(key) == AUDIO_HELD
        assert 0 < await raw.pttl(key) <= redis_audio_module.IDLE_EXPIRY_MS
        assert bus.health().audio_dropped == 0
    finally:
        await raw.aclose()
        await bus.close()


async def _last_number(raw: aioredis.Redis, key: str, n: int) -> bool:
    last = await raw.xrevrange(key, count=1)
    return bool(last) and numbers([last[0][1][b"pcm"]]) == [n]


@pytest.mark.redis
async def test_redis_down_drops_and_counts_without_raising(outage_server: RedisServer) -> None:
    bus = RedisBus(outage_server.url, namespace="audio-outage")
    await bus.start()
    try:
        outage_server.stop()
        for n in range(100):
            bus.publish_audio("booth-en", frame(n))  # never raises, never waits
        assert bus.health().audio_dropped >= 100 - QUEUE_FRAMES  # the queue holds no more
        await until(lambda: bus.health().audio_dropped == 100, "the rest dropped", TIMEOUT)
        assert not bus.health().connected
        outage_server.start()
        async with hearing(bus, "booth-en", timeout=TIMEOUT) as heard:
            bus.publish_audio("booth-en", frame(7))
            await until(lambda: heard, "a frame after the outage", timeout=TIMEOUT)
        assert numbers(heard) == [7]
    finally:
        await bus.close()


@pytest.mark.redis
async def test_after_an_outage_a_follower_skips_what_is_no_longer_fresh(
    outage_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis comes back holding a frame newer than the follower's last one but older than
    ``FRESH_SECONDS`` (as an append-only file would keep it): it is never replayed; the
    frames after it are heard."""
    monkeypatch.setattr(redis_audio_module, "FRESH_SECONDS", 0.3)
    namespace = f"test-{uuid.uuid4().hex}"
    bus = RedisBus(outage_server.url, namespace=namespace)
    await bus.start()
    raw: aioredis.Redis | None = None
    try:
        async with hearing(bus, "booth-en", timeout=TIMEOUT) as heard:
            bus.publish_audio("booth-en", frame(1))
            await until(lambda: heard, "the first frame", timeout=TIMEOUT)
            outage_server.stop()
            left = time.time()
            await asyncio.sleep(0.6)  # an outage longer than FRESH_SECONDS, on purpose
            outage_server.start()
            raw = aioredis.Redis.from_url(outage_server.url)
            stale = f"{int(left * 1000) + 1}-0"  # after frame 1, before the freshness floor
            await raw.xadd(f"{namespace}:audio:booth-en", {"pcm": frame(2)}, id=stale)
            await until(lambda: bus.health().connected, "connected again", timeout=TIMEOUT)
            await until(
                lambda: bus.publish_audio("booth-en", frame(3)) or len(heard) > 1,
                "a fresh frame",
                timeout=TIMEOUT,
                every=0.05,
            )
        assert set(numbers(heard)) == {1, 3}
    finally:
        if raw is not None:
            await raw.aclose()
        await bus.close()
