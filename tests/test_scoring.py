"""Benchmark scoring on hand-made events."""

from __future__ import annotations

from bench.scoring import error_rate, first_shown_latencies, percentile
from companion.captions import CaptionEvent, Word


def ev(
    seq: int, final: bool, text: str, emitted: float, words: tuple[Word, ...] = ()
) -> CaptionEvent:
    return CaptionEvent("en", seq, final, text, "en", 0.0, 2.0, emitted, 1, final, words)


def test_error_rates() -> None:
    assert error_rate("Ask not, what", "ask not what", "en") == ("wer", 0.0)
    assert error_rate("a b c d", "a b x d", "en")[1] == 0.25
    assert error_rate("그는 걸어갔다.", "그는걸어 갔다", "ko") == ("cer", 0.0)
    assert round(error_rate("가나다라", "가나다마", "ko")[1], 2) == 0.25


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(101)], 0.95) == 95.0


def test_first_shown_latency_per_word() -> None:
    words = (Word(" ask", 0.2, 0.5), Word(" not", 0.6, 1.0))
    events = [
        ev(1, False, "ask", 0.9),
        ev(2, False, "ask nod", 1.4),
        ev(3, True, "ask not", 2.0, words),
    ]
    assert first_shown_latencies(events) == [0.4, 1.0]
    # at double speed the audio ends at half the wall time
    assert first_shown_latencies(events, speed=2.0) == [0.65, 1.5]
