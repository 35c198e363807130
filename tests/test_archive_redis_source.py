"""The archiver's Redis source on a real Redis: an entry handed out by a read whose reply
never came is delivered after the outage, not left pending for ever.

The fault drill found it (one final of sixteen never archived, the group's pending
list never empty): Redis was killed while the source's ``XREADGROUP … >`` was
running; Redis had handed the entry to the consumer, the reply was lost, and reading
``>`` again never gives an entry twice. Here the lost reply is made exactly: another
client reads the entry under the source's own group and consumer name, then the
source's connections are killed (``CLIENT KILL``), an outage as the source sees it.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from companion.bus.redis import RedisBus
from companion.captions import CaptionEvent
from tests.support.redis_server import RedisServer
from workers.archiver.redis_source import CONSUMER, GROUP, RedisSource

NAMESPACE = "source-test"


def caption(i: int) -> CaptionEvent:
    return CaptionEvent("en", 0, True, f"final {i}", "en", 0.0, 1.0, 1.0, i, True, at=time.time())


async def publish(bus: RedisBus, i: int) -> int:
    """Publish final ``i``; its seq, as the bus gave it (once it is in the stream: the
    bus holds what it publishes during an outage and sends it when Redis answers)."""
    await bus.publish(caption(i))
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        mine = [e.seq for e in await bus.read("en", 0) if e.text == f"final {i}"]
        if mine:
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"final {i} never reached the stream")


async def delivered(source: RedisSource, want: set[int], seconds: float = 10.0) -> list[int]:
    """The seqs of batches from ``source``, in delivery order and with any repeats,
    until it has delivered ``want`` (or ``seconds`` pass)."""
    got: list[int] = []
    deadline = time.monotonic() + seconds
    while not want <= set(got) and time.monotonic() < deadline:
        batch = await source.batch(100)
        got += [d.seq for d in batch]
        await source.ack(batch)
    return got


async def test_an_entry_whose_read_reply_was_lost_comes_after_the_outage(
    redis_server: RedisServer,
) -> None:
    bus = RedisBus(redis_server.url, namespace=NAMESPACE)
    await bus.start()
    source = RedisSource(redis_server.url, NAMESPACE, ["en"])
    other = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await source.start(lambda channel, epoch: 0)
        seqs = [await publish(bus, i) for i in range(3)]
        assert set(await delivered(source, set(seqs))) == set(seqs)
        assert await source.caught_up()

        lost = await publish(bus, 3)
        # Redis carries out the source's read, and the reply goes nowhere:
        stream = f"{NAMESPACE}:captions:en"
        handed = await other.xreadgroup(GROUP, CONSUMER, {stream: ">"}, count=10)
        assert [int(i.split("-")[0]) for i, _ in handed[0][1]] == [lost]
        assert not await source.caught_up()  # pending, for a consumer that never saw it
        # ... and the source's connection is cut: an outage, as the source sees it.
        await other.client_kill_filter(_type="normal", skipme=True)

        after = await publish(bus, 4)
        got = set(await delivered(source, {lost, after}))
        assert got >= {lost, after}, f"entry {lost} never came after the outage: {sorted(got)}"
        assert await source.caught_up()
    finally:
        await other.aclose()
        await source.close()
        await bus.close()


async def test_an_outage_alone_delivers_nothing_twice(redis_server: RedisServer) -> None:
    """Preparing again after an outage re-reads only what is pending: entries already
    acknowledged do not come twice."""
    bus = RedisBus(redis_server.url, namespace=NAMESPACE + "-twice")
    await bus.start()
    source = RedisSource(redis_server.url, NAMESPACE + "-twice", ["en"])
    other = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await source.start(lambda channel, epoch: 0)
        first = [await publish(bus, i) for i in range(5)]
        assert set(await delivered(source, set(first))) == set(first)
        await other.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.1)
        second = [await publish(bus, i) for i in range(5, 8)]
        assert sorted(await delivered(source, set(second))) == sorted(second)
    finally:
        await other.aclose()
        await source.close()
        await bus.close()
