"""Replaying recordings as if live: the terminal printer, JSON Lines, paced replay."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO

import numpy as np

from companion.captions import CaptionEvent
from workers.captioner.audio import SAMPLE_RATE, AudioSource
from workers.captioner.worker import Captioner, CaptionerStats, caption_source, reader_thread


class Printer:
    """Shows captions live in a terminal; writes every event as JSON Lines if asked."""

    def __init__(self, out: IO[str], jsonl: IO[str] | None, show_partials: bool) -> None:
        self.out = out
        self.jsonl = jsonl
        self.show_partials = show_partials and out.isatty()
        self._lock = threading.Lock()
        self._partial = False

    def __call__(self, event: CaptionEvent) -> None:
        with self._lock:
            if self.jsonl is not None:
                self.jsonl.write(event.to_json() + "\n")
                self.jsonl.flush()
            if event.final:
                self._clear()
                stamp = f"[{event.channel} {event.start:7.2f}s]"
                self.out.write(f"{stamp} {event.text}\n")
            elif self.show_partials and event.text:
                self._clear()
                self.out.write(f"\x1b[2m[{event.channel}  …     ] {event.text}\x1b[0m")
                self._partial = True
            self.out.flush()

    def _clear(self) -> None:
        if self._partial:
            self.out.write("\r\x1b[K")
            self._partial = False


def replay(
    captioners: list[tuple[Captioner, AudioSource]], printer: Printer
) -> list[CaptionerStats]:
    """Caption each source in its own thread, all at once, until every one ends."""
    in_threads([partial(caption_source, c, s, printer) for c, s in captioners])
    return [c.stats for c, _ in captioners]


@dataclass
class Collector:
    """Keeps events in memory for a benchmark."""

    events: list[CaptionEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: CaptionEvent) -> None:
        with self.lock:
            self.events.append(event)


def paced_array(
    audio: np.ndarray, speed: float, chunk_seconds: float = 0.1
) -> Iterator[np.ndarray]:
    """An in-memory recording delivered at ``speed`` x real time."""
    step = int(SAMPLE_RATE * chunk_seconds)
    began = time.monotonic()
    for i in range(0, len(audio), step):
        if speed > 0:
            delay = began + (i + step) / SAMPLE_RATE / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield audio[i : i + step]


def run_channels(jobs: list[tuple[Captioner, np.ndarray]], speed: float) -> list[Collector]:
    """Replay in-memory recordings on several captioners at once (a benchmark)."""
    collectors = [Collector() for _ in jobs]

    def run(captioner: Captioner, audio: np.ndarray, sink: Collector) -> None:
        chunks = paced_array(audio, speed)
        if speed > 0:
            chunks = reader_thread(chunks, captioner.stats)
        captioner.run(chunks, sink)

    in_threads([partial(run, c, a, s) for (c, a), s in zip(jobs, collectors, strict=True)])
    return collectors


def in_threads(calls: list[Callable[[], None]]) -> None:
    """Run each call in its own thread, wait for all, re-raise the first failure here."""
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,), daemon=True) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
