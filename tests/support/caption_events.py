"""Caption events for the tests: finals to score or show, and captions to publish."""

from __future__ import annotations

from collections.abc import Sequence

from companion.captions import CaptionEvent, Word


def final_caption(
    seq: int,
    text: str,
    words: Sequence[tuple[str, float, float]],
    emitted: float,
    utterance: int | None = None,
    end_of_utterance: bool = True,
) -> CaptionEvent:
    """A final English caption with ``words`` as (text, start, end) in audio seconds."""
    ws = tuple(Word(f" {t}", a, b) for t, a, b in words)
    return CaptionEvent(
        channel="en",
        seq=seq,
        final=True,
        text=text,
        lang="en",
        start=ws[0].start if ws else 0.0,
        end=ws[-1].end if ws else 0.0,
        emitted=emitted,
        utterance=seq if utterance is None else utterance,
        end_of_utterance=end_of_utterance,
        words=ws,
        lines=(text,),
        at=1_800_000_000.0 + seq,
    )


def caption(channel: str, final: bool, text: str = "words", utterance: int = 0) -> CaptionEvent:
    """A caption of ``channel`` as a captioner publishes it (the bus numbers it)."""
    return CaptionEvent(channel, 0, final, text, channel, 0.0, 1.0, 1.0, utterance)
