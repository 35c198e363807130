"""Caption accuracy and latency: live against offline, clean against the room, run to run.

What ``companion bench latency`` (and ``channels``) measure, kept apart from the
captioner so that nothing here can flatter it:

* **Latency is counted from the end of the speech**, not from a file's padding and not
  from the system's own word times. The reference lists the stretches of speech in the
  clean recording (``runs``, from its energy: ``bench.room.speech_runs``). A final
  caption's latency is its emission minus the end of the run its last word falls in;
  when its last word ends well inside a longer run (the caption was cut from a long
  utterance), minus that word's end. A final is one caption a viewer reads, so this is
  the figure the targets are about (``caption_latency_*``).
* **Sentences**: each reference segment is matched to the final text by characters (as
  ``shared/tools/score_captions.py`` does); one less than half matched is lost, and the
  rest have the latency from their ``speech_end`` to the final that completes them.
* **Accuracy**: WER (English, Whisper's normaliser) or CER (others, characters without
  spaces or punctuation), live finals against the reference, beside the same model
  offline (faster-whisper ``transcribe``, beam 5, VAD filter, no glossary) on the same
  audio, the median of three draws (``offline``: its fallback samples at random).
  ``points_lost`` is the difference, in percentage points.
* **Runs**: every figure is taken on several replays; the summary gives each one's
  median and spread (max - min) across them.
"""

from __future__ import annotations

import difflib
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.scoring import char_units, error_rate, final_text, first_shown_latencies, percentile
from companion.captions import CaptionEvent
from workers.captioner.worker import CaptionerStats

Run = tuple[float, float]

# a last word this close to its run's end ends the run (Whisper's word ends are rough)
RUN_END_SLACK = 0.6
# a last word further than this from every run is not matched (counted, not timed)
RUN_MATCH = 1.0
# the offline yardstick's draws (``offline``): its figure is their median
OFFLINE_DRAWS = 3


def _run_of(t: float, runs: Sequence[Run]) -> Run | None:
    best: tuple[float, Run] | None = None
    for run in runs:
        distance = max(run[0] - t, t - run[1], 0.0)
        if best is None or distance < best[0]:
            best = (distance, run)
    return best[1] if best is not None and best[0] <= RUN_MATCH else None


def speech_end_of(t: float, runs: Sequence[Run]) -> float | None:
    """The end of the speech a caption whose last word ends at ``t`` completes."""
    run = _run_of(t, runs)
    if run is None:
        return None
    return run[1] if run[1] - t < RUN_END_SLACK else t


def caption_latencies(
    events: Sequence[CaptionEvent], runs: Sequence[Run], speed: float = 1.0
) -> tuple[list[float], int]:
    """Per final caption with words: emission minus the end of its speech; and how
    many finals matched no run."""
    scale = speed if speed > 0 else 1.0
    out: list[float] = []
    unmatched = 0
    for e in events:
        if not (e.final and e.words):
            continue
        end = speech_end_of(e.words[-1].end, runs)
        if end is None:
            unmatched += 1
            continue
        out.append(e.emitted - end / scale)
    return out, unmatched


def runs_without_final(events: Sequence[CaptionEvent], runs: Sequence[Run]) -> int:
    """Stretches of speech of 0.5 s or more that no final word overlaps."""
    words = [w for e in events if e.final for w in e.words]
    lost = 0
    for start, end in runs:
        if end - start < 0.5:
            continue
        if not any(w.start < end + 0.2 and w.end > start - 0.2 for w in words):
            lost += 1
    return lost


def segment_scores(
    events: Sequence[CaptionEvent], segments: Sequence[dict[str, Any]], speed: float = 1.0
) -> dict[str, Any]:
    """Per reference segment, as the shared yardstick scores it: lost or not, and the
    latency from its ``speech_end`` to the final caption completing it.

    Characters are aligned segment by segment, against the finals whose words lie
    within a second of it, so that a recording played twice (the same text again, as
    ``bench channels`` loops a short track) is not matched against the wrong copy.
    """
    scale = speed if speed > 0 else 1.0
    finals = sorted((e for e in events if e.final and e.words), key=lambda e: e.seq)
    latencies: list[float] = []
    lost = 0
    for seg in segments:
        a, b = float(seg["start"]) - 1.0, float(seg["end"]) + 1.0
        near = [e for e in finals if a <= (e.words[0].start + e.words[-1].end) / 2 <= b]
        ref = char_units(str(seg["text"]))
        hyp: list[str] = []
        when: list[float] = []
        for e in near:
            units = char_units(e.text)
            hyp += units
            when += [e.emitted] * len(units)
        matcher = difflib.SequenceMatcher(None, ref, hyp, autojunk=False)
        blocks = [blk for blk in matcher.get_matching_blocks() if blk.size]
        if sum(blk.size for blk in blocks) < 0.5 * len(ref):
            lost += 1
            continue
        last = blocks[-1]
        end = float(seg.get("speech_end", seg["end"]))
        latencies.append(when[last.b + last.size - 1] - end / scale)
    return {
        "sentences": len(segments),
        "sentences_lost": lost,
        "sentence_latency_p50": percentile(latencies, 0.5),
        "sentence_latency_max": round(max(latencies), 3) if latencies else None,
    }


