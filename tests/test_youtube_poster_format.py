"""YouTube's caption ingestion format and the numbering of posts: pure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.captions import CaptionEvent
from workers.poster.format import (
    REJECT_ATTEMPTS,
    RETRY_MAX,
    Cue,
    Outbox,
    OutboxError,
    body,
    caption_text,
    cue_for,
    give_up,
    heartbeat_body,
    is_transient,
    postable,
    retry_delay,
    timestamp,
)

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")


def final(text: str, lines: tuple[str, ...] = (), at: float = 0.0, seq: int = 1) -> CaptionEvent:
    return CaptionEvent("en", seq, True, text, "en", 0.0, 1.0, 1.0, 0, lines=lines, at=at)


def test_timestamps_are_utc_with_milliseconds_and_no_zone() -> None:
    assert timestamp(0.0) == "1970-01-01T00:00:00.000"
    assert timestamp(1778720523.4567) == "2026-05-14T01:02:03.457"
    assert timestamp(1778720523.9996) == "2026-05-14T01:02:04.000"  # rounds into the next second


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_every_timestamp_has_the_format(unix: float) -> None:
    stamp = timestamp(unix)
    assert STAMP.match(stamp)
    assert abs(float(stamp[-3:]) / 1000 - (round(unix * 1000) % 1000) / 1000) < 1e-9


def test_text_breaks_lines_with_br() -> None:
    assert caption_text(final("a b c d", ("a b", "c d"))) == "a b<br>c d"
    assert caption_text(final("one\ntwo\r\n three ")) == "one<br>two<br>three"
    assert caption_text(final("  ")) == ""


def test_cues_are_timed_by_their_audio_plus_the_delay() -> None:
    assert cue_for(final("hi", at=1000.0), 2.5, received=2000.0) == Cue(1002.5, "hi")
    assert cue_for(final("hi"), 2.5, received=2000.0) == Cue(2002.5, "hi")  # at unknown


def test_bodies() -> None:
    cues = [Cue(1778720523.25, "The social<br>economy"), Cue(1778720524.0, "한국어")]
    assert body(cues) == (
        "2026-05-14T01:02:03.250\nThe social<br>economy\n2026-05-14T01:02:04.000\n한국어\n"
    )
    assert heartbeat_body(0.0) == "1970-01-01T00:00:00.000\n\n"


def test_only_final_captions_with_text_are_posted() -> None:
    assert postable(final("yes"))
    assert not postable(final(" "))
    partial = CaptionEvent("en", 1, False, "partial", "en", 0.0, 1.0, 1.0, 0)
    assert not postable(partial)


def test_outbox_numbers_by_one_and_keeps_a_pending_number() -> None:
    outbox = Outbox()
    first = outbox.next("a", last_event=3, cues=1)
    assert first.seq == 1 and not first.heartbeat
    with pytest.raises(OutboxError):
        outbox.next("b")  # nothing is numbered while a post is pending
    outbox.settle(first)
    beat = outbox.next("beat")
    assert beat.seq == 2 and beat.heartbeat
    with pytest.raises(OutboxError):
        outbox.settle(first)
    outbox.settle(beat)
    assert outbox.last_seq == 2 and outbox.pending is None


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=5), max_size=30))
def test_sent_numbers_rise_by_one_and_repeat_only_on_retry(tries: list[list[bool]]) -> None:
    """Each post is tried until one try succeeds (or it is given up): the numbers on
    the wire repeat only for retries of one post and never skip."""
    outbox, wire = Outbox(), []
    for n, attempts in enumerate(tries):
        post = outbox.next(f"body {n}")
        for ok in attempts:
            wire.append((post.seq, post.body))
            if ok:
                break
        outbox.settle(post)
    seqs = [seq for seq, _ in wire]
    assert seqs == sorted(seqs)
    assert sorted(set(seqs)) == list(range(1, len(tries) + 1))
    for seq, text in wire:
        assert text == f"body {seq - 1}"  # one number, one body


def test_which_failures_are_retried() -> None:
    for status in (None, 408, 429, 500, 503):
        assert is_transient(status) and not give_up(status, 1000)
    for status in (400, 401, 403, 404):
        assert not is_transient(status)
        assert not give_up(status, REJECT_ATTEMPTS - 1)
        assert give_up(status, REJECT_ATTEMPTS)


@given(st.integers(min_value=1, max_value=200), st.floats(0, 1))
def test_retry_delays_are_jittered_and_bounded(attempts: int, draw: float) -> None:
    delay = retry_delay(attempts, draw)
    assert 0.25 <= delay <= RETRY_MAX
    assert retry_delay(attempts + 1, draw) >= delay
