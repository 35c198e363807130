"""Caption events: what a captioner hands to its publisher.

A channel's captioner numbers its events 1, 2, 3 … (``seq``). A *partial* event
carries the words of the current utterance that are not final yet and replaces the
previous partial; a *final* event carries words that will not change and also
clears the partial. Times (``start``, ``end``, word times) are seconds of audio
since the source began; ``emitted`` is wall-clock seconds since the captioner
started; ``at`` is the Unix time at which the caption's audio began (0 when not
known), so the archive can file it under the session that was running. These
dataclasses are the wire format: ``to_json`` / ``from_json``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its audio times and the decoder's confidence."""

    text: str
    start: float
    end: float
    probability: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; times and probability rounded to thousandths."""
        return {
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "probability": round(self.probability, 3),
        }


@dataclass(frozen=True, slots=True)
class CaptionEvent:
    """One partial or final caption of one channel."""

    channel: str
    seq: int
    final: bool
    text: str
    lang: str
    start: float
    end: float
    emitted: float
    utterance: int
    end_of_utterance: bool = False
    words: tuple[Word, ...] = ()
    lines: tuple[str, ...] = ()
    kind: str = field(default="caption")
    at: float = 0.0
    source: str = ""  # "floor" or the booth whose interpretation it is ("": the channel's own)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; times rounded to milliseconds."""
        # Field by field, not ``asdict``: its deep copy costs more than the fan-out's
        # encoding and the archive's write.
        data = {name: getattr(self, name) for name in _field_names()}
        for key in ("start", "end", "emitted"):
            data[key] = round(data[key], 3)
        data["words"] = [w.to_dict() for w in self.words]
        data["lines"] = list(self.lines)
        return data

    def to_json(self) -> str:
        """One line of JSON, UTF-8 text kept as is."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptionEvent:
        """The inverse of ``to_dict``."""
        values = dict(data)
        values["words"] = tuple(Word(**w) for w in values.get("words", ()))
        values["lines"] = tuple(values.get("lines", ()))
        return cls(**values)


@functools.cache
def _field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(CaptionEvent))


class CaptionPublisher(Protocol):
    """Where a captioner hands its events; the bus implements this later."""

    async def publish(self, event: CaptionEvent) -> None:
        """Hand on one event; raise ``PublishError`` if it cannot be taken."""
        ...
