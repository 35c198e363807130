"""One session in one language as SRT, WebVTT, plain text or JSON. Pure, no I/O.

Cue times in SRT and WebVTT count from the moment the session began (as the
programme now says), so they line up with a recording of the session. A caption
longer than two display lines (``companion.layout``) becomes several cues, its time
shared by length. Exports use corrected text; the JSON keeps the original and every
correction. SRT is written by ``srt`` and WebVTT by ``webvtt-py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import srt
import webvtt

from companion.layout import layout_lines, pages
from companion.transcripts.programme import Session
from companion.transcripts.records import ArchivedCaption

MIN_CUE_SECONDS = 0.5
PARAGRAPH_GAP = 2.5  # seconds of silence that start a new paragraph
PARAGRAPH_CHARS = 600  # past this a paragraph ends at the next sentence end
SENTENCE_ENDS = (".", "?", "!", "。", "？", "！", "…", '."', '?"')
LANGUAGE_NAMES = {"ko": "한국어", "en": "English"}


@dataclass(frozen=True)
class Transcript:
    """What one export shows: a session's captions in one language, oldest first."""

    event_title: str
    session: Session
    start: float  # when the session began: export times count from here
    end: float
    lang: str
    captions: tuple[ArchivedCaption, ...]

    @property
    def title(self) -> str:
        return self.session.title or self.session.id


@dataclass(frozen=True)
class Cue:
    """A piece of a caption shown at once: seconds from the session's start, and lines."""

    start: float
    end: float
    lines: tuple[str, ...]
    caption: ArchivedCaption
    part: int


def cues(transcript: Transcript) -> list[Cue]:
    """Each caption as one cue per page of two display lines, times from the session start."""
    out: list[Cue] = []
    for caption in transcript.captions:
        lines = layout_lines(caption.text, caption.lang or transcript.lang)
        if not lines:
            continue
        begin = max(0.0, caption.at - transcript.start)
        length = max(caption.duration, MIN_CUE_SECONDS)
        groups = pages(lines)
        total = sum(len(" ".join(g)) for g in groups)
        at = begin
        for part, group in enumerate(groups):
            share = length * len(" ".join(group)) / total
            out.append(Cue(at, at + share, tuple(group), caption, part))
            at += share
    return out


def to_srt(transcript: Transcript) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm`` times."""
    subtitles = [
        srt.Subtitle(
            index=i,
            start=dt.timedelta(seconds=round(c.start, 3)),
            end=dt.timedelta(seconds=round(c.end, 3)),
            content="\n".join(c.lines),
        )
        for i, c in enumerate(cues(transcript), 1)
    ]
    return str(srt.compose(subtitles, reindex=False))


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}"


def _vtt_text(line: str) -> str:
    """Cue text escaped, so no ``<`` starts a tag and no ``-->`` is left."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(transcript: Transcript) -> str:
    """WebVTT, text escaped (``&``, ``<``, ``>``), the title and times in a NOTE."""
    captions = [
        webvtt.Caption(
            start=_vtt_time(c.start),
            end=_vtt_time(c.end),
            text=[_vtt_text(line) for line in c.lines],
        )
        for c in cues(transcript)
    ]
    note = f"{transcript.title} ({time_range(transcript.start, transcript.end, transcript)})"
    vtt = webvtt.WebVTT(
        captions=captions,
        metadata=["Kind: captions", f"Language: {transcript.lang}"],
        header_comments=[note.replace("-->", "→")],
    )
    return str(vtt.content)


def paragraphs(captions: tuple[ArchivedCaption, ...]) -> list[list[ArchivedCaption]]:
    """Captions grouped into paragraphs: a pause, a change of floor and interpretation,
    or a long paragraph at the end of a sentence starts a new one."""
    out: list[list[ArchivedCaption]] = []
    chars = 0
    for caption in captions:
        if out:
            last = out[-1][-1]
            long_done = chars >= PARAGRAPH_CHARS and last.text.rstrip().endswith(SENTENCE_ENDS)
            if (
                caption.at - last.end_at < PARAGRAPH_GAP
                and caption.is_floor == last.is_floor
                and not long_done
            ):
                out[-1].append(caption)
                chars += len(caption.text) + 1
                continue
        out.append([caption])
        chars = len(caption.text)
    return out


