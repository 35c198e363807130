"""Running the caption benchmarks: each condition, several runs, the offline yardstick.

``channels_suite`` is ``companion bench channels``: several channels captioned at once,
clean and through the room (``bench.room``), ``runs`` times each, every run scored by
``bench.captions``, with the same model offline on the same audio beside it; ``companion
bench latency`` is the same with one channel. It returns a plain dict that the CLI
prints as JSON, so the figures in ``docs/benchmarks.md`` are what a command printed.

One rendering of the room says little about a captioner in that room: in this much
noise a decode's words depend on its window and prompt as much as on the audio, and
the same recording through the same room drawn with other seeds lost -3 to +10 points
against the model offline (``ko-tune``, the thirteenth session). With ``seeds`` above
one the room is replayed through that many renderings (``bench.room.conditions``), each
scored as the first, and ``room_over_seeds`` gives each seed's figures side by side
with their mean (``over_seeds``).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.captions import match_texts, offline, points_lost, run_report, summarise
from bench.replay import run_channels
from bench.room import Room, conditions, heard
from companion.captions import CaptionEvent
from workers.captioner.audio import SAMPLE_RATE
from workers.captioner.engine import WhisperEngine
from workers.captioner.worker import Captioner

BuildCaptioner = Callable[[str, str], Captioner]  # (channel id, language) -> captioner


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=False, cwd=Path(__file__).parent
        )
    except OSError:
        return ""
    return done.stdout.strip()


def provenance() -> dict[str, Any]:
    """The commit (``+changes`` when tracked files differ from it) and the date."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit + ("+changes" if dirty else ""),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


@dataclass(frozen=True)
class Track:
    """One channel of a benchmark: its language, audio and reference."""

    lang: str
    name: str
    audio: np.ndarray
    reference: dict[str, Any]


def load_reference(path: Path) -> dict[str, Any]:
    """A reference JSON from ``bench compose`` or ``bench sets``."""
    from companion.errors import ConfigError

    try:
        reference = json.loads(path.read_text(encoding="utf-8"))
        segments = reference["segments"]
        assert isinstance(segments, list) and all("text" in s for s in segments)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise ConfigError(
            f"{path}: not a reference JSON with segments (make one with `companion bench "
            f"compose` or `bench sets`): {exc}"
        ) from None
    if not reference.get("runs"):
        raise ConfigError(
            f"{path}: no speech runs in the reference: compose it again with this version"
        )
    return dict(reference)


def _write_events(directory: Path | None, name: str, events: Sequence[CaptionEvent]) -> None:
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for event in events:
            f.write(event.to_json() + "\n")


def _stable(reports: Sequence[dict[str, Any]]) -> float | None:
    """How alike the runs' final texts are: the least similarity of any run to the first."""
    if len(reports) < 2:
        return None
    return min(match_texts(reports[0]["text"], r["text"]) for r in reports[1:])


