"""Caption segments: each channel's final captions cut into fixed windows of Unix time.

Pure: no clock, no I/O. ``service/segments.py`` feeds a ``SegmentAssembler`` the
finals its channel hub hears (with the time each arrived) and stores what it builds
on the bus; ``companion/segment_formats.py`` renders a stored segment as JSON, WebVTT
and an HLS playlist. ``docs/segments.md`` is the reader's side.

* **Windows.** Window ``n`` is ``[n·L, (n+1)·L)`` of Unix time, ``L`` the channel's
  ``segment_seconds``. It closes ``GRACE`` after its end (at most half a window), so
  a final published just before the boundary is in it.
* **Which window a final is in.** The one open *at the writer when the final
  arrives*, not the one its audio fell in: a final comes seconds after its audio, and
  a published segment never changes. A final that arrives after its window was
  published (the writer was catching up, or took over from one that died) goes into
  the first window not yet published. Empty windows are published too.
* **Cues.** A final is shown (``shown``) from its arrival, never before its window,
  for its spoken length held between ``MIN_CUE`` and ``MAX_CUE`` seconds
  (``hidden``). A segment lists its own finals (``captions``) and the earlier ones
  still on screen during it (``carried``, identical copies), as WebVTT wants.
* **Runs.** Segments are numbered by window, so numbers are contiguous within a
  *run*; ``first`` is the run's first window and its start the run's ``epoch``, the
  origin of the WebVTT cue times. A writer that takes over continues the run (the
  next window, the finals past the stored ``seq``); a new run starts only when none
  is stored or the stored one is older than ``KEEP_SECONDS`` (its segments are gone).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from companion.captions import CaptionEvent

GRACE = 0.25  # s after a window's end before it is cut: finals sent just before it are in
# How long segments and the latest document are kept: well past any playlist (a
# minute) and the HLS availability window, long enough for a page that fell behind.
KEEP_SECONDS = 3600.0
MIN_CUE = 2.0  # s a cue stays on screen at least, so a short final can be read
MAX_CUE = 6.0  # s at most: a long utterance's cue does not linger over the next ones
MAX_PENDING = 10_000  # finals held for windows not yet published; past it the oldest go


def window_of(t: float, seconds: float) -> int:
    """The window that Unix time ``t`` falls in."""
    # Rounded first so that n·L computed in floats is in window n, not n - 1.
    return math.floor(round(t / seconds, 9))


def window_start(n: int, seconds: float) -> float:
    """When window ``n`` begins (Unix time)."""
    return n * seconds


def closes_at(n: int, seconds: float, grace: float = GRACE) -> float:
    """When window ``n`` is cut: its end plus the grace (at most half a window)."""
    return (n + 1) * seconds + min(grace, seconds / 2)


@dataclass(frozen=True)
class Cue:
    """One final caption in a segment; every time is Unix time, in seconds."""

    seq: int
    text: str
    lang: str
    start: float  # when its audio began (the event's ``at``; else its arrival less its length)
    end: float  # when its audio ended
    shown: float  # on screen from here (its arrival, never before its window)
    hidden: float  # until here

    @classmethod
    def of(cls, event: CaptionEvent, arrived: float, window: float) -> Cue:
        """The cue of ``event``, which arrived at ``arrived`` and is in the window
        beginning at ``window``."""
        length = max(0.0, event.end - event.start)
        start = event.at if event.at > 0 else arrived - length
        shown = max(arrived, window)
        return cls(
            seq=event.seq,
            text=event.text,
            lang=event.lang,
            start=round(start, 3),
            end=round(start + length, 3),
            shown=round(shown, 3),
            hidden=round(shown + min(max(length, MIN_CUE), MAX_CUE), 3),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "text": self.text,
            "lang": self.lang,
            "start": self.start,
            "end": self.end,
            "shown": self.shown,
            "hidden": self.hidden,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cue:
        return cls(**data)


@dataclass(frozen=True)
class Segment:
    """One window of a channel, as stored on the bus and served as ``seg/<n>.json``."""

    channel: str
    n: int
    seconds: float
    epoch: float  # the run's origin: WebVTT cue time 0
    seq: int  # the last final seq in this segment or an earlier one
    captions: tuple[Cue, ...]  # the finals in this window, by seq
    carried: tuple[Cue, ...] = ()  # earlier finals still on screen during it

    @property
    def start(self) -> float:
        return window_start(self.n, self.seconds)

    @property
    def end(self) -> float:
        return window_start(self.n + 1, self.seconds)

    def visible(self) -> tuple[Cue, ...]:
        """Every cue on screen during this window, in order of appearance."""
        return tuple(sorted((*self.carried, *self.captions), key=lambda c: (c.shown, c.seq)))

    def to_json(self) -> str:
        """The stored and served bytes (as UTF-8): compact, keys in a fixed order."""
        doc = {
            "channel": self.channel,
            "segment": self.n,
            "start": round(self.start, 3),
            "seconds": self.seconds,
            "epoch": round(self.epoch, 3),
            "seq": self.seq,
            "captions": [c.to_dict() for c in self.captions],
            "carried": [c.to_dict() for c in self.carried],
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Segment:
        doc = json.loads(text)
        return cls(
            channel=doc["channel"],
            n=doc["segment"],
            seconds=doc["seconds"],
            epoch=doc["epoch"],
            seq=doc["seq"],
            captions=tuple(Cue.from_dict(c) for c in doc["captions"]),
            carried=tuple(Cue.from_dict(c) for c in doc["carried"]),
        )


@dataclass(frozen=True)
class Latest:
    """A channel's newest stored segment: what the playlist and ``latest.json`` list."""

    segment: int
    first: int  # the run's first segment
    seconds: float
    seq: int  # the last final seq in a stored segment

    @property
    def epoch(self) -> float:
        return window_start(self.first, self.seconds)

    def to_json(self) -> str:
        doc = {"segment": self.segment, "first": self.first, "seconds": self.seconds}
        return json.dumps({**doc, "seq": self.seq}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Latest:
        doc = json.loads(text)
        return cls(doc["segment"], doc["first"], doc["seconds"], doc["seq"])


class SegmentAssembler:
    """The finals heard for windows not yet published, and the run they continue.

    Every replica keeps one per channel, holder of the writer's lease or not, so a
    standby that takes over already holds the finals it heard, with their arrivals.
    """

    def __init__(self, channel: str, seconds: float, max_pending: int = MAX_PENDING) -> None:
        if seconds <= 0:
            raise ValueError(f"segment seconds must be positive, not {seconds}")
        self.channel = channel
        self.seconds = seconds
        self.max_pending = max_pending
        self.pending: dict[int, tuple[CaptionEvent, float]] = {}  # seq -> (final, arrived)
        self.next: int | None = None  # the next window to publish; None: no run here
        self.first = 0
        self.last_seq = 0  # the last seq published (by this writer or the one before)
        self.carried: tuple[Cue, ...] = ()  # what was on screen in the last segment
        self.dropped = 0  # finals forgotten because ``pending`` was full

    def add(self, event: CaptionEvent, now: float) -> None:
        """A final arrived at ``now``; partials, notices (``kind`` other than caption),
        empty finals and finals already published are ignored."""
        if not event.final or event.kind != "caption" or not event.text.strip():
            return
        if event.seq <= self.last_seq or event.seq in self.pending:
            return
        self.pending[event.seq] = (event, now)
        if len(self.pending) > self.max_pending:
            del self.pending[min(self.pending)]
            self.dropped += 1

    def forget_through(self, seq: int) -> None:
        """Finals up to ``seq`` are published (here or by another writer)."""
        self.last_seq = max(self.last_seq, seq)
        for old in [s for s in self.pending if s <= self.last_seq]:
            del self.pending[old]

    def start(self, now: float) -> None:
        """Begin a new run at the window open at ``now``; what is pending goes into it."""
        self.next = self.first = window_of(now, self.seconds)
        self.carried = ()

    def resume(self, latest: Latest | None, last: Segment | None, now: float) -> bool:
        """Continue the stored run after ``latest`` (``last``: its segment, if still
        stored); start a new one if there is none, it has another window length, or
        it is older than ``KEEP_SECONDS``. True if it continues."""
        if (
            latest is None
            or latest.seconds != self.seconds
            or (window_of(now, self.seconds) - latest.segment) * self.seconds > KEEP_SECONDS
        ):
            self.start(now)
            return False
        self.next = latest.segment + 1
        self.first = latest.first
        self.carried = last.visible() if last is not None and last.n == latest.segment else ()
        self.forget_through(latest.seq)
        return True

    def due(self, now: float) -> bool:
        """True if the next window has closed by ``now``."""
        return self.next is not None and closes_at(self.next, self.seconds) <= now

    def build(self) -> Segment:
        """The next window's segment: the finals that arrived before its end (those
        that arrived while earlier windows were open too: late ones) and the cues
        still on screen from the last one."""
        if self.next is None:
            raise RuntimeError("no run: call start or resume first")
        n = self.next
        start, end = window_start(n, self.seconds), window_start(n + 1, self.seconds)
        own = sorted(
            (seq, Cue.of(event, arrived, start))
            for seq, (event, arrived) in self.pending.items()
            if window_of(arrived, self.seconds) <= n
        )
        captions = tuple(cue for _, cue in own)
        return Segment(
            channel=self.channel,
            n=n,
            seconds=self.seconds,
            epoch=window_start(self.first, self.seconds),
            seq=max([self.last_seq, *(cue.seq for cue in captions)]),
            captions=captions,
            carried=tuple(c for c in self.carried if c.hidden > start and c.shown < end),
        )

    def published(self, segment: Segment) -> None:
        """``segment`` is stored (built here, or found stored by another writer)."""
        self.next = segment.n + 1
        self.carried = segment.visible()
        self.forget_through(segment.seq)

    def latest(self) -> Latest:
        """The latest document after the last ``published`` segment."""
        if self.next is None:
            raise RuntimeError("no run: call start or resume first")
        return Latest(self.next - 1, self.first, self.seconds, self.last_seq)
