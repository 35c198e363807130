"""Ear-voice span: anchors found in captions of either language, and the lag between them."""

from __future__ import annotations

from companion.captions import CaptionEvent, Word
from companion.evs import Anchor, AnchorFinder, SpanTracker

GLOSSARY = [("사회연대경제", "social and solidarity economy"), ("국제노동기구", "ILO")]


def caption(text: str, at: float, source: str, lang: str) -> CaptionEvent:
    """One final caption whose words are a second apart from ``at``."""
    words = tuple(Word(w, float(i), float(i) + 0.5) for i, w in enumerate(text.split(" ")))
    spaced = tuple(Word((" " if i else "") + w.text, w.start, w.end) for i, w in enumerate(words))
    return CaptionEvent(
        "x", 1, True, text, lang, 0.0, len(words), 0.0, 1, at=at, words=spaced, source=source
    )


def test_anchors_are_numbers_terms_and_latin_names_with_their_times() -> None:
    finder = AnchorFinder(GLOSSARY)
    ko = finder.find(caption("2019년 사회연대경제 기업은 3,000개 KoSEA 조사", 100.0, "floor", "ko"))
    assert [(a.key, a.at) for a in ko] == [
        ("num:2019", 100.0),
        ("term:0", 101.0),
        ("num:3000", 103.0),
        ("name:kosea", 104.0),
    ]
    en = finder.find(
        caption(
            "In 2019 the social and solidarity economy had 3,000 firms", 103.0, "booth-en", "en"
        )
    )
    assert [a.key for a in en] == ["num:2019", "term:0", "num:3000"]
    partial = CaptionEvent("x", 2, False, "2019", "en", 0.0, 1.0, 0.0, 1, at=5.0)
    assert finder.find(partial) == []  # only finals
    assert finder.find(caption("no anchors here", 1.0, "floor", "en")) == []


def test_the_span_is_the_median_lag_of_matched_anchors() -> None:
    tracker = SpanTracker(max_span=10.0, samples=3)
    assert tracker.span is None
    tracker.floor([Anchor("num:2019", 100.0), Anchor("term:0", 101.0), Anchor("num:7", 102.0)])
    assert tracker.booth([Anchor("num:2019", 102.5), Anchor("term:0", 104.0)]) == [2.5, 3.0]
    assert tracker.booth([Anchor("num:2019", 105.0)]) == []  # that one was matched already
    assert tracker.booth([Anchor("num:7", 130.0)]) == []  # too late to be the same
    assert tracker.booth([Anchor("num:9", 103.0)]) == []  # never said on the floor
    span = tracker.span
    assert span is not None and span.seconds == 2.8 and span.anchors == 2
