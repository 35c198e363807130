"""Replaying in-memory recordings on captioners at once, for the benchmarks.

``run_channels`` paces each recording (``paced_array``) into its own captioner, all in
parallel, and keeps every event in memory (``Collector``). Printing a replay for a
person, ``companion replay``, is ``workers/captioner/replay.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from companion.captions import CaptionEvent
from workers.captioner.audio import SAMPLE_RATE
from workers.captioner.replay import in_threads
from workers.captioner.worker import Captioner


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
        captioner.run(paced_array(audio, speed), sink, paced=speed > 0)

    in_threads([partial(run, c, a, s) for (c, a), s in zip(jobs, collectors, strict=True)])
    return collectors