def to_text(transcript: Transcript) -> str:
    """A heading, then paragraphs separated by blank lines, each opening with its time."""
    session = transcript.session
    head = [transcript.title]
    if session.title_ko:
        head.append(session.title_ko)
    if transcript.event_title:
        head.append(transcript.event_title)
    head.append(time_range(transcript.start, transcript.end, transcript))
    head.append(f"Language: {LANGUAGE_NAMES.get(transcript.lang, transcript.lang)}")
    blocks = ["\n".join(head)]
    for group in paragraphs(transcript.captions):
        mark = "" if group[0].is_floor else ", interpretation"
        text = " ".join(" ".join(c.text.split()) for c in group)
        blocks.append(f"[{clock(group[0].at, session)}{mark}] {text}")
    return "\n\n".join(blocks) + "\n"


def to_json(transcript: Transcript) -> str:
    """Every caption with its times, words, source, and corrections (the original kept)."""
    session = transcript.session
    body: dict[str, Any] = {
        "event": transcript.event_title,
        "session": {
            "id": session.id,
            "title": session.title,
            "title_ko": session.title_ko,
            "start": iso(transcript.start, session),
            "end": iso(transcript.end, session),
            "scheduled_start": iso(session.start, session),
            "scheduled_end": iso(session.end, session),
        },
        "lang": transcript.lang,
        "captions": [_caption_json(c, transcript.start, session) for c in transcript.captions],
    }
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def _caption_json(caption: ArchivedCaption, zero: float, session: Session) -> dict[str, Any]:
    offset = caption.at - zero
    return {
        "id": caption.id,
        "channel": caption.channel,
        "seq": caption.seq,
        "at": iso(caption.at, session),
        "start": round(offset, 3),
        "end": round(offset + caption.duration, 3),
        "text": caption.text,
        "source": caption.source,
        "original_text": caption.original or caption.text,
        "corrections": [
            {"text": c.text, "by": c.by, "at": iso(c.at, session)} for c in caption.corrections
        ],
        "words": [
            {
                "text": w.text,
                "start": round(offset + w.start, 3),
                "end": round(offset + w.end, 3),
                "probability": w.probability,
            }
            for w in caption.words
        ],
    }


def iso(t: float, session: Session) -> str:
    """``t`` as an ISO date-time (milliseconds) in the session's time zone."""
    return dt.datetime.fromtimestamp(t, session.tz).isoformat(timespec="milliseconds")


def clock(t: float, session: Session) -> str:
    """``t`` as HH:MM:SS in the session's time zone."""
    return dt.datetime.fromtimestamp(t, session.tz).strftime("%H:%M:%S")


def time_range(start: float, end: float, transcript: Transcript) -> str:
    """``2026-12-10 10:00–10:40 (UTC+09:00)`` in the session's time zone."""
    tz = transcript.session.tz
    a, b = dt.datetime.fromtimestamp(start, tz), dt.datetime.fromtimestamp(end, tz)
    offset = a.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    day = a.strftime("%Y-%m-%d")
    last = b.strftime("%H:%M") if b.date() == a.date() else b.strftime("%Y-%m-%d %H:%M")
    return f"{day} {a.strftime('%H:%M')}–{last} ({zone})"


EXPORTS: dict[str, tuple[Callable[[Transcript], str], str]] = {
    "srt": (to_srt, "application/x-subrip"),
    "vtt": (to_vtt, "text/vtt"),
    "txt": (to_text, "text/plain"),
    "json": (to_json, "application/json"),
}
"""Per-language export: format -> (function, media type)."""
