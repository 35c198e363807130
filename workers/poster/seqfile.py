"""The poster's numbering kept in a file, for a bus that forgets it on restart.

On Redis the poster's report in the bus state (``poster:<channel>``) is where a
restarted poster finds its ``seq`` and pending post. The in-memory bus starts empty
with its process, and a poster that numbered its posts from 1 again would be taken by
YouTube as retrying posts it has already had: its captions would be ignored until the
numbers passed the old ones. So with the in-memory bus the poster also writes its last
``seq`` and its pending post to a small JSON file beside the archive
(``<archive>/<event>/poster-<channel>.json``), atomically: a temporary file, flushed
and fsynced, renamed over the old one, and the directory fsynced.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from companion.transcripts.files import fsync_dir
from workers.poster.format import Post

log = logging.getLogger(__name__)


def seq_path(event_dir: Path, channel: str) -> Path:
    """Where channel ``channel``'s poster keeps its numbering, in an event's archive."""
    return event_dir / f"poster-{channel}.json"


class SeqFile:
    """Reads and writes one channel's last ``seq`` and pending post."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._written: tuple[int, Post | None] | None = None

    def load(self) -> tuple[int, Post | None]:
        """``(last seq, pending post)``; ``(0, None)`` when there is no file yet.

        The pending post's place on the bus (``last_event``) is not kept: it numbered
        the events of a bus that is gone.
        """
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
            pending = data.get("pending")
            post = Post(**{**pending, "last_event": 0}) if pending else None
            state = (int(data["seq"]), post)
        except FileNotFoundError:
            return 0, None
        except (OSError, ValueError, TypeError, KeyError) as error:
            log.error(
                "cannot read the poster's numbering in %s (%s): numbering from 1", self.path, error
            )
            return 0, None
        self._written = state
        return state

    def save(self, last_seq: int, pending: Post | None) -> None:
        """Write ``last_seq`` and ``pending`` unless they are what was written last."""
        if self._written == (last_seq, pending):
            return
        data = {"seq": last_seq, "pending": asdict(pending) if pending is not None else None}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        self._written = (last_seq, pending)
