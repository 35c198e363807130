"""Replaying recordings as if live: the terminal printer (and JSON Lines), a thread per source.

The benchmarks' in-memory replay (``run_channels``) is in ``bench/replay.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import IO

from companion.captions import CaptionEvent
from workers.captioner.audio import AudioSource
from workers.captioner.worker import Captioner, CaptionerStats, caption_source


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
