"""The bus contract, run against MemoryBus and a real RedisBus; then Redis outages.

Every Redis here is a private ``redis-server`` on a free port (never the machine's
own on 6379), started per module and polled until it answers PING.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from companion.bus import Bus, MemoryBus, StateEntry, open_bus
from companion.bus.redis import RedisBus
from companion.captions import CaptionEvent
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

# scripts/test installs redis-server; without it the Redis tests fail, they are not skipped.

TIMEOUT = 20.0


def ev(text: str, channel: str = "en", final: bool = True) -> CaptionEvent:
    return CaptionEvent(
        channel=channel,
        seq=0,
        final=final,
        text=text,
        lang="en",
        start=0.0,
        end=1.0,
        emitted=0.0,
        utterance=0,
    )


MakeBus = Callable[..., Awaitable[Bus]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    """Builds started buses of the parametrized backend; Redis ones share a namespace.

    Only the Redis backend starts the module's redis-server (``-m "not redis"`` needs none).
    """
    redis_server: RedisServer | None = None
    if request.param == "redis":
        redis_server = request.getfixturevalue("redis_server")
    namespace = f"test-{uuid.uuid4().hex}"
    buses: list[Bus] = []

    async def make(**kwargs: int) -> Bus:
        bus: Bus
        if request.param == "memory":
            bus = MemoryBus(max_len=kwargs.get("max_len", 10_000))
        else:
            assert redis_server is not None
            bus = RedisBus(redis_server.url, namespace=namespace, **kwargs)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def bus(make_bus: MakeBus) -> Bus:
    return await make_bus()


async def subscribed(bus: Bus) -> None:
    """Wait until a Redis bus's state_changes iterator has subscribed (memory: at once)."""
    if isinstance(bus, RedisBus):
        redis_bus = bus

        async def listening() -> bool:
            counts = await redis_bus._client.pubsub_numsub(redis_bus._keys.changes)
            return bool(counts and counts[0][1] > 0)

        await until(listening, "state_changes to subscribe", timeout=TIMEOUT)


# -- contract: both backends ----------------------------------------------------------


async def test_seq_counts_per_channel(bus: Bus) -> None:
    for i in range(3):
        await bus.publish(ev(f"en{i}", "en"))
        if i < 2:
            await bus.publish(ev(f"ko{i}", "ko"))
    en = await bus.read("en", 0)
    ko = await bus.read("ko", 0)
    assert [(e.seq, e.text) for e in en] == [(1, "en0"), (2, "en1"), (3, "en2")]
    assert [(e.seq, e.text) for e in ko] == [(1, "ko0"), (2, "ko1")]
    assert en[0] == replace(ev("en0"), seq=1)


async def test_read_after_is_exclusive_and_limited(bus: Bus) -> None:
    for i in range(1, 11):
        await bus.publish(ev(f"t{i}"))
    assert [e.seq for e in await bus.read("en", 4)] == [5, 6, 7, 8, 9, 10]
    assert [e.text for e in await bus.read("en", 4, limit=3)] == ["t5", "t6", "t7"]
    assert await bus.read("en", 10) == []
    assert await bus.read("nobody", 0) == []


async def test_recent_finals_gives_last_finals_oldest_first(bus: Bus) -> None:
    for i in range(1, 451):
        await bus.publish(ev(f"t{i}", final=i % 3 == 0))
    finals = await bus.recent_finals("en", 120)  # crosses Redis' pages of 200 entries
    assert [e.seq for e in finals] == list(range(93, 451, 3))
    assert all(e.final for e in finals)
    assert [e.seq for e in await bus.recent_finals("en", 2)] == [447, 450]
    assert len(await bus.recent_finals("en", 1000)) == 150
    assert await bus.recent_finals("nobody", 5) == []


