"""The archiver's durable writer: caption files appended, flushed and fsynced, once each.

``CaptionStore.open`` takes the event directory's lock (one archiver per archive; a
second one waits), cuts a torn last line off each caption file (a write killed
mid-line: it was never acknowledged, so it comes again) and indexes every stored
``(channel, epoch, seq)``. ``write`` then appends a batch: one ``write`` and one
``fsync`` per file touched, the directory fsynced when a file is new, and only then
are the captions indexed, so an event delivered twice is stored once.

Any ``OSError`` (disk full, directory gone or replaced by a file, I/O error) leaves
the store *broken*: the next ``write`` reopens it from scratch (lock, repair, index)
before it tries again, so a failure half-way through a batch never leaves a torn line
under a good one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from companion.captions import CaptionEvent
from companion.errors import ArchiveLockedError  # importable from here as before
from companion.transcripts.files import LOCK, ArchiveFiles, complete_lines, fsync_dir, write_all
from companion.transcripts.records import caption_record

log = logging.getLogger(__name__)


Key = tuple[str, str, int]  # (channel, epoch, seq)


@dataclass(frozen=True)
class Encoded:
    """A batch's new lines per caption file, and how many captions the batch had."""

    groups: dict[Path, list[tuple[Key, bytes]]]
    total: int


@dataclass(frozen=True)
class Pending:
    """A final caption to store, with where it goes."""

    event: CaptionEvent
    epoch: str
    session: str
    received: float

    @property
    def key(self) -> Key:
        return (self.event.channel, self.epoch, self.event.seq)


class CaptionStore:
    """Append-only caption files of one event, deduplicated by ``(channel, epoch, seq)``."""

    def __init__(self, files: ArchiveFiles) -> None:
        self.files = files
        self._stored: set[Key] = set()
        self._highest: dict[tuple[str, str], int] = {}
        self._lock_fd: int | None = None
        self.is_open = False
        # Files whose last append failed (a write or an fsync), with their length before
        # it. After an fsync error the page cache may still show lines the disk never
        # got (and a later fsync may say nothing of it): reopening cuts them off, so
        # they are written again rather than indexed, and acked, as stored.
        self._suspect: dict[Path, int] = {}

    def open(self) -> None:
        """Lock, repair and index the archive; ``OSError`` (or ``ArchiveLockedError``)."""
        self.close()
        self.files.event_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.files.event_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArchiveLockedError(
                f"another archiver is writing {self.files.event_dir}"
            ) from None
        self._lock_fd = fd
        self._stored.clear()
        self._highest.clear()
        for path, length in list(self._suspect.items()):
            if path.is_file():  # (gone, or replaced by something else: nothing to cut)
                with open(path, "rb+") as f:
                    f.truncate(length)
                    os.fsync(f.fileno())
                log.warning("%s: cut what an append that failed may have left", path)
            del self._suspect[path]
        for path in self.files.caption_files():
            self._repair(path)
            for _, data in complete_lines(path):
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    self._index((str(data["channel"]), str(data["epoch"]), int(data["seq"])))
        self.is_open = True

    def close(self) -> None:
        """Release the lock (a killed process releases it too)."""
        self.is_open = False
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _repair(self, path: Path) -> None:
        with open(path, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                log.warning("%s: cut a torn last line (%d bytes)", path, len(data) - keep)
                f.truncate(keep)
                os.fsync(f.fileno())

    def _index(self, key: Key) -> None:
        self._stored.add(key)
        stream = key[:2]
        if key[2] > self._highest.get(stream, 0):
            self._highest[stream] = key[2]

    def __contains__(self, key: object) -> bool:
        return key in self._stored

    def __len__(self) -> int:
        return len(self._stored)

    def highest(self, channel: str, epoch: str) -> int:
        """The highest seq stored of ``channel`` in ``epoch`` (0 if none)."""
        return self._highest.get((channel, epoch), 0)

    def write(self, items: list[Pending]) -> tuple[int, int]:
        """Store what is not stored yet, durably: ``(written, duplicates)``; ``OSError``."""
        return self.flush(self.encode(items))

    def encode(self, items: list[Pending]) -> Encoded:
        """The lines of what is not stored yet, per file (CPU only: no I/O, no GIL wait)."""
        groups: dict[Path, list[tuple[Key, bytes]]] = defaultdict(list)
        paths: dict[tuple[str, str], Path] = {}
        fresh: set[Key] = set()
        for item in items:
            if item.key in self._stored or item.key in fresh:
                continue
            fresh.add(item.key)
            line = caption_record(item.event, item.epoch, item.received, item.session) + b"\n"
            where = (item.session, item.event.channel)
            if where not in paths:
                paths[where] = self.files.caption_path(*where)
            groups[paths[where]].append((item.key, line))
        return Encoded(groups, len(items))

    def flush(self, encoded: Encoded) -> tuple[int, int]:
        """Append ``encoded`` durably (I/O only: run it in a thread); ``(written, duplicates)``.

        Reopens a broken store first, and skips what a reopen found already stored.
        """
        if not self.is_open:
            self.open()
        written = 0
        try:
            for path, lines in encoded.groups.items():
                fresh = [(key, line) for key, line in lines if key not in self._stored]
                if fresh:
                    self._append(path, fresh)
                    written += len(fresh)
        except OSError:
            self.close()  # reopen (and repair) before the next try
            raise
        return written, encoded.total - written

    def _append(self, path: Path, lines: list[tuple[Key, bytes]]) -> None:
        data = b"".join(line for _, line in lines)
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(path.parent.parent)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            before = os.fstat(fd).st_size
            try:
                write_all(fd, data)
                os.fsync(fd)
            except OSError:
                self._suspect[path] = min(before, self._suspect.get(path, before))
                raise
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)
        for key, _ in lines:
            self._index(key)
