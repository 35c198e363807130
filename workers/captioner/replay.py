"""Replaying recordings as if live: the terminal printer, JSON Lines, and benchmarks."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

import numpy as np

from companion.captions import CaptionEvent
from companion.metrics import (
    error_rate,
    final_text,
    final_word_latencies,
    first_shown_latencies,
    percentile,
)
from workers.captioner.audio import SAMPLE_RATE, AudioSource, decode_file
from workers.captioner.engine import WhisperEngine
from workers.captioner.worker import Captioner, CaptionerStats, caption_source, reader_thread


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


@dataclass
class Collector:
    """Keeps events in memory (and optionally as JSON Lines) for a benchmark."""

    jsonl: IO[str] | None = None
    events: list[CaptionEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: CaptionEvent) -> None:
        with self.lock:
            self.events.append(event)
            if self.jsonl is not None:
                self.jsonl.write(event.to_json() + "\n")


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


def latency_report(
    events: list[CaptionEvent], stats: CaptionerStats, speed: float, reference: str, lang: str
) -> dict[str, Any]:
    """The figures of one replayed channel."""
    finals = final_word_latencies(events, speed)
    shown = first_shown_latencies(events, speed)
    metric, value = error_rate(reference, final_text(events), lang) if reference else ("wer", 0.0)
    costs = stats.decode_costs
    return {
        "final_word_latency_p50": percentile(finals, 0.5),
        "final_word_latency_p95": percentile(finals, 0.95),
        "final_word_latency_max": round(max(finals), 3) if finals else None,
        "first_partial_latency_p50": percentile(shown, 0.5),
        "first_partial_latency_p95": percentile(shown, 0.95),
        f"streaming_{metric}": round(value, 4),
        "real_time_factor": round(stats.real_time_factor, 3),
        "decode_seconds_p50": percentile(costs, 0.5),
        "decode_seconds_p95": percentile(costs, 0.95),
        "decodes": stats.decodes,
        "partials": stats.partials,
        "finals": stats.finals,
        "max_backlog_seconds": round(stats.max_backlog_seconds, 2),
        "audio_seconds": round(stats.audio_seconds, 2),
        "words": len(finals),
    }


def sentence_latency(
    events: list[CaptionEvent], segments: list[dict[str, Any]], speed: float
) -> dict[str, Any]:
    """Per reference segment: its end to the final caption holding its last word.

    The last word is the last final word that ends inside the segment (0.3 s of
    alignment slack); a segment none of whose words came out counts as missed.
    """
    scale = speed if speed > 0 else 1.0
    finals = [(w, e.emitted) for e in events if e.final for w in e.words]
    latencies, missed = [], 0
    for seg in segments:
        start, end = float(seg["start"]), float(seg["end"])
        inside = [t for w, t in finals if start - 0.3 <= w.end <= end + 0.3]
        if not inside:
            missed += 1
            continue
        latencies.append(max(inside) - end / scale)
    return {
        "sentence_latency_p50": percentile(latencies, 0.5),
        "sentence_latency_p95": percentile(latencies, 0.95),
        "sentence_latency_max": round(max(latencies), 3) if latencies else None,
        "sentences": len(segments),
        "sentences_missed": missed,
    }


def offline_error(engine: WhisperEngine, path: str, lang: str, reference: str) -> dict[str, Any]:
    """The same model's whole-file result (beam 5, VAD on), for comparison."""
    audio = decode_file(path)
    began = time.perf_counter()
    segments, _ = engine.model.transcribe(
        audio, language=lang, beam_size=5, vad_filter=True, condition_on_previous_text=True
    )
    text = " ".join(s.text.strip() for s in segments)
    metric, value = error_rate(reference, text, lang)
    return {
        f"offline_{metric}": round(value, 4),
        "offline_seconds": round(time.perf_counter() - began, 2),
        "offline_text": text,
    }


def run_channels(
    jobs: list[tuple[Captioner, np.ndarray]], speed: float, jsonl: IO[str] | None = None
) -> list[Collector]:
    """Replay in-memory recordings on several captioners at once (a benchmark)."""
    collectors = [Collector(jsonl) for _ in jobs]

    def run(captioner: Captioner, audio: np.ndarray, sink: Collector) -> None:
        chunks = paced_array(audio, speed)
        if speed > 0:
            chunks = reader_thread(chunks, captioner.stats)
        captioner.run(chunks, sink)

    in_threads([partial(run, c, a, s) for (c, a), s in zip(jobs, collectors, strict=True)])
    return collectors


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


def dump(report: dict[str, Any]) -> None:
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