async def test_follow_gives_backlog_then_live_without_gap_or_duplicate(bus: Bus) -> None:
    for i in range(1, 6):
        await bus.publish(ev(f"t{i}"))
    total = 60

    async def collect() -> list[int]:
        seqs = []
        async for event in bus.follow("en", 2):
            seqs.append(event.seq)
            if event.seq == total:
                return seqs
        return seqs

    async def publish_more() -> None:
        for i in range(6, total + 1):
            await bus.publish(ev(f"t{i}"))
            if i % 7 == 0:
                await asyncio.sleep(0)

    follower = asyncio.create_task(collect())
    await asyncio.wait_for(asyncio.gather(follower, publish_more()), TIMEOUT)
    assert follower.result() == list(range(3, total + 1))


async def test_follow_waits_for_the_first_event(bus: Bus) -> None:
    events = bus.follow("ko", 0)
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.05)
    assert not first.done()
    await bus.publish(ev("hello", "ko"))
    event = await asyncio.wait_for(first, TIMEOUT)
    assert (event.seq, event.text) == (1, "hello")
    await events.aclose()  # type: ignore[attr-defined]


async def test_followers_stop_when_cancelled_however_early(bus: Bus) -> None:
    """A follower cancelled a few milliseconds after it began (a viewer that left at
    once) stops: redis-py 8.1 swallowed such cancellations while it connected, and the
    follower read on forever (4 to 11 of 40 hung before ``raise_if_cancelled``)."""

    async def drain(follower: AsyncIterator[object]) -> None:
        async for _ in follower:
            pass

    hung = 0
    for i in range(60):
        for follower in (bus.follow("en", 0), bus.state_changes()):
            task = asyncio.create_task(drain(follower))
            await asyncio.sleep((1, 2, 3, 5)[i % 4] / 1000)
            task.cancel()
            _, pending = await asyncio.wait({task}, timeout=3.0)
            if pending:
                hung += 1
                task.cancel()  # a second cancellation does end it: do not leak it
                await asyncio.wait({task}, timeout=3.0)
            else:
                assert task.cancelled()
    assert hung == 0


async def test_max_len_bounds_the_stream(make_bus: MakeBus) -> None:
    bus = await make_bus(max_len=10)
    for i in range(1, 501):
        await bus.publish(ev(f"t{i}"))
    held = await bus.read("en", 0, limit=1000)
    assert held[-1].seq == 500
    assert [e.seq for e in held] == list(range(held[0].seq, 501))
    if isinstance(bus, RedisBus):
        # MAXLEN ~ trims whole stream nodes (100 entries by default): at least 10 kept.
        assert 10 <= len(held) <= 110
    else:
        assert len(held) == 10


async def test_state_set_get_and_changes(bus: Bus) -> None:
    changes = bus.state_changes()
    first = asyncio.ensure_future(anext(changes))
    await subscribed(bus)
    await bus.set_state("onair:booth-en", {"interpreter": "A", "note": "통역"})
    await bus.set_state("channels", {"ids": ["en", "ko"]})
    assert await asyncio.wait_for(first, TIMEOUT) == (
        "onair:booth-en",
        {"interpreter": "A", "note": "통역"},
    )
    assert await asyncio.wait_for(anext(changes), TIMEOUT) == ("channels", {"ids": ["en", "ko"]})
    assert await bus.get_state() == {
        "onair:booth-en": {"interpreter": "A", "note": "통역"},
        "channels": {"ids": ["en", "ko"]},
    }
    await changes.aclose()  # type: ignore[attr-defined]


# -- Redis: several processes' view ---------------------------------------------------


@pytest.mark.redis
async def test_state_changes_reach_another_redis_bus(redis_server: RedisServer) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    writer, reader = RedisBus(redis_server.url, namespace), RedisBus(redis_server.url, namespace)
    await writer.start()
    await reader.start()
    try:
        changes = reader.state_changes()
        first = asyncio.ensure_future(anext(changes))
        await subscribed(reader)
        await writer.set_state("broadcast:en", {"status": "live"})
        assert await asyncio.wait_for(first, TIMEOUT) == ("broadcast:en", {"status": "live"})
        assert await reader.get_state() == {"broadcast:en": {"status": "live"}}
        await changes.aclose()
    finally:
        await writer.close()
        await reader.close()


