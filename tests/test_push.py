"""The push source behind ``source = "console"``: order, a bounded queue, silence, close,
and the relay that feeds it from the bus."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from companion import push
from companion.aio import running
from companion.bus.memory import MemoryBus
from companion.push import PushSource, relay
from tests.support.waiting import until
from workers.captioner import audio
from workers.captioner.live import _chunks


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def ticking(step: float) -> Callable[[], float]:
    """A clock that moves ``step`` seconds each time it is read."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_the_sample_rate_is_the_captioners() -> None:
    assert push.SAMPLE_RATE == audio.SAMPLE_RATE


def test_frames_come_out_in_order_as_float32() -> None:
    source = PushSource("booth-en")
    source.feed(pcm(0, 16384))
    source.feed(pcm(-32768, 32767))
    chunk = next(source.chunks())
    assert chunk.dtype == np.float32
    assert chunk.tolist() == pytest.approx([0.0, 0.5, -1.0, 32767 / 32768])
    assert (source.fed, source.dropped) == (2, 0)


def test_a_full_queue_drops_the_oldest_and_counts() -> None:
    source = PushSource("booth-en", max_queued=3)
    for value in range(5):
        source.feed(pcm(value))
    chunk = next(source.chunks())
    assert (chunk * 32768).round().tolist() == [2, 3, 4]
    assert (source.fed, source.dropped) == (5, 2)


def test_silence_keeps_the_clock_going_while_nothing_comes() -> None:
    source = PushSource("booth-en", idle=0.001, clock=ticking(0.3))
    chunks = source.chunks()
    silence = next(chunks)
    assert len(silence) == int(0.3 * push.SAMPLE_RATE)
    assert not silence.any()
    source.feed(pcm(1000))
    assert (next(chunks) * 32768).round().tolist() == [1000]


def test_a_long_stall_yields_at_most_max_silence() -> None:
    source = PushSource("booth-en", idle=0.001, clock=ticking(60.0))
    assert len(next(source.chunks())) == int(push.MAX_SILENCE_SECONDS * push.SAMPLE_RATE)


def test_close_ends_the_iterator_after_what_was_queued() -> None:
    source = PushSource("booth-en")
    source.feed(pcm(7))
    source.close()
    assert not source.feed(pcm(8))
    chunks = list(source.chunks())
    assert [(c * 32768).round().tolist() for c in chunks] == [[7]]


def test_close_wakes_a_waiting_reader() -> None:
    source = PushSource("booth-en", idle=30.0)
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.extend(len(c) for c in source.chunks()))
    reader.start()
    source.close()
    reader.join(timeout=5)
    assert not reader.is_alive() and got == []


def test_a_frame_of_half_a_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        PushSource("booth-en").feed(b"\x00\x01\x02")


def test_a_console_spec_reads_the_push_source_until_stopped() -> None:
    source = PushSource("booth-en", idle=0.001)
    source.feed(pcm(5, 6))
    stop = threading.Event()
    chunks = _chunks("console", 1.0, False, stop, source)
    assert len(next(chunks)) == 2
    stop.set()
    assert list(chunks) == []


async def test_the_relay_feeds_the_booths_frames_from_the_live_edge_on() -> None:
    """Frames published before the relay started are not heard; then each of the booth's
    own is fed in order (another booth's are not), and an odd frame is skipped."""
    bus = MemoryBus()
    bus.publish_audio("booth-en", pcm(1))  # before: not replayed
    source = PushSource("booth-en")
    async with running(relay(bus, "booth-en", source)):
        await until(lambda: source.fed or bus.publish_audio("booth-en", pcm(2)), "the relay")
        fed = source.fed
        for frame in (pcm(3), b"\x00", pcm(4, 5)):
            bus.publish_audio("booth-en", frame)
        bus.publish_audio("booth-ko", pcm(9))
        await until(lambda: source.fed == fed + 2, "the booth's two good frames")
    values = (next(source.chunks()) * 32768).round().astype(int).tolist()
    assert values == [2, 3, 4, 5]


async def test_the_relay_stops_when_the_source_is_closed() -> None:
    bus = MemoryBus()
    source = PushSource("booth-en")
    source.close()
    async with running(relay(bus, "booth-en", source)) as (task,):
        await until(lambda: bus.publish_audio("booth-en", pcm(1)) or task.done(), "the end")
