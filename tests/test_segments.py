"""Caption segments, pure: window math, the assembler, and the renderings read back by
independent parsers (``m3u8`` for the playlist, ``webvtt-py`` for the segments)."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import m3u8
import pytest
import webvtt
from hypothesis import given
from hypothesis import strategies as st

from companion.captions import CaptionEvent
from companion.segment_formats import (
    TIMESTAMP_MAP,
    playlist_length,
    render_playlist,
    render_vtt,
    target_duration,
    vtt_time,
)
from companion.segments import (
    GRACE,
    MAX_CUE,
    MIN_CUE,
    Cue,
    Latest,
    Segment,
    SegmentAssembler,
    closes_at,
    window_of,
    window_start,
)

T0 = 1_800_000_000.0  # a Unix time on a window boundary for L = 2


def final(seq: int, text: str, at: float = 0.0, length: float = 1.0) -> CaptionEvent:
    return CaptionEvent(
        channel="en",
        seq=seq,
        final=True,
        text=text,
        lang="en",
        start=10.0,
        end=10.0 + length,
        emitted=0.0,
        utterance=seq,
        at=at,
    )


# -- window math -------------------------------------------------------------------------


def test_windows_are_half_open_and_close_after_a_grace() -> None:
    assert window_of(T0, 2.0) == T0 / 2
    assert window_of(T0 + 1.999, 2.0) == T0 / 2
    assert window_of(T0 + 2.0, 2.0) == T0 / 2 + 1
    assert window_of(0.3, 0.1) == 3  # 0.3 / 0.1 is 2.9999999999999996 in floats
    n = window_of(T0, 2.0)
    assert closes_at(n, 2.0) == T0 + 2.0 + GRACE
    assert closes_at(n, 0.2) == pytest.approx((n + 1) * 0.2 + 0.1)  # at most half a window


@given(st.floats(1e9, 3e9), st.sampled_from([0.5, 1.0, 1.5, 2.0, 4.0, 10.0]))
def test_every_time_is_in_the_window_that_contains_it(t: float, seconds: float) -> None:
    n = window_of(t, seconds)
    assert window_start(n, seconds) <= t + 1e-6
    assert t < window_start(n + 1, seconds) + 1e-6


# -- cues --------------------------------------------------------------------------------


def test_a_cue_is_shown_from_its_arrival_for_its_length_within_bounds() -> None:
    cue = Cue.of(final(1, "hi", at=T0 - 3, length=1.0), arrived=T0 + 0.5, window=T0)
    assert (cue.start, cue.end) == (T0 - 3, T0 - 2)  # when it was said
    assert (cue.shown, cue.hidden) == (T0 + 0.5, T0 + 0.5 + MIN_CUE)
    long = Cue.of(final(2, "long", at=T0, length=30.0), arrived=T0 + 1, window=T0)
    assert long.hidden - long.shown == MAX_CUE
    late = Cue.of(final(3, "late", length=1.0), arrived=T0 - 5, window=T0)
    assert late.shown == T0  # never before its window
    assert (late.start, late.end) == (T0 - 6, T0 - 5)  # no ``at``: its arrival less its length


# -- the assembler -------------------------------------------------------------------------


def test_finals_go_into_the_window_open_when_they_arrive() -> None:
    asm = SegmentAssembler("en", 2.0)
    asm.start(T0 + 0.1)
    n = window_of(T0, 2.0)
    asm.add(final(1, "one"), T0 + 0.2)
    asm.add(final(2, "two"), T0 + 1.9)
    asm.add(final(3, "three"), T0 + 2.1)  # the next window
    asm.add(CaptionEvent("en", 4, False, "partial", "en", 0, 1, 0, 4), T0 + 1.0)
    assert not asm.due(T0 + 2.0 + GRACE - 0.01)
    assert asm.due(T0 + 2.0 + GRACE)
    seg = asm.build()
    assert (seg.n, seg.seq, seg.epoch) == (n, 2, T0)
    assert [c.text for c in seg.captions] == ["one", "two"]
    asm.published(seg)
    assert asm.latest() == Latest(n, n, 2.0, 2)
    seg2 = asm.build()
    assert [c.text for c in seg2.captions] == ["three"]
    # "one" and "two" (shown for 2 s from T0 + 0.2 and + 1.9) are still on screen
    assert seg2.carried == seg.captions  # carried as identical copies
    asm.published(seg2)
    empty = asm.build()  # nothing new: an empty window is a segment too
    assert (empty.n, empty.captions, empty.seq) == (n + 2, (), 3)
    assert [c.text for c in empty.carried] == ["three"]


def test_a_late_final_goes_into_the_first_window_not_published() -> None:
    asm = SegmentAssembler("en", 2.0)
    asm.start(T0)
    asm.published(asm.build())
    asm.add(final(1, "late"), T0 + 1.0)  # arrived during window 0, after it was published
    seg = asm.build()
    assert seg.n == window_of(T0, 2.0) + 1
    assert [(c.text, c.shown) for c in seg.captions] == [("late", T0 + 2.0)]
    asm.published(seg)
    asm.add(final(1, "late"), T0 + 3.0)  # heard again: already published, ignored
    assert asm.build().captions == ()


def test_resume_continues_the_stored_run_and_skips_published_finals() -> None:
    first = SegmentAssembler("en", 2.0)
    first.start(T0)
    first.add(final(1, "one"), T0 + 1.5)
    seg = first.build()
    first.published(seg)
    standby = SegmentAssembler("en", 2.0)  # heard the same finals, and one more
    standby.add(final(1, "one"), T0 + 1.5)
    standby.add(final(2, "two"), T0 + 2.5)
    assert standby.resume(first.latest(), seg, now=T0 + 9.0)
    assert standby.next == seg.n + 1 and standby.first == seg.n
    nxt = standby.build()
    assert [c.seq for c in nxt.captions] == [2]
    assert [c.seq for c in nxt.carried] == [1]  # still on screen, identical copy
    assert nxt.epoch == seg.epoch


def test_resume_starts_a_new_run_when_nothing_usable_is_stored() -> None:
    asm = SegmentAssembler("en", 2.0)
    assert not asm.resume(None, None, now=T0 + 1)
    assert asm.next == asm.first == window_of(T0, 2.0)
    other_length = Latest(segment=100, first=90, seconds=4.0, seq=5)
    assert not asm.resume(other_length, None, now=T0)
    ancient = Latest(segment=window_of(T0 - 7200, 2.0), first=0, seconds=2.0, seq=5)
    assert not asm.resume(ancient, None, now=T0)
    assert asm.next == window_of(T0, 2.0)


def test_pending_finals_are_bounded() -> None:
    asm = SegmentAssembler("en", 2.0, max_pending=3)
    for seq in range(1, 6):
        asm.add(final(seq, f"f{seq}"), T0)
    assert sorted(asm.pending) == [3, 4, 5] and asm.dropped == 2


def test_segments_round_trip_through_json() -> None:
    asm = SegmentAssembler("ko", 2.0)
    asm.start(T0)
    asm.add(final(7, '안녕하세요 "여러분"'), T0 + 0.4)
    seg = asm.build()
    text = seg.to_json()
    assert Segment.from_json(text) == seg
    assert "안녕하세요" in text  # UTF-8 kept as is
    latest = Latest(5, 1, 2.0, 9)
    assert Latest.from_json(latest.to_json()) == latest


# -- renderings, read back ---------------------------------------------------------------


def two_segments() -> tuple[Segment, Segment]:
    asm = SegmentAssembler("en", 2.0)
    asm.start(T0)
    asm.add(final(1, "Hello <everyone> & welcome\nto the show"), T0 + 1.5)
    asm.add(final(2, "Second"), T0 + 1.8)
    a = asm.build()
    asm.published(a)
    asm.add(final(3, "Third"), T0 + 2.5)
    b = asm.build()
    return a, b


def test_vtt_segments_read_back_with_the_finals_text_and_repeat_cues_identically() -> None:
    a, b = two_segments()
    va, vb = webvtt.from_string(render_vtt(a)), webvtt.from_string(render_vtt(b))
    assert render_vtt(a).startswith(f"WEBVTT\n{TIMESTAMP_MAP}\n")
    assert [html.unescape(c.text) for c in va] == [
        "Hello <everyone> & welcome to the show",
        "Second",
    ]
    assert [c.identifier for c in va] == ["1", "2"]
    assert va.captions[0].start == "00:00:01.500"  # seconds since the run's epoch (T0)
    assert va.captions[0].end == "00:00:03.500"
    # cues 1 and 2 are still on screen in b: the same identifier, times and text
    repeated = {(c.identifier, c.start, c.end, c.text) for c in va}
    assert repeated <= {(c.identifier, c.start, c.end, c.text) for c in vb}
    assert [c.identifier for c in vb] == ["1", "2", "3"]


def test_an_empty_segment_is_a_valid_vtt() -> None:
    asm = SegmentAssembler("en", 2.0)
    asm.start(T0)
    text = render_vtt(asm.build())
    assert text == f"WEBVTT\n{TIMESTAMP_MAP}\n"
    assert webvtt.from_string(text).captions == []


def test_vtt_times_pass_99_hours() -> None:
    assert vtt_time(0) == "00:00:00.000"
    assert vtt_time(3723.4567) == "01:02:03.457"
    assert vtt_time(100 * 3600 + 0.5) == "100:00:00.500"


def test_the_playlist_reads_back_as_a_live_sliding_window() -> None:
    n = window_of(T0, 2.0)
    text = render_playlist(Latest(segment=n + 40, first=n, seconds=2.0, seq=9))
    playlist = m3u8.loads(text)
    assert not playlist.is_endlist and playlist.playlist_type is None
    assert playlist.target_duration == 2
    count = playlist_length(2.0)
    assert count == 30 and len(playlist.segments) == count
    assert playlist.media_sequence == n + 40 - count + 1
    assert [s.uri for s in playlist.segments][-1] == f"{n + 40}.vtt"
    assert all(s.duration == 2.0 for s in playlist.segments)
    last = playlist.segments[-1].current_program_date_time
    assert last == datetime.fromtimestamp(T0 + 80, tz=UTC)
    assert "#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:01:20.000Z" in text


def test_a_young_run_lists_only_its_own_segments() -> None:
    n = window_of(T0, 2.0)
    playlist = m3u8.loads(render_playlist(Latest(segment=n + 2, first=n, seconds=2.0, seq=0)))
    assert playlist.media_sequence == n
    assert [s.uri for s in playlist.segments] == [f"{n}.vtt", f"{n + 1}.vtt", f"{n + 2}.vtt"]


@pytest.mark.parametrize("seconds", [0.5, 1.0, 1.5, 2.0, 6.0, 10.0])
def test_the_playlist_honours_the_sliding_window_rules(seconds: float) -> None:
    count = playlist_length(seconds)
    assert count >= 6
    assert count * seconds >= 3 * target_duration(seconds)
    assert round(seconds) <= target_duration(seconds)  # every EXTINF, rounded, fits