@pytest.mark.redis
async def test_two_redis_buses_get_distinct_consecutive_seqs(redis_server: RedisServer) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    a, b = RedisBus(redis_server.url, namespace), RedisBus(redis_server.url, namespace)
    await a.start()
    await b.start()
    try:

        async def publish(bus: RedisBus, name: str) -> None:
            for i in range(50):
                await bus.publish(ev(f"{name}{i}"))

        await asyncio.gather(publish(a, "a"), publish(b, "b"))
        events = await a.read("en", 0)
        assert [e.seq for e in events] == list(range(1, 101))
        for name in "ab":
            assert [e.text for e in events if e.text[0] == name] == [
                f"{name}{i}" for i in range(50)
            ]
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
def test_a_redis_server_that_cannot_start_says_why() -> None:
    """The tests' own redis-server (tests/support) repeats what redis-server said."""
    with pytest.raises(RuntimeError, match="no-such-directive"):
        RedisServer(options=["--no-such-directive", "yes"]).start()


def test_open_bus_picks_the_backend(redis_server: RedisServer) -> None:
    assert isinstance(open_bus(None), MemoryBus)
    assert isinstance(open_bus(redis_server.url, namespace="x"), RedisBus)


@pytest.mark.redis
async def test_state_changes_find_lost_announcements_oldest_first(
    redis_server: RedisServer,
) -> None:
    """Two changes whose pub/sub messages were lost (written to the hash without one),
    the later first in the hash: the hash check yields them, in the order they were made."""
    bus = RedisBus(redis_server.url, namespace=f"test-{uuid.uuid4().hex}")
    await bus.start()
    try:
        changes = bus.state_changes()
        first = asyncio.ensure_future(anext(changes))
        await subscribed(bus)
        lost = {"b": '{"version":7,"value":{"n":2}}', "a": '{"version":6,"value":{"n":1}}'}
        await bus._client.hset(bus._keys.state, mapping=lost)
        got = [
            await asyncio.wait_for(first, TIMEOUT),
            await asyncio.wait_for(anext(changes), TIMEOUT),
        ]
        assert got == [("a", {"n": 1}), ("b", {"n": 2})]
        await changes.aclose()
    finally:
        await bus.close()


async def test_compare_and_set_says_unavailable_while_redis_is_down() -> None:
    from companion.errors import BusUnavailableError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", namespace="down")
    try:
        with pytest.raises(BusUnavailableError):
            await bus.get_state_entries(["booth:x"])
        with pytest.raises(BusUnavailableError):
            await bus.set_state_if({"booth:x": 0}, {"booth:x": {"live": "kim"}})
        assert not bus.health().connected
    finally:
        await bus.close()


# -- Redis outages ------------------------------------------------------------------


@pytest.mark.redis
async def test_publish_buffers_while_redis_is_down_and_flushes_in_order(
    outage_server: RedisServer,
) -> None:
    bus = RedisBus(outage_server.url, namespace="outage")
    await bus.start()
    try:
        assert bus.health().connected
        outage_server.stop()
        for i in range(20):
            await bus.publish(ev(f"t{i}"))  # never raises
        health = bus.health()
        assert (health.connected, health.buffered, health.dropped) == (False, 20, 0)
        assert health.last_error
        outage_server.start()  # an empty Redis on the same port
        await until(lambda: bus.health().buffered == 0, "the buffer to drain", timeout=TIMEOUT)
        events = await bus.read("en", 0)
        assert [(e.seq, e.text) for e in events] == [(i + 1, f"t{i}") for i in range(20)]
        await until(lambda: bus.health().connected, "connected again", timeout=TIMEOUT)
    finally:
        await bus.close()


