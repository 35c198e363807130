"""Per-utterance language: the worker's bookkeeping and the benchmark's scoring (no model)."""

from __future__ import annotations

from bench.language import file_finals, score_languages, segment_of
from companion.captions import CaptionEvent, Word
from workers.captioner.worker import UtteranceLanguage

SEGMENTS = [
    {"lang": "ko", "text": "그는 길 옆으로 걸어갔다", "start": 0.5, "end": 3.0},
    {"lang": "en", "text": "ask not what your country can do", "start": 5.0, "end": 9.0},
]


def test_a_fixed_language_never_detects() -> None:
    fixed = UtteranceLanguage("ko")
    assert fixed.for_decode(0) == "ko" and fixed.of(7) == "ko"


def test_auto_detects_until_a_word_is_final_then_keeps_it() -> None:
    lang = UtteranceLanguage("auto")
    assert lang.for_decode(0) == "auto" and lang.of(0) == "und"
    lang.decoded(0, "en")
    assert lang.for_decode(0) == "auto" and lang.of(0) == "en"
    lang.decoded(0, "ko")  # a longer window changed its mind: fine before a final
    lang.final(0)
    assert lang.for_decode(0) == "ko"
    lang.decoded(0, "en")  # ignored once locked
    assert lang.of(0) == "ko"
    assert lang.for_decode(1) == "auto"  # the next utterance detects again
    assert lang.of(1) == "ko"  # until then, the last one's language
    lang.decoded(1, "en")
    assert lang.of(1) == "en"


def test_the_next_utterance_decoded_meanwhile_leaves_the_last_ones_language_alone() -> None:
    """A paced captioner decodes utterance 2's partial while utterance 1's final runs:
    1's final is still stamped, and its language kept, as 1 was heard."""
    lang = UtteranceLanguage("auto")
    lang.decoded(1, "en")
    assert lang.for_decode(2) == "auto"  # the next utterance's partial, meanwhile
    lang.decoded(2, "ko")
    lang.decoded(1, "en")  # the final of utterance 1 comes back
    lang.final(1)
    assert lang.of(1) == "en" and lang.for_decode(1) == "en" and lang.last == "en"
    assert lang.of(2) == "ko" and lang.for_decode(2) == "auto"
    for utterance in range(3, 20):  # old utterances are forgotten, not kept for hours
        lang.decoded(utterance, "ko")
    assert lang.of(1) == "en"  # forgotten: the last final's language
    assert len(lang._heard) <= UtteranceLanguage.KEEP


def caption(seq: int, lang: str, text: str, start: float, end: float) -> CaptionEvent:
    words = (Word(text, start, end),)
    return CaptionEvent("floor", seq, True, text, lang, start, end, 0.0, seq, words=words)


def test_captions_are_filed_by_time_and_scored_per_language() -> None:
    assert segment_of(4.2, SEGMENTS) == 1 and segment_of(3.5, SEGMENTS) == 0
    auto = [
        caption(1, "ko", "그는 길 옆으로", 0.5, 2.0),
        caption(2, "ko", "걸어갔다", 2.0, 3.0),
        caption(3, "en", "ask not what your country", 5.0, 7.5),
        caption(4, "ko", "캔 두", 7.5, 9.0),  # wrong language inside the English part
    ]
    assert {k: len(v) for k, v in file_finals(auto, SEGMENTS).items()} == {0: 2, 1: 2}
    fixed = {"ko": auto[:2], "en": [caption(5, "en", "ask not what your country can do", 5, 9)]}
    report = score_languages(auto, SEGMENTS, fixed)
    assert report["captions"] == 4 and report["captions_right"] == 0.75
    assert report["parts_right"] == 1  # the English part is a tie: not mostly right
    assert report["ko"]["auto"] == {"cer": 0.0} and report["ko"]["points_worse"] == 0.0
    assert report["en"]["fixed"] == {"wer": 0.0} and report["en"]["points_worse"] > 0
