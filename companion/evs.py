"""Ear-voice span: how far a booth's interpretation lags the floor. Pure, no clock.

Anchors are what both sides say alike whatever the language: numbers ("2019", "3,000"),
glossary terms (사회연대경제 on the floor, "social and solidarity economy" in the
booth: one anchor, the glossary row), and names written in Latin letters (ILO, KoSEA,
Seoul). Each anchor is stamped with the wall time of the word it was heard in (the
caption's ``at`` plus the word's offset in the caption). When the booth says an
anchor the floor said a little earlier (within ``max_span`` seconds), the difference
is one sample of the span; the span shown is the median of the last few samples.
"""

from __future__ import annotations

import re
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from companion.captions import CaptionEvent

NUMBER = re.compile(r"\d[\d,.]*\d|\d")
LATIN_NAME = re.compile(r"\b[A-Z][A-Za-z]{1,}\b")
MAX_SPAN = 12.0
SAMPLES = 5


@dataclass(frozen=True)
class Anchor:
    """Something said, recognisable in either language, and when it was said."""

    key: str
    at: float


def _terms(glossary: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(text lower-cased, anchor key)`` for every term, longest first."""
    found = []
    for row, (ko, en) in enumerate(glossary):
        for term in (ko, en):
            if len(term) >= 2:
                found.append((term.lower(), f"term:{row}"))
    return sorted(found, key=lambda t: len(t[0]), reverse=True)


class AnchorFinder:
    """Finds anchors in final captions, with the event's glossary."""

    def __init__(self, glossary: Sequence[tuple[str, str]] = ()) -> None:
        self._terms = _terms(glossary)
        self._term_words = {w for text, _ in self._terms for w in text.split()}

    def find(self, event: CaptionEvent) -> list[Anchor]:
        """The anchors of one final caption, in order (none without a wall time)."""
        if not event.final or not event.at or not event.text:
            return []
        text, starts = self._text_and_times(event)
        lower = text.lower()
        found: list[tuple[int, str]] = []
        taken = [False] * len(text)
        for term, key in self._terms:
            for match in re.finditer(re.escape(term), lower):
                span = range(match.start(), match.end())
                if not any(taken[i] for i in span):
                    found.append((match.start(), key))
                    for i in span:
                        taken[i] = True
        for match in NUMBER.finditer(text):
            if not taken[match.start()]:
                found.append((match.start(), "num:" + re.sub(r"[,.]", "", match.group())))
        for match in LATIN_NAME.finditer(text):
            word = match.group().lower()
            if not taken[match.start()] and word not in self._term_words and len(word) > 2:
                found.append((match.start(), "name:" + word))
        found.sort()
        return [Anchor(key, _time_at(starts, offset, event.at)) for offset, key in found]

    @staticmethod
    def _text_and_times(event: CaptionEvent) -> tuple[str, list[tuple[int, float]]]:
        """The caption's text from its words, and each word's (offset, wall time)."""
        if not event.words:
            return event.text, [(0, event.at)]
        text = ""
        starts: list[tuple[int, float]] = []
        for word in event.words:
            starts.append((len(text), event.at + max(0.0, word.start - event.start)))
            text += word.text
        return text, starts


def _time_at(starts: list[tuple[int, float]], offset: int, default: float) -> float:
    at = default
    for start, time in starts:
        if start > offset:
            break
        at = time
    return at


@dataclass(frozen=True)
class Span:
    """The current ear-voice span of a booth."""

    seconds: float
    anchors: int  # samples it is the median of


class SpanTracker:
    """The floor's recent anchors and one booth's span samples."""

    def __init__(self, max_span: float = MAX_SPAN, samples: int = SAMPLES) -> None:
        self.max_span = max_span
        self._floor: deque[Anchor] = deque(maxlen=500)
        self._used: set[Anchor] = set()
        self._samples: deque[float] = deque(maxlen=samples)

    def floor(self, anchors: Iterable[Anchor]) -> None:
        """Anchors the floor said."""
        self._floor.extend(anchors)

    def booth(self, anchors: Iterable[Anchor]) -> list[float]:
        """Anchors the booth said; the new span samples they give."""
        new: list[float] = []
        for anchor in anchors:
            match = self._match(anchor)
            if match is not None:
                self._used.add(match)
                new.append(round(anchor.at - match.at, 3))
        self._samples.extend(new)
        self._used &= set(self._floor)
        return new

    def _match(self, anchor: Anchor) -> Anchor | None:
        for said in reversed(self._floor):
            lag = anchor.at - said.at
            if said.key == anchor.key and 0 <= lag <= self.max_span and said not in self._used:
                return said
        return None

    @property
    def span(self) -> Span | None:
        """The median of the recent samples, or None before the first."""
        if not self._samples:
            return None
        return Span(round(statistics.median(self._samples), 1), len(self._samples))
