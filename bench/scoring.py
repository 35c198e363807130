"""Scoring for the benchmarks: error rates, latencies and their percentiles. Pure.

* ``error_rate``: WER for English after Whisper's English normaliser; CER for
  Korean (and other languages) over characters without spaces or punctuation,
  the same units as ``shared/tools/score_captions.py``.
* ``first_shown_latencies``: for each final word, the delay from its end in the
  audio to the first caption (partial or final) that showed it.

Times: ``emitted`` is wall seconds since the replay began; audio time ``t`` of a
recording replayed at ``speed`` is live at wall time ``t / speed``.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Sequence

from companion.captions import CaptionEvent


def char_units(text: str) -> str:
    """Characters compared for CER: NFKC, lower case, letters and digits only."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())


def error_rate(reference: str, hypothesis: str, lang: str) -> tuple[str, float]:
    """("wer", x) for English, ("cer", x) otherwise."""
    import jiwer

    if lang == "en":
        from whisper_normalizer.english import EnglishTextNormalizer

        normalise = EnglishTextNormalizer()
        ref, hyp = normalise(reference), normalise(hypothesis)
        return "wer", float(jiwer.wer(ref, hyp)) if ref.strip() else 0.0
    ref, hyp = char_units(reference), char_units(hypothesis)
    if not ref:
        return "cer", 0.0
    # Characters without spaces: the shared yardstick joins them with spaces first,
    # which counts every space as a correct character and roughly halves the CER.
    return "cer", float(jiwer.cer(ref, hyp))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of ``values``, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[k], 3)


def final_text(events: Iterable[CaptionEvent]) -> str:
    """The text of the final captions, in sequence order."""
    return " ".join(e.text for e in sorted(events, key=lambda e: e.seq) if e.final and e.text)


def _norm(word: str) -> str:
    return char_units(word)


def first_shown_latencies(events: Sequence[CaptionEvent], speed: float = 1.0) -> list[float]:
    """Per final word: the first caption that showed it, minus its end in the audio."""
    scale = speed if speed > 0 else 1.0
    by_utterance: dict[int, list[CaptionEvent]] = {}
    for event in sorted(events, key=lambda e: e.seq):
        by_utterance.setdefault(event.utterance, []).append(event)
    out: list[float] = []
    for utterance_events in by_utterance.values():
        finals = [w for e in utterance_events if e.final for w in e.words]
        final_norm = [_norm(w.text) for w in finals]
        first: dict[int, float] = {}
        shown_final: list[str] = []
        for event in utterance_events:
            words = [_norm(w) for w in event.text.split()]
            if event.final:
                shown_final += [_norm(w.text) for w in event.words]
                displayed = shown_final
            else:
                displayed = shown_final + words
            matcher = difflib.SequenceMatcher(None, final_norm, displayed, autojunk=False)
            for block in matcher.get_matching_blocks():
                for k in range(block.size):
                    first.setdefault(block.a + k, event.emitted)
        for i, word in enumerate(finals):
            if i in first:
                out.append(first[i] - word.end / scale)
    return out
