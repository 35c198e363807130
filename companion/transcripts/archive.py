"""One event's archive as the service and the CLI use it: programme, exports, corrections.

``TranscriptArchive(config, root)`` reads the files (``files.py``) and hands them to
the pure cores. A caption belongs to the session that the programme *now* says was
running when it was spoken, so a session started live after the fact (the programme
ran late) moves the captions of the overrun into the session that overran, whatever
file they were filed in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

from companion.config import ChannelConfig, EventConfig
from companion.errors import TranscriptError
from companion.transcripts.bilingual import BILINGUAL
from companion.transcripts.files import ArchiveFiles, default_root
from companion.transcripts.formats import EXPORTS, Transcript, iso
from companion.transcripts.programme import (
    UNSCHEDULED,
    Action,
    ActionKind,
    Programme,
    Session,
    sessions_from_config,
)
from companion.transcripts.records import (
    ArchivedCaption,
    Correction,
    apply_corrections,
    clean_correction,
)

log = logging.getLogger(__name__)

BILINGUAL_NAME = "bilingual"


def archive_root(config: EventConfig, env: Mapping[str, str] | None = None) -> Path:
    """The archive directory: ``archive.directory`` (relative to the config), or the default."""
    if config.archive.directory:
        return Path(config.resolve(config.archive.directory))
    return default_root(os.environ if env is None else env)


class TranscriptArchive:
    """Reads and extends one event's archive; every method may raise ``OSError``."""

    def __init__(self, config: EventConfig, root: Path) -> None:
        self.config = config
        self.files = ArchiveFiles(root, config.event.id)
        self.sessions = sessions_from_config(config.sessions)
        self._tz = self.sessions[0].tz if self.sessions else UTC
        self._cached: tuple[tuple[int, int], Programme] | None = None

    # -- the programme ------------------------------------------------------------

    def programme(self) -> Programme:
        """The schedule with the organizers' actions so far (re-read when they change)."""
        stamp = self.files.programme_stamp()
        if self._cached is None or self._cached[0] != stamp:
            programme = Programme(self.sessions, self.files.read_actions())
            for action, why in programme.skipped:
                log.warning("programme action %s ignored: %s", action, why)
            self._cached = (stamp, programme)
        return self._cached[1]

    def record(self, session: str, kind: ActionKind, at: float, by: str) -> Programme:
        """Check and record a live start or end; ``ProgrammeError`` if it cannot be."""
        action = Action(session, kind, at, by)
        programme = self.programme()
        if session not in programme.sessions:
            raise TranscriptError(f"no session '{session}' in the programme")
        programme.check(action)
        self.files.append_action(action)
        return self.programme()

    def session_for(self, t: float) -> str:
        """Where a caption spoken at ``t`` is filed."""
        return self.programme().session_at(t) or UNSCHEDULED

    def current(self, now: float) -> dict[str, Any]:
        """The ``session`` state document: the session running ``now``, if any."""
        programme = self.programme()
        running = programme.session_at(now)
        if running is None:
            return {"id": None}
        session = programme.sessions[running]
        start, end = next((s.start, s.end) for s in programme.segments() if s.start <= now < s.end)
        return {
            "id": session.id,
            "title": session.title,
            "title_ko": session.title_ko,
            "start": iso(start, session),
            "end": iso(end, session),
            "live": programme.running_live(now) == running,
        }

    def overview(self) -> list[dict[str, Any]]:
        """Every session: scheduled and actual times, and its downloads."""
        programme = self.programme()
        langs = [c.id for c in self.config.channels]
        extras = [BILINGUAL_NAME] if len(langs) >= 2 else []
        out = []
        for session in [*self.sessions, self._unscheduled()]:
            bounds = programme.bounds(session.id)
            out.append(
                {
                    "id": session.id,
                    "title": session.title,
                    "title_ko": session.title_ko,
                    "scheduled_start": iso(session.start, session),
                    "scheduled_end": iso(session.end, session),
                    "start": iso(bounds[0], session) if bounds else None,
                    "end": iso(bounds[1], session) if bounds else None,
                    "downloads": [
                        f"/api/transcripts/{session.id}/{lang}.{fmt}"
                        for lang in langs
                        for fmt in EXPORTS
                    ]
                    + [
                        f"/api/transcripts/{session.id}/{name}.{fmt}"
                        for name in extras
                        for fmt in BILINGUAL
                    ],
                }
            )
        return out

    # -- exports ------------------------------------------------------------------

    def channel(self, lang: str) -> ChannelConfig:
        """The channel of ``lang`` (a channel id or its language)."""
        for channel in self.config.channels:
            if lang in (channel.id, channel.language):
                return channel
        raise TranscriptError(f"no channel or language '{lang}' in this event")

    def session(self, session_id: str) -> Session:
        for session in self.sessions:
            if session.id == session_id:
                return session
        if session_id == UNSCHEDULED:
            return self._unscheduled()
        raise TranscriptError(f"no session '{session_id}' in the programme")

    def _unscheduled(self) -> Session:
        first = self.sessions[0].start if self.sessions else 0.0
        last = self.sessions[-1].end if self.sessions else 0.0
        return Session(UNSCHEDULED, "Outside the programme", "프로그램 외", first, last, self._tz)

    def captions(self, channel: str) -> list[ArchivedCaption]:
        """Every archived caption of ``channel``, corrected, oldest first."""
        return apply_corrections(self.files.read_captions(channel), self.files.read_corrections())

    def transcript(self, session_id: str, lang: str) -> Transcript:
        """The captions of one session in one language."""
        session = self.session(session_id)
        channel = self.channel(lang)
        programme = self.programme()
        mine = tuple(
            c
            for c in self.captions(channel.id)
            if (programme.session_at(c.at) or UNSCHEDULED) == session_id
        )
        bounds = programme.bounds(session_id)
        if bounds is None:  # never ran (or unscheduled): its plan, or its captions' span
            bounds = (session.start, session.end)
            if mine:
                bounds = (min(c.at for c in mine), max(c.end_at for c in mine))
        return Transcript(
            self.config.event.title, session, bounds[0], bounds[1], channel.language, mine
        )

    def export(self, session_id: str, name: str) -> tuple[str, str]:
        """``(body, media type)`` of ``name``: ``<lang>.<srt|vtt|txt|json>`` or
        ``bilingual.<html|md>``."""
        stem, _, fmt = name.rpartition(".")
        if stem == BILINGUAL_NAME:
            if fmt not in BILINGUAL:
                raise TranscriptError(f"bilingual transcripts are {', '.join(BILINGUAL)}")
            if len(self.config.channels) < 2:
                raise TranscriptError("a bilingual transcript needs two channels")
            left, right = self.config.channels[0], self.config.channels[1]
            render, media = BILINGUAL[fmt]
            return render(
                self.transcript(session_id, left.id), self.transcript(session_id, right.id)
            ), media
        if fmt not in EXPORTS:
            raise TranscriptError(f"formats are {', '.join(EXPORTS)} (and bilingual.html|md)")
        render_one, media = EXPORTS[fmt]
        return render_one(self.transcript(session_id, stem)), media

    # -- corrections --------------------------------------------------------------

    def correct(self, lang: str, caption_id: str, text: str, by: str, at: float) -> Correction:
        """Record a correction of an archived caption; ``TranscriptError`` if there is none."""
        channel = self.channel(lang)
        try:
            cleaned = clean_correction(text)
        except ValueError as exc:
            raise TranscriptError(str(exc)) from None
        if not any(c.id == caption_id for c in self.files.read_captions(channel.id)):
            raise TranscriptError(f"no archived caption '{caption_id}' on channel '{channel.id}'")
        correction = Correction(channel.id, caption_id, cleaned, by, at)
        self.files.append_correction(correction)
        return correction

    def export_all(
        self, out: Path, session: str | None = None, lang: str | None = None, fmt: str | None = None
    ) -> list[Path]:
        """Write every export matching the filters into directory ``out``; the paths."""
        channels = [c.id for c in self.config.channels]
        if session:
            sessions = [session]
        else:
            sessions = [s.id for s in self.sessions]
            if any(self.transcript(UNSCHEDULED, c).captions for c in channels):
                sessions.append(UNSCHEDULED)
        langs = [lang] if lang else [*channels, *([BILINGUAL_NAME] if len(channels) > 1 else [])]
        names = [
            f"{name}.{f}"
            for name in langs
            for f in ([fmt] if fmt else (BILINGUAL if name == BILINGUAL_NAME else EXPORTS))
        ]
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for session_id in sessions:
            for name in names:
                text, _ = self.export(session_id, name)
                path = out / f"{self.config.event.id}-{session_id}.{name}"
                path.write_text(text, encoding="utf-8")
                written.append(path)
        return written
