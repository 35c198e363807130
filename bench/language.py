"""``companion bench language``: a floor that changes language, captioned with ``auto``.

The recording is one composed by ``companion bench compose`` from parts in several
languages (its reference JSON gives each part's language, text and speech times). It
is captioned three ways, one after the other: with ``lang="auto"`` (the language
detected per utterance) and once with each language fixed, as a captioner that
knows the language would be. Each final caption is filed under the reference part
its words fall in (by the midpoint of their times), so the report can say:

* ``captions_right``: the share of final captions (one per utterance or part of one,
  so roughly one per sentence) whose language is the part's;
* ``parts_right``: the parts with more than half their captions in the right language;
* per language, the error rate (CER for Korean, WER for English) of ``auto`` on that
  language's parts, beside the fixed-language captioner's on the same parts.

The scoring is pure (``score_languages``) and tested without a model.
``language_suite`` runs it on the clean recording and through the room (``bench.room``),
``auto`` several times, with the same model offline beside it: faster-whisper told
each language in turn on the whole file, each scored on the parts in that language
(what a captioner fixed to one language for the file would give at best), and once
with the language detected for the whole file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.captions import OFFLINE_DRAWS, median_and_spread
from bench.room import Room, conditions, heard
from bench.scoring import error_rate
from companion.captions import CaptionEvent

Segment = dict[str, Any]  # {"lang", "text", "start", "end"} from the reference JSON


def segment_of(time: float, segments: Sequence[Segment]) -> int:
    """The index of the part ``time`` falls in (a gap goes to the nearer part)."""
    best, distance = 0, float("inf")
    for i, seg in enumerate(segments):
        if seg["start"] <= time <= seg["end"]:
            return i
        d = min(abs(time - seg["start"]), abs(time - seg["end"]))
        if d < distance:
            best, distance = i, d
    return best


def file_finals(
    events: Sequence[CaptionEvent], segments: Sequence[Segment]
) -> dict[int, list[CaptionEvent]]:
    """Final captions with words, by the part their words' midpoint falls in."""
    filed: dict[int, list[CaptionEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.seq):
        if not event.final or not event.text:
            continue
        if event.words:
            middle = (event.words[0].start + event.words[-1].end) / 2
        else:
            middle = (event.start + event.end) / 2
        filed[segment_of(middle, segments)].append(event)
    return filed


def score_languages(
    auto: Sequence[CaptionEvent],
    segments: Sequence[Segment],
    fixed: dict[str, list[CaptionEvent]] | None = None,
) -> dict[str, Any]:
    """The language and accuracy figures of ``auto`` (and of ``fixed`` per language)."""
    filed = file_finals(auto, segments)
    right = total = parts_right = 0
    for i, seg in enumerate(segments):
        langs = Counter(e.lang for e in filed.get(i, ()))
        right += langs[seg["lang"]]
        total += sum(langs.values())
        if langs[seg["lang"]] * 2 > sum(langs.values()):
            parts_right += 1
    report: dict[str, Any] = {
        "captions": total,
        "captions_right": round(right / total, 4) if total else None,
        "parts": len(segments),
        "parts_right": parts_right,
    }
    for lang in sorted({seg["lang"] for seg in segments}):
        report[lang] = {"auto": _error(filed, segments, lang)}
        if fixed and lang in fixed:
            report[lang]["fixed"] = _error(file_finals(fixed[lang], segments), segments, lang)
            metric = "cer" if "cer" in report[lang]["auto"] else "wer"
            report[lang]["points_worse"] = round(
                100 * (report[lang]["auto"][metric] - report[lang]["fixed"][metric]), 2
            )
    return report


def _error(
    filed: dict[int, list[CaptionEvent]], segments: Sequence[Segment], lang: str
) -> dict[str, float]:
    indices = [i for i, seg in enumerate(segments) if seg["lang"] == lang]
    reference = " ".join(segments[i]["text"] for i in indices)
    hypothesis = " ".join(e.text for i in indices for e in filed.get(i, ()))
    metric, value = error_rate(reference, hypothesis, lang)
    return {metric: round(value, 4)}


def run_language_bench(
    caption: Callable[[str], list[CaptionEvent]], segments: Sequence[Segment]
) -> dict[str, Any]:
    """Caption with ``"auto"``, then with each language fixed; score them all.

    ``caption(lang)`` captions the recording once and returns its events.
    """
    auto = caption("auto")
    fixed = {lang: caption(lang) for lang in sorted({seg["lang"] for seg in segments})}
    return score_languages(auto, segments, fixed)


def offline_languages(
    engine: Any,
    audio: np.ndarray,
    segments: Sequence[Segment],
    draws: int = OFFLINE_DRAWS,
) -> dict[str, Any]:
    """The same model on the whole file, told each language in turn (and detecting it
    once for the file): each language's error on its own parts, the median of
    ``draws`` draws with their spread (``bench.captions.offline`` says why)."""
    out: dict[str, Any] = {}
    langs = sorted({seg["lang"] for seg in segments})
    for told in [*langs, None]:
        made: dict[str, list[float]] = defaultdict(list)
        metrics: dict[str, str] = {}
        for _ in range(max(1, draws)):
            found, _ = engine.model.transcribe(
                audio, language=told, beam_size=5, vad_filter=True, condition_on_previous_text=True
            )
            filed: dict[int, list[str]] = defaultdict(list)
            for seg in found:
                filed[segment_of((seg.start + seg.end) / 2, segments)].append(seg.text)
            for lang in langs if told is None else [told]:
                indices = [i for i, s in enumerate(segments) if s["lang"] == lang]
                reference = " ".join(segments[i]["text"] for i in indices)
                hypothesis = " ".join(t for i in indices for t in filed.get(i, ()))
                metrics[lang], value = error_rate(reference, hypothesis, lang)
                made[lang].append(round(value * 100, 2))
        scores: dict[str, dict[str, float]] = {}
        for lang, values in made.items():
            median, spread = median_and_spread(values, 2)
            scores[lang] = {metrics[lang]: median, f"{metrics[lang]}_spread": spread}
        out["detected_once" if told is None else f"told_{told}"] = scores
    return out


def language_suite(
    audio: np.ndarray,
    segments: Sequence[Segment],
    caption: Callable[[np.ndarray, str], list[CaptionEvent]],
    engine: Any,
    room: Room | None,
    runs: int,
    fixed: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """``auto`` ``runs`` times per condition (clean, room), the fixed captioners once,
    and the offline yardstick; the median run and the spread of the key figures."""
    report: dict[str, Any] = {"room_description": room.describe() if room is not None else None}
    for name, chosen in conditions(room):
        audio_heard = heard(audio, chosen)
        scored = []
        for k in range(runs):
            progress(f"{name}: auto, run {k + 1}/{runs} …")
            scored.append(score_languages(caption(audio_heard, "auto"), segments))
        entry: dict[str, Any] = {"auto_runs": scored}
        right = [r["captions_right"] for r in scored if r["captions_right"] is not None]
        if right:
            entry["captions_right"], entry["captions_right_spread"] = median_and_spread(right, 4)
        for lang in sorted({seg["lang"] for seg in segments}):
            values = [next(iter(r[lang]["auto"].values())) * 100 for r in scored]
            entry[f"{lang}_auto"], entry[f"{lang}_auto_spread"] = median_and_spread(values, 2)
        if fixed:
            for lang in sorted({seg["lang"] for seg in segments}):
                progress(f"{name}: fixed {lang} …")
                alone = score_languages(caption(audio_heard, lang), segments)
                entry[f"{lang}_fixed_live"] = round(
                    next(iter(alone[lang]["auto"].values())) * 100, 2
                )
        progress(f"{name}: offline …")
        entry["offline"] = offline_languages(engine, audio_heard, segments)
        report[name] = entry
    return report
