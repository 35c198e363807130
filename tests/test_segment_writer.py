"""The segment writer on a MemoryBus with a clock of the test's own: no server, no sleep
but the one that lets a lease lapse (the bus keeps leases on its own clock)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.segments import GRACE, Latest, Segment, window_of
from service.segments import SegmentWriter

T0 = 1_800_000_000.0
L = 2.0
N0 = window_of(T0, L)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def final(text: str) -> CaptionEvent:
    return CaptionEvent("en", 0, True, text, "en", 0.0, 1.0, 1.0, 0)


async def say(bus: MemoryBus, text: str, *writers: SegmentWriter) -> CaptionEvent:
    """Publish a final; each writer hears it as its hub would."""
    await bus.publish(final(text))
    event = (await bus.read("en", after=0))[-1]
    for writer in writers:
        writer.hear(event)
    return event


async def stored(bus: MemoryBus, n: int) -> Segment | None:
    doc = await bus.get_segment("en", n)
    return None if doc is None else Segment.from_json(doc)


async def test_the_holder_publishes_each_closed_window_once_empty_ones_too() -> None:
    bus, clock = MemoryBus(), Clock(T0 + 0.1)
    writer = SegmentWriter(bus, "en", L, "a", clock=clock)
    await writer.step()
    assert writer.holding and writer.latest is None  # nothing closed yet
    await say(bus, "one", writer)
    clock.now = T0 + 1.9
    await say(bus, "two", writer)
    clock.now = T0 + L + GRACE - 0.01
    await writer.step()
    assert await stored(bus, N0) is None  # not before the grace is over
    await say(bus, "three", writer)  # arrived in window N0 + 1
    clock.now = T0 + L + GRACE
    await writer.step()
    first = await stored(bus, N0)
    assert first is not None and [c.text for c in first.captions] == ["one", "two"]
    assert writer.latest == Latest(N0, N0, L, 2)
    clock.now = T0 + 3 * L + GRACE
    await writer.step()
    second, third = await stored(bus, N0 + 1), await stored(bus, N0 + 2)
    assert second is not None and [c.text for c in second.captions] == ["three"]
    assert third is not None and third.captions == () and third.seq == 3  # empty, published
    assert Latest.from_json(await bus.get_latest_segment("en") or "") == Latest(N0 + 2, N0, L, 3)
    await writer.step()  # nothing new has closed: nothing is written again
    assert writer.written == 3


async def test_a_standby_follows_and_takes_over_with_no_final_twice_or_skipped() -> None:
    bus, clock = MemoryBus(), Clock(T0 + 0.1)
    a = SegmentWriter(bus, "en", L, "a", clock=clock, lease_seconds=0.05)
    b = SegmentWriter(bus, "en", L, "b", clock=clock, lease_seconds=0.05)
    await a.step()
    await b.step()
    assert a.holding and not b.holding
    said = [await say(bus, f"f{i}", a, b) for i in range(3)]
    clock.now = T0 + L + GRACE
    await a.step()
    await b.step()
    assert b.latest == a.latest == Latest(N0, N0, L, 3)  # the standby serves what is stored
    assert b.assembler.pending == {}  # and forgets what is published
    # a dies (no more steps) with two finals heard but not published
    said += [await say(bus, f"g{i}", a, b) for i in range(2)]
    clock.now = T0 + 4 * L + GRACE  # windows N0 + 1 .. N0 + 3 have closed meanwhile
    await asyncio.sleep(0.1)  # a's lease lapses
    said.append(await say(bus, "h", b))  # arrives in window N0 + 4
    await b.step()
    assert b.holding and b.latest == Latest(N0 + 3, N0, L, 5)  # caught up
    clock.now = T0 + 5 * L + GRACE
    await b.step()
    segments = [await stored(bus, n) for n in range(N0, N0 + 5)]
    assert all(s is not None for s in segments)
    seqs = [c.seq for s in segments if s is not None for c in s.captions]
    assert seqs == [e.seq for e in said]  # each once, in order, none skipped
    assert {s.epoch for s in segments if s is not None} == {T0}  # one run
    # a comes back: refused, it follows; nothing of it overwrites b's segments
    await a.step()
    assert not a.holding and a.latest == b.latest


async def test_a_new_holder_reads_back_finals_it_never_heard() -> None:
    bus, clock = MemoryBus(), Clock(T0 + 0.1)
    a = SegmentWriter(bus, "en", L, "a", clock=clock, lease_seconds=0.05)
    await a.step()
    await say(bus, "heard by a", a)
    clock.now = T0 + L + GRACE
    await a.step()
    await say(bus, "nobody heard this")  # a died; b was not following yet
    await asyncio.sleep(0.1)
    b = SegmentWriter(bus, "en", L, "b", clock=clock, lease_seconds=0.05)
    clock.now = T0 + 2 * L + GRACE
    await b.step()  # takes over at T0 + 4.25: read back, it arrives now, in N0 + 2
    assert (await stored(bus, N0 + 1)) is not None
    clock.now = T0 + 3 * L + GRACE
    await b.step()
    segment = await stored(bus, N0 + 2)
    assert segment is not None and [c.text for c in segment.captions] == ["nobody heard this"]


async def test_a_writer_refused_a_segment_goes_on_from_the_stored_copy() -> None:
    bus, clock = MemoryBus(), Clock(T0 + 0.1)
    writer = SegmentWriter(bus, "en", L, "a", clock=clock)
    await writer.step()
    event = await say(bus, "mine", writer)
    other = Segment("en", N0, L, T0, seq=event.seq, captions=())  # someone else's copy
    assert await bus.put_segment("en", N0, other.to_json(), 60)
    clock.now = T0 + L + GRACE
    await writer.step()
    assert await stored(bus, N0) == other  # never overwritten
    assert writer.written == 0 and writer.latest == Latest(N0, N0, L, event.seq)


async def test_partials_and_other_channels_are_not_segmented() -> None:
    bus, clock = MemoryBus(), Clock(T0 + 0.1)
    writer = SegmentWriter(bus, "en", L, "a", clock=clock)
    await writer.step()
    writer.hear(replace(final("partial"), seq=1, final=False))
    writer.hear(replace(final("   "), seq=2))
    clock.now = T0 + L + GRACE
    await writer.step()
    segment = await stored(bus, N0)
    assert segment is not None and segment.captions == ()
