"""What the archive keeps: one JSON line per final caption, per correction. Pure.

A caption line is the caption event as the bus carried it (``CaptionEvent.to_dict``)
plus what the archiver knew when it wrote it::

    {"v": 1, "epoch": "…", "received": 1765327800.512, "session": "korea",
     "source": "floor", "channel": "en", "seq": 17, "final": true, "text": "…",
     "lang": "en", "start": 12.3, "end": 15.1, "at": 1765327790.2, "words": […], …}

``(channel, epoch, seq)`` names a caption for ever: ``seq`` is the bus's number and
``epoch`` the life of the stream that numbered it (a Redis stream's epoch token, or
one run of the in-memory bus), so a caption delivered twice is stored once and a bus
that numbers from 1 again does not collide with what is archived. ``id`` is
``"<epoch>-<seq>"``, the handle organizers use to correct a caption.

A correction line replaces the text of one caption; the caption line itself is never
rewritten, so the original stays, and every correction keeps who made it and when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from companion.captions import CaptionEvent

RECORD_VERSION = 1
FLOOR = "floor"
MAX_CORRECTION_CHARS = 2000


@dataclass(frozen=True)
class ArchivedWord:
    """A word with its times in seconds from the caption's start."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Correction:
    """An organizer replaced the text of caption ``caption`` of ``channel``."""

    channel: str
    caption: str  # the caption's id, "<epoch>-<seq>"
    text: str
    by: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "caption": self.caption,
            "text": self.text,
            "by": self.by,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Correction:
        return cls(
            str(data["channel"]),
            str(data["caption"]),
            str(data["text"]),
            str(data.get("by", "")),
            float(data["at"]),
        )


@dataclass(frozen=True)
class ArchivedCaption:
    """One final caption as archived, with its corrections applied."""

    channel: str
    epoch: str
    seq: int
    text: str
    lang: str
    source: str
    at: float  # Unix time its audio began (the receipt time when the captioner did not know)
    duration: float
    received: float
    session: str  # where the archiver filed it (exports follow the programme as it is now)
    words: tuple[ArchivedWord, ...] = ()
    original: str = ""  # the captioner's text, once corrected
    corrections: tuple[Correction, ...] = ()

    @property
    def id(self) -> str:
        return caption_id(self.epoch, self.seq)

    @property
    def end_at(self) -> float:
        return self.at + self.duration

    @property
    def is_floor(self) -> bool:
        return self.source == FLOOR


def caption_id(epoch: str, seq: int) -> str:
    return f"{epoch}-{seq}"


def event_source(event: CaptionEvent) -> str:
    """Floor or a booth: the event's ``source`` once captions carry one, else the floor."""
    return event.source or FLOOR


def caption_record(event: CaptionEvent, epoch: str, received: float, session: str) -> bytes:
    """The JSON line (UTF-8, no newline) that archives ``event``: its fields as ``to_dict``
    has them, less ``lines`` (the live page's layout), plus what the archiver knew."""
    data: dict[str, Any] = {
        "v": RECORD_VERSION,
        "epoch": epoch,
        "received": round(received, 3),
        "session": session,
        **event.to_dict(),
        "source": event_source(event),
    }
    del data["lines"]
    return orjson.dumps(data)  # ten times json.dumps: the archive's hot path


def parse_caption(data: dict[str, Any]) -> ArchivedCaption:
    """An archived caption from its decoded line; ``KeyError``/``ValueError`` if malformed."""
    start = float(data["start"])
    at = float(data.get("at") or 0.0) or float(data["received"])
    words = tuple(
        ArchivedWord(
            str(w["text"]),
            max(0.0, float(w["start"]) - start),
            max(0.0, float(w["end"]) - start),
            float(w.get("probability", 1.0)),
        )
        for w in data.get("words", ())
    )
    return ArchivedCaption(
        channel=str(data["channel"]),
        epoch=str(data["epoch"]),
        seq=int(data["seq"]),
        text=str(data["text"]),
        lang=str(data.get("lang", "")),
        source=str(data.get("source") or FLOOR),
        at=at,
        duration=max(0.0, float(data["end"]) - start),
        received=float(data["received"]),
        session=str(data.get("session", "")),
        words=words,
    )


def clean_correction(text: str) -> str:
    """The text of a correction, one line; ``ValueError`` when empty or too long."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValueError("the corrected text is empty")
    if len(cleaned) > MAX_CORRECTION_CHARS:
        raise ValueError(f"the corrected text is over {MAX_CORRECTION_CHARS} characters")
    return cleaned


def apply_corrections(
    captions: Iterable[ArchivedCaption], corrections: Iterable[Correction]
) -> list[ArchivedCaption]:
    """``captions`` with the latest correction of each applied (the original kept)."""
    by_caption: dict[tuple[str, str], list[Correction]] = {}
    for correction in sorted(corrections, key=lambda c: c.at):
        by_caption.setdefault((correction.channel, correction.caption), []).append(correction)
    out = []
    for caption in captions:
        mine = by_caption.get((caption.channel, caption.id))
        if mine:
            caption = replace(
                caption, text=mine[-1].text, original=caption.text, corrections=tuple(mine)
            )
        out.append(caption)
    return out
