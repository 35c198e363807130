"""The benchmarks' own scoring and pacing: they must not flatter the captioner (no model)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.captions import (
    caption_latencies,
    runs_without_final,
    segment_scores,
    speech_end_of,
    summarise,
)
from bench.replay import paced_array
from bench.room import Room, conditions
from bench.suite import Track, looped, over_seeds
from companion.captions import CaptionEvent
from tests.support.caption_events import final_caption
from workers.captioner.audio import SAMPLE_RATE


def final(
    seq: int, text: str, words: list[tuple[str, float, float]], emitted: float
) -> CaptionEvent:
    return final_caption(seq, text, words, emitted)


RUNS = [(1.0, 3.0), (4.0, 9.0)]


def test_latency_counts_from_the_end_of_the_speech_not_the_word_times() -> None:
    # Whisper put the last word's end 0.3 s early: the run's end still counts
    assert speech_end_of(2.7, RUNS) == 3.0
    # a caption cut from the middle of a long run: its own last word counts
    assert speech_end_of(6.0, RUNS) == 6.0
    assert speech_end_of(20.0, RUNS) is None
    events = [
        final(1, "a b", [("a", 1.0, 1.5), ("b", 1.5, 2.7)], emitted=4.0),
        final(2, "c", [("c", 4.0, 6.0)], emitted=6.5),
        final(3, "lost", [("lost", 19.0, 20.0)], emitted=21.0),
    ]
    latencies, unmatched = caption_latencies(events, RUNS, speed=1.0)
    assert latencies == pytest.approx([1.0, 0.5]) and unmatched == 1
    # replayed at twice real time, audio time t is live at wall time t / 2
    assert caption_latencies(events[:1], RUNS, speed=2.0)[0] == pytest.approx([2.5])


def test_a_stretch_of_speech_without_any_final_word_is_counted() -> None:
    events = [final(1, "a", [("a", 1.2, 2.9)], emitted=3.5)]
    assert runs_without_final(events, RUNS) == 1
    assert runs_without_final(events, [(1.0, 3.0), (4.0, 4.3)]) == 0  # too short to count


def test_sentences_lost_and_their_latency_by_characters() -> None:
    segments = [
        {"text": "ask not what your country", "start": 1.0, "end": 3.2, "speech_end": 3.0},
        {"text": "can do for you", "start": 4.0, "end": 9.0},
    ]
    events = [final(1, "Ask not what your country", [("x", 1.0, 3.0)], emitted=3.9)]
    scores = segment_scores(events, segments)
    assert scores["sentences_lost"] == 1
    assert scores["sentence_latency_p50"] == pytest.approx(0.9)
    events.append(final(2, "can do for you.", [("y", 4.0, 9.0)], emitted=10.0))
    assert segment_scores(events, segments)["sentences_lost"] == 0


def test_summary_gives_median_and_spread() -> None:
    runs = [{"wer": 5.0, "caption_latency_p50": 1.0}, {"wer": 7.0}, {"wer": 6.0}]
    summary = summarise(runs)
    assert summary["wer"] == 6.0 and summary["wer_spread"] == 2.0
    assert summary["caption_latency_p50"] == 1.0 and summary["caption_latency_p50_spread"] == 0
    assert summary["runs"] == 3


def test_a_shorter_track_is_looped_with_its_reference() -> None:
    ref = {
        "segments": [{"text": "x", "start": 0.5, "end": 1.0, "speech_end": 0.9}],
        "runs": [[0.5, 0.9]],
    }
    short = Track("ko", "short", np.zeros(2 * SAMPLE_RATE, np.float32), ref)
    long = Track("en", "long", np.zeros(5 * SAMPLE_RATE, np.float32), ref)
    a, b = looped([short, long])
    assert len(a.audio) == 6 * SAMPLE_RATE and b is long
    assert [s["start"] for s in a.reference["segments"]] == [0.5, 2.5, 4.5]
    assert a.reference["runs"][2] == [4.5, 4.9]


def test_paced_replay_never_hands_audio_before_its_time() -> None:
    audio = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)
    speed = 2.0
    began = time.monotonic()
    heard = 0
    for chunk in paced_array(audio, speed, chunk_seconds=0.1):
        heard += len(chunk)
        # the last sample handed over must already have been spoken, at this pace
        assert time.monotonic() - began >= heard / SAMPLE_RATE / speed - 1e-3
    assert heard == len(audio)
    assert time.monotonic() - began >= 1.5 / speed - 1e-3


def test_a_recording_played_twice_is_scored_copy_by_copy() -> None:
    text = "ask not what your country can do for you"
    segments = [
        {"text": text, "start": 1.0, "end": 4.0, "speech_end": 4.0},
        {"text": text, "start": 11.0, "end": 14.0, "speech_end": 14.0},
    ]
    events = [
        final(1, text, [("a", 1.0, 4.0)], emitted=5.0),
        final(2, text, [("b", 11.0, 14.0)], emitted=15.0),
    ]
    scores = segment_scores(events, segments)
    assert scores["sentences_lost"] == 0 and scores["sentence_latency_p50"] == pytest.approx(1.0)
    assert segment_scores(events[:1], segments)["sentences_lost"] == 1


def test_the_room_is_replayed_through_each_seed_asked_for() -> None:
    room = Room(rt60=0.7, snr_db=10.0, seed=3)
    named = conditions(room, seeds=3)
    assert [name for name, _ in named] == ["clean", "room", "room_seed_4", "room_seed_5"]
    assert [r.seed for _, r in named[1:] if r is not None] == [3, 4, 5]
    assert all(r is not None and (r.rt60, r.snr_db) == (0.7, 10.0) for _, r in named[1:])
    assert conditions(None, seeds=3) == [("clean", None)]
    assert conditions(room) == [("clean", None), ("room", room)]


def entry(track: str, live: float, offline: float | None, p95: float) -> dict[str, object]:
    """One track's figures in one condition, as ``channels_suite`` reports them."""
    return {
        "track": track,
        "lang": "ko",
        "live": {
            "cer": live,
            "sentences_lost": 0,
            "caption_latency_p50": 1.0,
            "caption_latency_p95": p95,
        },
        **({"offline": {"cer": offline}} if offline is not None else {}),
        "points_lost": round(live - offline, 2) if offline is not None else None,
    }


def test_the_room_over_seeds_gives_each_seed_and_their_mean() -> None:
    per_seed = [
        [entry("ko-test", 25.0, 20.0, 1.5), entry("en", 10.0, 9.0, 1.0)],
        [entry("ko-test", 21.0, 22.0, 2.5), entry("en", 12.0, 9.0, 1.1)],
    ]
    ko, en = over_seeds(per_seed, [1, 2])
    assert ko["track"] == "ko-test" and ko["metric"] == "cer" and ko["seeds"] == [1, 2]
    assert ko["live"] == [25.0, 21.0] and ko["offline"] == [20.0, 22.0]
    assert ko["points_lost"] == [5.0, -1.0] and ko["points_lost_mean"] == 2.0
    assert ko["points_lost_max"] == 5.0 and ko["caption_latency_p95_max"] == 2.5
    assert ko["live_mean"] == 23.0 and ko["offline_mean"] == 21.0
    assert en["points_lost"] == [1.0, 3.0] and en["points_lost_mean"] == 2.0
    # without the offline yardstick there is nothing to lose points against
    (alone,) = over_seeds([[entry("ko", 25.0, None, 1.5)], [entry("ko", 21.0, None, 1.6)]], [1, 2])
    assert alone["points_lost_mean"] is None and alone["live_mean"] == 23.0