def channels_suite(
    tracks: Sequence[Track],
    build: BuildCaptioner,
    engine: WhisperEngine,
    room: Room | None,
    runs: int,
    speed: float,
    with_offline: bool = True,
    events_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
    seeds: int = 1,
) -> dict[str, Any]:
    """Caption every track at once, ``runs`` times per condition; the figures per track.
    ``seeds``: renderings of ``room`` to replay (see the module docstring)."""
    report: dict[str, Any] = {
        **provenance(),
        "speed": speed,
        "room_description": room.describe() if room is not None else None,
    }
    chosen_conditions = conditions(room, seeds)
    for condition, chosen in chosen_conditions:
        audios = [heard(t.audio, chosen) for t in tracks]
        per_track: list[list[dict[str, Any]]] = [[] for _ in tracks]
        for k in range(runs):
            progress(f"{condition} run {k + 1}/{runs} …")
            jobs = [
                (build(f"{t.lang}{i}", t.lang), a)
                for i, (t, a) in enumerate(zip(tracks, audios, strict=True))
            ]
            collectors = run_channels(jobs, speed)
            for i, ((captioner, _), col, track) in enumerate(
                zip(jobs, collectors, tracks, strict=True)
            ):
                _write_events(events_dir, f"{condition}-{track.name}-{k + 1}", col.events)
                per_track[i].append(
                    run_report(col.events, captioner.stats, track.reference, track.lang, speed)
                )
        out = []
        for track, audio, reports in zip(tracks, audios, per_track, strict=True):
            summary = summarise(reports)
            entry: dict[str, Any] = {"track": track.name, "lang": track.lang, "live": summary}
            if with_offline:
                progress(f"{condition} offline {track.name} …")
                text = " ".join(str(s["text"]) for s in track.reference["segments"])
                off = offline(engine, audio, track.lang, text)
                if events_dir is not None:  # beside the runs' events, to read them against
                    name = f"{condition}-{track.name}-offline.txt"
                    (events_dir / name).write_text(off["text"] + "\n", encoding="utf-8")
                entry["offline"] = {k: v for k, v in off.items() if k != "text"}
                entry["points_lost"] = points_lost(summary, off)
            entry["runs_alike"] = _stable(reports)
            entry["per_run"] = [{k: v for k, v in r.items() if k != "text"} for r in reports]
            out.append(entry)
        report[condition] = out
    rooms = [(name, r) for name, r in chosen_conditions if r is not None]
    if len(rooms) > 1:
        report["room_over_seeds"] = over_seeds(
            [report[name] for name, _ in rooms], [r.seed for _, r in rooms]
        )
    return report


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 2) if known and len(known) == len(values) else None


def over_seeds(
    per_seed: Sequence[Sequence[dict[str, Any]]], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Per track, the room's figures over its renderings: each seed's live and offline
    error rate, points lost and latency (each the median of its runs), side by side,
    with the mean of each and the most points lost. ``per_seed[k]`` is one seed's
    entries (one per track, as ``channels_suite`` reports a condition)."""
    out = []
    for entries in zip(*per_seed, strict=True):
        first = entries[0]
        metric = "wer" if "wer" in first["live"] else "cer"
        row: dict[str, Any] = {
            "track": first["track"],
            "lang": first["lang"],
            "metric": metric,
            "seeds": list(seeds),
            "live": [e["live"].get(metric) for e in entries],
            "offline": [e.get("offline", {}).get(metric) for e in entries],
            "points_lost": [e.get("points_lost") for e in entries],
            "sentences_lost": [e["live"].get("sentences_lost") for e in entries],
            "caption_latency_p50": [e["live"].get("caption_latency_p50") for e in entries],
            "caption_latency_p95": [e["live"].get("caption_latency_p95") for e in entries],
        }
        for key in ("live", "offline", "points_lost", "caption_latency_p50"):
            row[f"{key}_mean"] = _mean(row[key])
        lost = [v for v in row["points_lost"] if v is not None]
        row["points_lost_max"] = max(lost) if lost else None
        p95 = [v for v in row["caption_latency_p95"] if v is not None]
        row["caption_latency_p95_max"] = max(p95) if p95 else None
        out.append(row)
    return out


def looped(tracks: Sequence[Track]) -> list[Track]:
    """Each track played again until it lasts as long as the longest (whole plays):
    channels captioned at once share the cores from start to end. The reference's
    segments and speech runs are repeated with the audio."""
    longest = max(len(t.audio) for t in tracks)
    out = []
    for t in tracks:
        plays = max(1, -(-longest // max(1, len(t.audio))))
        if plays == 1:
            out.append(t)
            continue
        seconds = len(t.audio) / SAMPLE_RATE
        segments, runs = [], []
        for k in range(plays):
            shift = k * seconds
            for seg in t.reference["segments"]:
                moved = dict(seg)
                for key in ("start", "end", "speech_end"):
                    if key in moved:
                        moved[key] = round(float(moved[key]) + shift, 3)
                segments.append(moved)
            runs += [[round(a + shift, 3), round(b + shift, 3)] for a, b in t.reference["runs"]]
        reference = {**t.reference, "segments": segments, "runs": runs}
        audio = np.concatenate([t.audio] * plays)
        out.append(Track(t.lang, f"{t.name}x{plays}", audio, reference))
    return out
