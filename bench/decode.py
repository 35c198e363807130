"""``companion bench decode``: what one decode costs, by threads, alone and beside another.

The captioner's budget for a final caption is one decode: the whole utterance, beam 5,
with word times, started when its pause begins. This times that decode (and a partial:
greedy, no word times) on windows of a recording, as the captioner makes them (the
trimmed encoder, the text before the window as Whisper's prompt, the configured
beams), two ways:

* on one thread and on ``threads`` threads (the machine's cores by default), one decode
  at a time: which ``whisper.cpu_threads`` suits this machine;
* a final and a partial at once, one thread each: what a paced captioner does when a
  pause begins while a partial runs (``workers/captioner/worker.py``).

Figures are medians over the windows and repeats, in seconds; the first round is a
warm-up and not counted.
"""

from __future__ import annotations

import os
import statistics
import threading
from typing import Any

import numpy as np

from companion.config import EventConfig, WhisperSettings
from workers.captioner.audio import SAMPLE_RATE
from workers.captioner.engine import WhisperEngine
from workers.captioner.factory import load_engine

WINDOWS = (3.0, 6.0, 12.0)  # seconds: a short utterance, a sentence, the longest window
PROMPT_SECONDS = 10.0  # the audio before a window whose text is its prompt


def _windows(audio: np.ndarray, seconds: float, count: int) -> list[tuple[int, np.ndarray]]:
    """Up to ``count`` windows of ``seconds``, spread over ``audio``: (first sample, samples)."""
    length = int(seconds * SAMPLE_RATE)
    if len(audio) < length:
        return []
    starts = dict.fromkeys(np.linspace(0, len(audio) - length, count).astype(int).tolist())
    return [(s, audio[s : s + length]) for s in starts]


def _prompt(
    engine: WhisperEngine, audio: np.ndarray, first: int, lang: str, tokens: int
) -> list[int]:
    """What the captioner would give Whisper as the prompt: the text said before, its
    last ``tokens`` tokens (``captioner.context_tokens``)."""
    before = audio[max(0, first - int(PROMPT_SECONDS * SAMPLE_RATE)) : first]
    if len(before) < SAMPLE_RATE or not tokens:
        return []
    text = "".join(w.text for w in engine.decode(before, 0.0, lang, beam_size=5).words)
    return engine.encode_text(" " + text.strip(), lang)[-tokens:] if text.strip() else []


def _timed(
    engine: WhisperEngine,
    whisper: WhisperSettings,
    window: np.ndarray,
    lang: str,
    prompt: list[int],
    final: bool,
) -> float:
    """Seconds one decode took, with the configured beam of a final or a partial."""
    beam = whisper.final_beam_size if final else whisper.beam_size
    decoded = engine.decode(window, 0.0, lang, context=prompt, beam_size=beam, word_times=final)
    return decoded.seconds


def _side_by_side(
    engine: WhisperEngine,
    whisper: WhisperSettings,
    window: np.ndarray,
    lang: str,
    prompt: list[int],
) -> dict[str, float]:
    """A final and a partial of ``window`` decoded at once, in two threads."""
    took: dict[str, float] = {}

    def one(final: bool) -> None:
        took["final" if final else "partial"] = _timed(engine, whisper, window, lang, prompt, final)

    pair = [threading.Thread(target=one, args=(final,)) for final in (True, False)]
    for t in pair:
        t.start()
    for t in pair:
        t.join()
    return took


def run_decode(
    config: EventConfig, audio: np.ndarray, lang: str, threads: int = 0, repeats: int = 2
) -> dict[str, Any]:
    """Time finals and partials on ``audio``'s windows (see the module docstring)."""
    many = threads or os.cpu_count() or 1
    engines = {}
    for n in dict.fromkeys((1, many)):
        whisper = config.whisper.model_copy(update={"cpu_threads": n})
        engines[n] = load_engine(config.model_copy(update={"whisper": whisper}), 1, False)
    report: dict[str, Any] = {"lang": lang, "threads": list(engines), "windows": {}}
    for seconds in WINDOWS:
        tokens = config.captioner.context_tokens
        windows = [
            (w, _prompt(engines[1], audio, s, lang, tokens)) for s, w in _windows(audio, seconds, 3)
        ]
        times: dict[str, list[float]] = {}
        for round_ in range(repeats + 1):
            for window, prompt in windows:
                row: dict[str, float] = {}
                for n, engine in engines.items():
                    for final, kind in ((True, "final"), (False, "partial")):
                        took = _timed(engine, config.whisper, window, lang, prompt, final)
                        row[f"{kind}_{n}_thread"] = took
                both = _side_by_side(engines[1], config.whisper, window, lang, prompt)
                row["final_beside_a_partial_1_thread"] = both["final"]
                row["partial_beside_a_final_1_thread"] = both["partial"]
                for key, value in row.items():
                    if round_:  # the first round warms up
                        times.setdefault(key, []).append(value)
        if windows:
            report["windows"][f"{seconds:g}s"] = {
                k: round(statistics.median(v), 3) for k, v in times.items()
            }
    return report
