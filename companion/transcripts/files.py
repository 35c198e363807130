"""The archive on disk: where each file is, reading it back, appending to the journals.

::

    {root}/{event id}/
        .lock                        held (flock) by the one archiver writing here
        {session}/{channel}.jsonl    final captions, one JSON line each (the archiver's)
        unscheduled/{channel}.jsonl  captions spoken outside every session
        programme.jsonl              organizers' live starts and ends of sessions
        corrections.jsonl            organizers' corrections of captions

Every file is append-only JSON Lines. A line counts once it ends with a newline: a
reader skips a torn last line (a writer killed mid-line); the archiver cuts it off
when it starts. The journals are appended by any service process under an exclusive
``flock``, then flushed and fsynced, so two replicas never interleave a line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from companion.transcripts.programme import Action
from companion.transcripts.records import ArchivedCaption, Correction, parse_caption

log = logging.getLogger(__name__)

PROGRAMME = "programme.jsonl"
CORRECTIONS = "corrections.jsonl"
LOCK = ".lock"


def default_root(env: Mapping[str, str]) -> Path:
    """Where archives go when the config names no directory."""
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "companion" / "archive"


def complete_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, decoded line)`` of each complete line; a torn last line is skipped.

    A complete line that is not JSON is logged and skipped, never fatal: one bad line
    must not hide a whole transcript. A missing file has no lines.
    """
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return
    end = data.rfind(b"\n") + 1
    for number, raw in enumerate(data[:end].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.error("%s:%d is not JSON; skipped", path, number)
            continue
        if isinstance(value, dict):
            yield number, value


def fsync_dir(path: Path) -> None:
    """Make a new entry of directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def append_journal(path: Path, record: dict[str, Any]) -> None:
    """Append one line under an exclusive lock, flushed and fsynced before it returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:  # a writer killed mid-line left a torn tail: end it so ours stands alone
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line
        write_all(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    if created:
        fsync_dir(path.parent)


class ArchiveFiles:
    """The files of one event's archive under ``root``."""

    def __init__(self, root: Path, event_id: str) -> None:
        self.root = root
        self.event_dir = root / event_id

    def caption_path(self, session: str, channel: str) -> Path:
        return self.event_dir / session / f"{channel}.jsonl"

    def caption_files(self, channel: str | None = None) -> list[Path]:
        """Every caption file (of ``channel``), in a stable order."""
        pattern = f"*/{channel}.jsonl" if channel else "*/*.jsonl"
        with contextlib.suppress(NotADirectoryError):  # a device or a link to one is no file
            return sorted(p for p in self.event_dir.glob(pattern) if p.is_file())
        return []

    @property
    def programme_path(self) -> Path:
        return self.event_dir / PROGRAMME

    @property
    def corrections_path(self) -> Path:
        return self.event_dir / CORRECTIONS

    def read_captions(self, channel: str | None = None) -> list[ArchivedCaption]:
        """The archived captions (of ``channel``), each once, oldest first."""
        seen: set[tuple[str, str, int]] = set()
        out: list[ArchivedCaption] = []
        for path in self.caption_files(channel):
            for number, data in complete_lines(path):
                try:
                    caption = parse_caption(data)
                except (KeyError, ValueError, TypeError) as exc:
                    log.error("%s:%d is not an archived caption (%r); skipped", path, number, exc)
                    continue
                key = (caption.channel, caption.epoch, caption.seq)
                if key not in seen:
                    seen.add(key)
                    out.append(caption)
        out.sort(key=lambda c: (c.at, c.channel, c.seq))
        return out

    def read_corrections(self) -> list[Correction]:
        return [Correction.from_dict(d) for _, d in complete_lines(self.corrections_path)]

    def read_actions(self) -> list[Action]:
        return [Action.from_dict(d) for _, d in complete_lines(self.programme_path)]

    def append_correction(self, correction: Correction) -> None:
        append_journal(self.corrections_path, correction.to_dict())

    def append_action(self, action: Action) -> None:
        append_journal(self.programme_path, action.to_dict())

    def stamp(self) -> tuple[tuple[str, int, int], ...]:
        """Changes when any file an export is made of does (size, mtime), without
        reading them: every caption file, the corrections, the programme."""
        paths = [*self.caption_files(), self.corrections_path, self.programme_path]
        out = []
        for path in paths:
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            out.append((str(path), st.st_size, st.st_mtime_ns))
        return tuple(out)

    def programme_stamp(self) -> tuple[int, int]:
        """Changes when the programme journal does (size, mtime), without reading it."""
        try:
            st = self.programme_path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return (0, 0)
        return (st.st_size, st.st_mtime_ns)