@pytest.mark.redis
async def test_buffer_limit_drops_the_oldest_and_counts_them(outage_server: RedisServer) -> None:
    bus = RedisBus(outage_server.url, namespace="outage", buffer_limit=5)
    await bus.start()
    try:
        outage_server.stop()
        for i in range(8):
            await bus.publish(ev(f"t{i}"))
        health = bus.health()
        assert (health.buffered, health.dropped) == (5, 3)
        outage_server.start()
        await until(lambda: bus.health().buffered == 0, "the buffer to drain", timeout=TIMEOUT)
        assert [e.text for e in await bus.read("en", 0)] == [f"t{i}" for i in range(3, 8)]
        assert bus.health().dropped == 3
    finally:
        await bus.close()


@pytest.mark.redis
async def test_a_full_buffer_drops_partials_before_finals(outage_server: RedisServer) -> None:
    bus = RedisBus(outage_server.url, namespace="outage", buffer_limit=5)
    await bus.start()
    try:
        outage_server.stop()
        for text in ("f0", "p1", "f2", "p3", "f4", "f5", "f6"):  # the partials make room
            await bus.publish(ev(text, final=text.startswith("f")))
        assert (bus.health().buffered, bus.health().dropped) == (5, 2)
        outage_server.start()
        await until(lambda: bus.health().buffered == 0, "the buffer to drain", timeout=TIMEOUT)
        assert [e.text for e in await bus.read("en", 0)] == ["f0", "f2", "f4", "f5", "f6"]
    finally:
        await bus.close()


@pytest.mark.redis
async def test_a_retry_after_a_lost_reply_appends_nothing_twice(
    redis_server: RedisServer,
) -> None:
    """Redis ran the append, then the reply was lost (a timeout): the publisher retries
    the same event, and the stream still holds it once, under its first seq."""
    bus = RedisBus(redis_server.url, namespace=f"lost-{uuid.uuid4().hex}")
    append = bus._append
    lost = [1]

    async def reply_lost_once(keys: list[str], args: list[object]) -> object:
        seq = await append(keys=keys, args=args)
        if lost[0]:
            lost[0] -= 1
            raise RedisTimeoutError("Timeout reading from socket")
        return seq

    bus._append = reply_lost_once  # type: ignore[assignment]
    await bus.start()
    try:
        await bus.publish(ev("once"))  # appended; the reply lost: buffered, retried
        await until(lambda: bus.health().buffered == 0, "the retry", timeout=TIMEOUT)
        await bus.publish(ev("next"))
        assert [(e.seq, e.text) for e in await bus.read("en", 0)] == [(1, "once"), (2, "next")]
    finally:
        await bus.close()


@pytest.mark.redis
async def test_follow_and_state_changes_survive_a_restart(outage_server: RedisServer) -> None:
    bus = RedisBus(outage_server.url, namespace="outage")
    watcher = RedisBus(outage_server.url, namespace="outage")
    await bus.start()
    await watcher.start()
    seen: list[str] = []

    async def follow() -> None:
        async for event in watcher.follow("en", 0):
            seen.append(event.text)

    follower = asyncio.create_task(follow())
    changes = watcher.state_changes()
    try:
        for i in range(3):
            await bus.publish(ev(f"a{i}"))
        await until(lambda: len(seen) == 3, "the first events", timeout=TIMEOUT)
        outage_server.stop()
        await bus.publish(ev("b0"))  # buffered
        outage_server.start()  # empty: numbering starts again at 1, with a new epoch
        await bus.publish(ev("b1"))
        await bus.publish(ev("b2"))
        await until(lambda: len(seen) == 6, "the events after the restart", timeout=TIMEOUT)
        assert seen == ["a0", "a1", "a2", "b0", "b1", "b2"]

        first = asyncio.ensure_future(anext(changes))
        await subscribed(watcher)
        outage_server.stop()
        outage_server.start()
        # Pub/sub (once subscribed again) or the next reconciliation with the hash reports it.
        await bus.set_state("channels", {"ids": ["en"]})
        assert await asyncio.wait_for(first, TIMEOUT) == ("channels", {"ids": ["en"]})
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await changes.aclose()
        await bus.close()
        await watcher.close()