def run_report(
    events: Sequence[CaptionEvent],
    stats: CaptionerStats,
    reference: dict[str, Any],
    lang: str,
    speed: float,
) -> dict[str, Any]:
    """The figures of one replay of one channel."""
    segments = list(reference.get("segments", []))
    runs = [(float(a), float(b)) for a, b in reference.get("runs", [])]
    text = " ".join(str(s["text"]) for s in segments)
    metric, value = error_rate(text, final_text(events), lang)
    latencies, unmatched = caption_latencies(events, runs, speed)
    finals = [e for e in events if e.final and e.text]
    sizes = [len(e.text.split()) if lang == "en" else len(char_units(e.text)) for e in finals]
    short = sum(1 for e in finals if len(e.text.split()) <= 2)
    costs = stats.decode_costs
    report: dict[str, Any] = {
        metric: round(value * 100, 2),
        "caption_latency_p50": percentile(latencies, 0.5),
        "caption_latency_p95": percentile(latencies, 0.95),
        "caption_latency_max": round(max(latencies), 3) if latencies else None,
        "first_shown_p50": percentile(first_shown_latencies(events, speed), 0.5),
        "finals": len(finals),
        "finals_unmatched": unmatched,
        "finals_of_one_or_two_words": short,
        ("words" if lang == "en" else "chars") + "_per_final": round(statistics.mean(sizes), 1)
        if sizes
        else 0,
        "speech_runs": len(runs),
        "speech_runs_without_final": runs_without_final(events, runs),
        "real_time_factor": round(stats.real_time_factor, 3),
        "decode_p50": percentile(costs, 0.5),
        "decode_p95": percentile(costs, 0.95),
        "max_backlog_seconds": round(stats.max_backlog_seconds, 2),
        "finals_decoded_again": stats.retries,  # the first decode looped
        "decodes_said_again": stats.unlooped,  # the first copy kept, no second decode
    }
    report |= segment_scores(events, segments, speed)
    report["text"] = final_text(events)
    return report


SUMMARISED = (
    "wer",
    "cer",
    "caption_latency_p50",
    "caption_latency_p95",
    "caption_latency_max",
    "first_shown_p50",
    "sentences_lost",
    "speech_runs_without_final",
    "finals_of_one_or_two_words",
    "real_time_factor",
)


def median_and_spread(values: Sequence[float], digits: int) -> tuple[float, float]:
    """The median of ``values`` and their spread (max - min), rounded."""
    return round(statistics.median(values), digits), round(max(values) - min(values), digits)


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median and spread (max - min) of each figure over the runs."""
    out: dict[str, Any] = {"runs": len(runs)}
    for key in SUMMARISED:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[key], out[f"{key}_spread"] = median_and_spread(values, 3)
    return out


def offline(
    engine: Any, audio: np.ndarray, lang: str, reference: str, draws: int = OFFLINE_DRAWS
) -> dict[str, Any]:
    """The same model on the whole file at once (beam 5, VAD on, no glossary), ``draws``
    times; the median error rate, its spread, each draw's, and the median draw's text.

    ``transcribe`` falls back to sampling (temperature 0.2 and up) on a window it finds
    unlikely, which noisy audio often is, and CTranslate2 seeds its sampling at random
    (calling ``ctranslate2.set_random_seed`` before each draw did not make two draws
    with the same seeds alike: 90.91 / 77.27 / 63.64 % against 86.36 / 77.27 / 81.82 %
    on a loud room, in one process). One offline run on the room gave 24.00 % WER where
    four more gave 13.76-14.24 % (docs/benchmarks.md, the tenth session): the yardstick
    is the median of several draws, with their spread.
    """
    made: list[tuple[float, float, str]] = []  # (error %, seconds, text)
    metric = "wer"
    for _ in range(max(1, draws)):
        began = time.perf_counter()
        segments, _info = engine.model.transcribe(
            audio, language=lang, beam_size=5, vad_filter=True, condition_on_previous_text=True
        )
        text = " ".join(s.text.strip() for s in segments)
        metric, value = error_rate(reference, text, lang)
        made.append((round(value * 100, 2), time.perf_counter() - began, text))
    values = [m[0] for m in made]
    middle = sorted(made)[(len(made) - 1) // 2]  # the lower median: a draw that was made
    median, spread = median_and_spread(values, 2)
    return {
        metric: median,
        f"{metric}_spread": spread,
        "draws": values,
        "seconds": round(statistics.median(m[1] for m in made), 2),
        "text": middle[2],
    }


def points_lost(live: dict[str, Any], off: dict[str, Any]) -> float | None:
    """Live minus offline error rate, percentage points (median run)."""
    for key in ("wer", "cer"):
        if key in live and key in off:
            return round(float(live[key]) - float(off[key]), 2)
    return None


def match_texts(a: str, b: str) -> float:
    """How alike two runs' final texts are (1.0: the same characters)."""
    return round(difflib.SequenceMatcher(None, char_units(a), char_units(b)).ratio(), 4)
