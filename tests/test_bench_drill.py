"""The fault drill: its counting (pure), and one short drill end to end.

The end-to-end drill starts its own append-only Redis, two replicas, a captioner with
the real model, the archiver, a poster and 50 viewers as on a real machine, SIGKILLs
each kind in turn and holds what each stage got against the stream in Redis.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.drill_count import (
    ViewerLog,
    archive_figures,
    post_figures,
    stream_figures,
    verdict,
    viewer_figures,
)
from companion.captions import CaptionEvent


def event(seq: int, final: bool = True, text: str = "", at: float = 0.0) -> CaptionEvent:
    text = text or f"caption {seq}"
    return CaptionEvent("en", seq, final, text, "en", 0.0, 1.0, 1.0, seq, at=at or 100.0 + seq)


# ------------------------------------------------------------------ the counting


def test_the_stream_counts_finals_and_a_caption_appended_twice() -> None:
    events = [event(1, final=False), event(2), event(3)]
    assert stream_figures(events) == {
        "entries": 3,
        "finals_published": 2,
        "duplicate_entries": 0,
        "seqs_in_order": True,
    }
    twice = [*events, replace(events[-1], seq=4)]  # seq 3's caption appended again
    assert stream_figures(twice)["duplicate_entries"] == 1


def test_the_archive_is_matched_by_seq_with_its_duplicates_and_losses() -> None:
    figures = archive_figures([2, 3, 5], [2, 3, 3, 9])
    assert figures == {"finals_archived": 2, "duplicates": 1, "lost": [5], "not_in_stream": [9]}


def test_a_post_sent_again_with_its_seq_is_a_retry_and_a_cue_in_two_posts_a_duplicate() -> None:
    a, b, c = ("t1", "one"), ("t2", "two"), ("t3", "three")
    expected = {a: 1, b: 2, c: 3}
    posts = [(1, [a]), (2, [b]), (2, [b]), (3, [("t9", "")])]  # a retry, a heartbeat
    figures = post_figures(expected, posts)
    assert figures["finals_posted"] == 2 and figures["duplicates"] == 0
    assert figures["retries"] == 1 and figures["heartbeats"] == 1
    assert figures["lost"] == [3]
    again = post_figures(expected, [(1, [a, b]), (2, [b, c])])  # b under a new seq
    assert again["duplicates"] == 1 and again["lost"] == [] and again["retries"] == 0
    cut = post_figures({a: 1, b: 1, c: 2}, [(1, [a]), (2, [c])])  # final 1 is two cues
    assert cut["finals_posted"] == 1 and cut["lost"] == [1]


def test_a_viewer_misses_what_it_never_got_unless_a_gap_named_it() -> None:
    finals = [2, 4, 6, 8, 10]
    whole = ViewerLog(seqs=[1, 2, 3, 4, 6, 8, 10], finals=[2, 4, 6, 8, 10], connects=2)
    late = ViewerLog(seqs=[6, 8, 10], finals=[6, 8, 10], connects=1)  # joined at 6
    holed = ViewerLog(seqs=[2, 4, 10], finals=[2, 4, 10], connects=2)  # lost 6 and 8
    gapped = ViewerLog(seqs=[2, 10], finals=[2, 10], gaps=[(3, 8)], connects=2)
    twice = ViewerLog(seqs=[2, 4, 4, 6, 8, 10], finals=[2, 4, 4, 6, 8, 10], connects=2)
    figures = viewer_figures(finals, [whole, late, holed, gapped, twice])
    assert figures["viewers"] == 5
    assert figures["with_every_final"] == 3  # whole, late, twice
    assert figures["finals_missed"] == 2 and figures["most_missed_by_one"] == 2
    assert figures["finals_missed_in_gaps"] == 3 and figures["gaps"] == 1
    assert figures["duplicates"] == 1 and figures["out_of_order"] == 1
    assert figures["reconnects"] == 4
    assert figures["close_codes"] == {} and figures["refused_connects"] == 0


def test_a_viewer_that_stopped_early_misses_the_finals_after() -> None:
    stopped = ViewerLog(seqs=[2], finals=[2], connects=1)
    assert viewer_figures([2, 4], [stopped])["finals_missed"] == 1


def test_the_verdict_names_every_miss() -> None:
    report = {
        "stream": {"finals_published": 5, "duplicate_entries": 0},
        "archive": {"lost": [], "duplicates": 0},
        "posted": {"lost": [3], "duplicates": 0},
        "viewers": {
            "finals_missed": 0,
            "gaps": 0,
            "duplicates": 0,
            "out_of_order": 0,
            "got_none": 0,
        },
        "back": {"replica-1": {"back_s": 0.5}, "poster": {"back_s": 89.1}, "archiver": {}},
        "exited": {},
    }
    assert verdict(report) == [
        "1 finals were not posted",
        "poster took 89.1 s to come back (target 10 s)",
        "archiver did not come back",
    ]
    report["posted"] = {"lost": [], "duplicates": 0}
    report["back"] = {"redis": {"back_s": 0.2, "stream_kept_by_aof": True}}
    assert verdict(report) == []


# ------------------------------------------------------------------ the drill itself


@pytest.mark.model  # the captioner loads the real model
@pytest.mark.redis  # a redis-server of its own, append-only, killed and restarted
@pytest.mark.slow  # five kinds of companion processes, each killed and restarted
def test_a_short_drill_loses_and_duplicates_nothing_and_everything_comes_back(
    base_model_dir: str, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.drill import KINDS, run_drill

    monkeypatch.setenv("COMPANION_CACHE_DIR", str(model_cache))
    report = run_drill(viewers=50, seconds_between=5.0, redis_down=1.0, progress=print)
    print(report)
    stream, archive, posted = report["stream"], report["archive"], report["posted"]
    viewers = report["viewers"]
    assert stream["finals_published"] >= 5 and stream["duplicate_entries"] == 0
    assert archive["finals_archived"] == stream["finals_published"]
    assert archive["lost"] == [] and archive["duplicates"] == 0
    assert posted["finals_posted"] == stream["finals_published"]
    assert posted["lost"] == [] and posted["duplicates"] == 0
    assert viewers["with_every_final"] == 50
    assert viewers["finals_missed"] == 0 and viewers["gaps"] == 0
    assert viewers["duplicates"] == 0 and viewers["out_of_order"] == 0
    assert viewers["reconnects"] >= 50  # every replica kill moved its viewers
    assert list(report["back"]) == list(KINDS)
    for kind, back in report["back"].items():
        assert back["back_s"] is not None and back["back_s"] <= 10.0, (kind, back)
    assert report["back"]["redis"]["stream_kept_by_aof"]
    assert report["exited"] == {} and report["drained"]
    assert report["target_met"], report["reasons"]
