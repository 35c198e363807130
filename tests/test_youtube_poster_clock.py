"""YouTube's clock as the poster sees it, stale cues, and long utterances cut: pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.captions import CaptionEvent, Word
from companion.errors import OutboxError
from workers.poster.clock import (
    MAX_AGE,
    SKEW_WARN_EVERY,
    Skew,
    refresh,
    server_time,
    stale,
)
from workers.poster.format import (
    CUE_SPAN,
    Cue,
    Outbox,
    Post,
    body,
    cue_for,
    cues_for,
    heartbeat_body,
    parse_body,
    parse_timestamp,
    timestamp,
)

T = 1796864400.0  # 2026-12-10T00:20:00Z


def test_the_server_time_is_read_from_the_reply() -> None:
    assert server_time("2026-11-30T12:34:56.789\n") == parse_timestamp("2026-11-30T12:34:56.789")
    assert server_time("  2026-11-30T12:34:56.789  ") is not None
    assert server_time("") is None and server_time("ok") is None
    assert server_time("2026-13-45T12:34:56.789") is None  # the format, but no time


def test_the_skew_is_the_server_time_less_the_round_trips_midpoint_smoothed() -> None:
    skew = Skew()
    assert skew.youtube_now(T) == T and skew.value is None
    assert skew.measure(T, T + 0.4, T + 20.2) == pytest.approx(20.0)  # 20.2 - 0.2
    assert skew.round_trip == pytest.approx(0.4) and skew.large
    skew.measure(T, T, T + 24.0)  # one odd sample moves it a quarter of the way
    assert skew.value == pytest.approx(21.0) and skew.last == pytest.approx(24.0)
    assert skew.youtube_now(T) == pytest.approx(T + 21.0)


def test_a_large_skew_is_warned_about_at_most_every_ten_minutes() -> None:
    skew = Skew()
    skew.measure(T, T, T - 12.0)
    assert skew.warn(T) and not skew.warn(T + 1) and not skew.warn(T + SKEW_WARN_EVERY - 1)
    assert skew.warn(T + SKEW_WARN_EVERY)
    small = Skew()
    small.measure(T, T, T + 3.0)
    assert not small.large and not small.warn(T)


def test_a_cue_is_stale_past_max_age_by_youtubes_clock() -> None:
    assert not stale(T, T + MAX_AGE) and stale(T, T + MAX_AGE + 0.001)
    assert not stale(T + 100, T)  # ahead: left alone


def test_timestamps_and_bodies_parse_back() -> None:
    assert parse_timestamp(timestamp(T + 0.25)) == T + 0.25
    cues = [Cue(T, "a<br>b"), Cue(T + 1.5, "c")]
    assert parse_body(body(cues)) == cues
    assert parse_body(heartbeat_body(T)) == [Cue(T, "")]


@given(st.lists(st.tuples(st.integers(0, 10**6), st.text("ab <>", max_size=8)), max_size=10))
def test_every_body_parses_back_to_its_cues(raw: list[tuple[int, str]]) -> None:
    cues = [Cue(T + millis / 1000, text) for millis, text in raw]
    assert parse_body(body(cues)) == cues


def post_of(*cues: Cue, seq: int = 7) -> Post:
    return Post(seq, body(cues), last_event=42, cues=len(cues))


def test_a_fresh_post_is_sent_as_it_is() -> None:
    post = post_of(Cue(T, "a"), Cue(T + 1, "b"))
    assert refresh(post, T + 10) == (post, 0)


def test_a_post_keeps_its_seq_and_loses_its_stale_cues() -> None:
    post = post_of(Cue(T, "a"), Cue(T + 30, "b"))
    fresh, dropped = refresh(post, T + 60)
    assert dropped == 1 and fresh == Post(7, body([Cue(T + 30, "b")]), 42, 1)


def test_a_post_left_with_nothing_is_settled_unsent() -> None:
    assert refresh(post_of(Cue(T, "a"), Cue(T + 1, "b")), T + 90) == (None, 2)
    beat = Post(3, heartbeat_body(T))
    assert refresh(beat, T + 90) == (None, 0)  # a heartbeat drops no caption
    assert refresh(beat, T + 1) == (beat, 0)


def test_the_pending_post_can_be_replaced_only_by_itself_with_less() -> None:
    outbox = Outbox()
    post = outbox.next(body([Cue(T, "a"), Cue(T + 30, "b")]), 42, 2)
    less = Post(post.seq, body([Cue(T + 30, "b")]), 42, 1)
    outbox.replace(less)
    assert outbox.pending == less
    with pytest.raises(OutboxError):
        outbox.replace(Post(post.seq + 1, "x"))
    outbox.settle(less)
    assert outbox.last_seq == 1


def spoken(seconds: float, every: float = 0.5, at: float = T) -> CaptionEvent:
    """A final of words every ``every`` seconds of audio, from 10 s into the source."""
    count = max(1, round(seconds / every))
    words = tuple(
        Word(f" w{n}", 10 + n * every, 10 + n * every + every * 0.8) for n in range(count)
    )
    text = "".join(w.text for w in words).strip()
    return CaptionEvent("en", 1, True, text, "en", 10.0, 10 + seconds, 1.0, 0, words=words, at=at)


def test_a_short_caption_is_one_cue() -> None:
    event = spoken(CUE_SPAN - 1)
    assert cues_for(event, 2.0, T + 100) == [cue_for(event, 2.0, T + 100)]


def test_a_long_caption_is_cut_into_even_cues_at_their_words_times() -> None:
    event = spoken(24.0, every=1.0)  # words at 0, 1, … 23 s
    cues = cues_for(event, 2.0, T + 100)
    assert [c.at - T - 2.0 for c in cues] == [0.0, 8.0, 16.0]
    assert " ".join(c.text.replace("<br>", " ") for c in cues) == event.text


def test_a_caption_is_not_cut_without_its_audio_time_or_when_words_and_text_differ() -> None:
    event = spoken(24.0)
    unknown = CaptionEvent(**{**event.to_dict(), "words": event.words, "lines": (), "at": 0.0})
    assert len(cues_for(unknown, 0.0, T)) == 1
    edited = CaptionEvent(**{**event.to_dict(), "words": event.words, "lines": (), "text": "x"})
    assert cues_for(edited, 0.0, T) == [Cue(T, "x")]


@given(st.floats(0.5, 28.0), st.floats(0.1, 3.0))
def test_cut_cues_keep_every_word_once_in_order_near_its_time(seconds: float, every: float) -> None:
    event = spoken(seconds, every)
    cues = cues_for(event, 0.0, T + 100)
    assert " ".join(c.text.replace("<br>", " ") for c in cues).split() == event.text.split()
    assert [c.at for c in cues] == sorted(c.at for c in cues) and cues[0].at == T
    starts = [w.start - event.start + T for w in event.words]
    for cue, after in zip(cues, [*[c.at for c in cues[1:]], T + 1e9], strict=True):
        inside = [s for s in starts if cue.at <= s < after]
        assert inside and inside[-1] - cue.at <= CUE_SPAN + every  # no word far behind its cue