async def test_reads_say_the_bus_is_unavailable_while_redis_is_down() -> None:
    from companion.errors import BusUnavailableError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", namespace="down")
    try:
        with pytest.raises(BusUnavailableError, match="Redis is unreachable"):
            await bus.read("en", 0)
        with pytest.raises(BusUnavailableError):
            await bus.recent_finals("en", 5)
    finally:
        await bus.close()


# -- shared counters: both backends ---------------------------------------------------


async def test_counter_adds_reads_and_is_shared(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    assert await a.add_to_counter("quota:2026-05-14", 0, 60) == 0
    assert await a.add_to_counter("quota:2026-05-14", 1, 60) == 1
    assert await a.add_to_counter("quota:2026-05-14", 100, 60) == 101
    assert await a.add_to_counter("quota:2026-05-15", 1, 60) == 1  # another key
    if isinstance(a, RedisBus):  # two processes' buses see one counter
        assert await b.add_to_counter("quota:2026-05-14", -1, 60) == 100
        assert await a.add_to_counter("quota:2026-05-14", 0, 60) == 100


async def test_counter_is_atomic_under_concurrent_adds(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    await asyncio.gather(*(bus.add_to_counter("n", 1, 60) for bus in (a, b) for _ in range(100)))
    expected = 200 if isinstance(a, RedisBus) else 100
    assert await a.add_to_counter("n", 0, 60) == expected


async def test_counter_expires_after_its_ttl(bus: Bus) -> None:
    assert await bus.add_to_counter("short", 5, 0.05) == 5
    await asyncio.sleep(0.15)
    assert await bus.add_to_counter("short", 1, 60) == 1


async def test_counter_says_unavailable_while_redis_is_down() -> None:
    from companion.errors import BusUnavailableError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", namespace="down")
    try:
        with pytest.raises(BusUnavailableError):
            await bus.add_to_counter("n", 1, 60)
        assert not bus.health().connected
    finally:
        await bus.close()


# -- leases: both backends ---------------------------------------------------------------


async def test_a_lease_has_one_holder_until_it_lapses(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a  # two processes, or one
    assert await a.claim("poster:en", "one", 0.2)
    assert await a.claim("poster:en", "one", 0.2)  # renewed by its holder
    assert not await b.claim("poster:en", "two", 0.2)  # refused while held
    assert await b.claim("poster:ko", "two", 0.2)  # another lease is free
    await asyncio.sleep(0.35)
    assert await b.claim("poster:en", "two", 60)  # lapsed: the next claim wins
    assert not await a.claim("poster:en", "one", 60)


async def test_concurrent_claims_have_exactly_one_winner(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a
    claims = [bus.claim("tracker", f"owner-{i}", 60) for i, bus in enumerate([a, b] * 10)]
    assert sum(await asyncio.gather(*claims)) == 1


async def test_a_crowd_of_reads_queues_for_the_pool_and_never_fails(make_bus: MakeBus) -> None:
    """600 viewers joining at once each read the channel's backlog: on Redis, far more
    reads than the pool has connections (redis-py's default pool raised
    MaxConnectionsError past 100, and the bus took that for an outage). They wait
    their turn; every one is answered and the bus stays up."""
    bus = await make_bus()
    for n in range(30):
        await bus.publish(ev(f"e{n}"))
    answers = await asyncio.gather(*(bus.recent_finals("en", 20) for _ in range(600)))
    assert all([e.text for e in a] == [f"e{n}" for n in range(10, 30)] for a in answers)
    reads = await asyncio.gather(*(bus.read("en", after=25) for _ in range(600)))
    assert all([e.seq for e in r] == [26, 27, 28, 29, 30] for r in reads)
    assert bus.health().connected


async def test_a_deleted_state_document_is_gone(bus: Bus) -> None:
    await bus.set_state("listeners:gone", {"channels": {"en": 3}, "updated": 1.0})
    await bus.set_state("listeners:kept", {"channels": {"en": 1}, "updated": 1.0})
    await bus.delete_state("listeners:gone")
    await bus.delete_state("never:there")  # no error
    state = await bus.get_state()
    assert "listeners:gone" not in state and state["listeners:kept"]["channels"] == {"en": 1}


# -- compare and set: both backends ---------------------------------------------------------


async def test_set_state_if_stores_only_over_the_versions_expected(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a  # two processes, or one
    assert await a.get_state_entries(["booth:x", "floor"]) == {
        "booth:x": StateEntry(0, None),
        "floor": StateEntry(0, None),
    }
    stored = await a.set_state_if({"booth:x": 0}, {"booth:x": {"live": "kim", "note": "통역"}})
    assert stored is not None
    first = stored["booth:x"]["version"]
    assert first > 0 and stored == {"booth:x": {"version": first, "live": "kim", "note": "통역"}}
    assert (await b.get_state_entries(["booth:x"]))["booth:x"] == StateEntry(
        first, stored["booth:x"]
    )
    assert (await b.get_state())["booth:x"] == stored["booth:x"]
    # A writer that read before that write is refused, and nothing changes.
    assert await b.set_state_if({"booth:x": 0}, {"booth:x": {"live": "lee"}}) is None
    assert (await a.get_state_entries(["booth:x"]))["booth:x"].version == first
    # A plain write moves the version too: a compare-and-set over the old one is refused.
    await b.set_state("booth:x", {"live": "park"})
    moved = (await a.get_state_entries(["booth:x"]))["booth:x"]
    assert moved.version > first and moved.value == {"live": "park"}
    assert await a.set_state_if({"booth:x": first}, {"booth:x": {"live": "kim"}}) is None
    # All or none: a key only compared (the floor) that moved refuses the whole write.
    await a.set_state("floor", {"lang": "ko"})
    floor = (await a.get_state_entries(["floor"]))["floor"].version
    both = {"booth:x": {"live": "lee", "version": 999}, "channel:en": {}}
    assert (
        await b.set_state_if({"booth:x": moved.version, "channel:en": 0, "floor": 0}, both) is None
    )
    assert (await a.get_state())["booth:x"] == {"live": "park"}
    assert "channel:en" not in await a.get_state()
    expected = {"booth:x": moved.version, "channel:en": 0, "floor": floor}
    stored = await b.set_state_if(expected, both)
    assert stored is not None
    version = stored["booth:x"]["version"]  # the bus's, not the one the value carried
    assert version > floor and version != 999
    assert stored == {
        "booth:x": {"version": version, "live": "lee"},
        "channel:en": {"version": version + 1},
    }
    assert await a.get_state_entries(["booth:x", "channel:en"]) == {
        key: StateEntry(doc["version"], doc) for key, doc in stored.items()
    }
    with pytest.raises(ValueError, match="nothing to store"):
        await a.set_state_if({"floor": floor}, {})
    with pytest.raises(ValueError, match="without expecting"):
        await a.set_state_if({"floor": floor}, {"booth:y": {"live": None}})


async def test_a_transaction_is_announced_in_order_with_nothing_between(
    make_bus: MakeBus,
) -> None:
    writer = await make_bus()
    reader = await make_bus() if isinstance(writer, RedisBus) else writer
    changes = reader.state_changes()
    first = asyncio.ensure_future(anext(changes))
    await subscribed(reader)
    docs = {"boothlog": {"events": []}, "booth:x": {"live": "kim"}, "channel:en": {"carries": "x"}}

    async def racer() -> None:  # plain writes racing the transaction
        for n in range(20):
            await writer.set_state("listeners:r", {"n": n})

    race = asyncio.ensure_future(racer())
    stored = await writer.set_state_if(dict.fromkeys(docs, 0), docs)
    await race
    assert stored is not None
    got = [await asyncio.wait_for(first, TIMEOUT)]
    while len(got) < 21 + 2:
        got.append(await asyncio.wait_for(anext(changes), TIMEOUT))
    at = got.index(("boothlog", stored["boothlog"]))
    assert got[at : at + 3] == list(stored.items())
    versions = [doc["version"] for doc in stored.values()]
    assert versions == [versions[0], versions[0] + 1, versions[0] + 2]
    await changes.aclose()  # type: ignore[attr-defined]


async def test_concurrent_compare_and_sets_have_exactly_one_winner(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a
    racers = [
        bus.set_state_if({"booth:x": 0}, {"booth:x": {"live": f"i{i}"}})
        for i, bus in enumerate([a, b] * 10)
    ]
    won = [stored for stored in await asyncio.gather(*racers) if stored is not None]
    assert len(won) == 1
    assert (await b.get_state())["booth:x"] == won[0]["booth:x"]


async def test_read_modify_write_with_retries_loses_no_update(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a
    conflicts = 0

    async def add_one(bus: Bus) -> None:
        nonlocal conflicts
        while True:
            entry = (await bus.get_state_entries(["count"]))["count"]
            n = entry.value["n"] if entry.value else 0
            if await bus.set_state_if({"count": entry.version}, {"count": {"n": n + 1}}):
                return
            conflicts += 1

    await asyncio.gather(*(add_one(bus) for bus in [a, b] * 25))
    assert (await a.get_state())["count"]["n"] == 50
    if isinstance(a, RedisBus):
        assert conflicts > 0  # they did race


# -- segments: both backends -------------------------------------------------------------


async def test_a_segment_is_stored_once_and_never_overwritten(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a  # two processes, or one
    assert await a.get_segment("en", 7) is None
    assert await a.put_segment("en", 7, '{"n": 7, "text": "첫째"}', 60)
    assert not await b.put_segment("en", 7, '{"n": 7, "text": "other"}', 60)  # refused
    assert await b.get_segment("en", 7) == '{"n": 7, "text": "첫째"}'  # exactly as stored
    assert await b.get_segment("ko", 7) is None  # per channel
    assert await b.put_segment("ko", 7, "{}", 60)


async def test_concurrent_segment_writers_have_exactly_one_winner(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a
    puts = [bus.put_segment("en", 1, f"w{i}", 60) for i, bus in enumerate([a, b] * 10)]
    won = await asyncio.gather(*puts)
    assert sum(won) == 1
    assert await a.get_segment("en", 1) == f"w{won.index(True)}"


async def test_segments_expire_after_their_ttl(bus: Bus) -> None:
    assert await bus.put_segment("en", 1, "x", 0.05)
    assert await bus.set_latest_segment("en", 1, "latest", 0.05)
    await asyncio.sleep(0.1)
    assert await bus.get_segment("en", 1) is None
    assert await bus.get_latest_segment("en") is None
    assert await bus.put_segment("en", 1, "y", 60)  # gone, so it may be written again
    assert await bus.set_latest_segment("en", 0, "again", 60)


async def test_the_latest_segment_only_moves_forward(make_bus: MakeBus) -> None:
    a = await make_bus()
    b = await make_bus() if isinstance(a, RedisBus) else a
    assert await a.get_latest_segment("en") is None
    assert await a.set_latest_segment("en", 10, '{"segment": 10}', 60)
    assert await b.get_latest_segment("en") == '{"segment": 10}'
    assert not await b.set_latest_segment("en", 9, '{"segment": 9}', 60)  # a stale writer
    assert not await b.set_latest_segment("en", 10, '{"segment": 10, "x": 1}', 60)
    assert await b.set_latest_segment("en", 11, '{"segment": 11}', 60)
    assert await a.get_latest_segment("en") == '{"segment": 11}'
    assert await a.get_latest_segment("ko") is None


async def test_segments_say_unavailable_while_redis_is_down() -> None:
    from companion.errors import BusUnavailableError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", namespace="down")
    try:
        for call in (
            bus.put_segment("en", 1, "x", 60),
            bus.get_segment("en", 1),
            bus.set_latest_segment("en", 1, "x", 60),
            bus.get_latest_segment("en"),
        ):
            with pytest.raises(BusUnavailableError):
                await call
    finally:
        await bus.close()
