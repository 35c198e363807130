"""An event config for the archive tests: two channels and sessions around the present."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from companion.captions import CaptionEvent, Word
from companion.config import EventConfig, parse_config


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def config_text(directory: Path, downloads: str = "organizer", now: float | None = None) -> str:
    """TOML: channels ko and en; 'morning' from an hour ago, 'afternoon' in half an hour."""
    now = time.time() if now is None else now
    return f"""
[event]
id = "test-{uuid.uuid4().hex[:12]}"
title = "Test conference"
[archive]
directory = "{directory}"
downloads = "{downloads}"
[[channels]]
id = "ko"
language = "ko"
[[channels]]
id = "en"
language = "en"
[[sessions]]
id = "morning"
title = "Morning"
title_ko = "오전"
start = "{iso(now - 3600)}"
end = "{iso(now + 1800)}"
[[sessions]]
id = "afternoon"
title = "Afternoon"
start = "{iso(now + 1800)}"
end = "{iso(now + 7200)}"
"""


def archive_config(
    directory: Path, downloads: str = "organizer", now: float | None = None
) -> EventConfig:
    return parse_config(config_text(directory, downloads, now), env={})


def final(channel: str, text: str, at: float | None = None, final: bool = True) -> CaptionEvent:
    """A caption as a captioner publishes it (the bus numbers it)."""
    words = tuple(Word(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(text.split()))
    return CaptionEvent(
        channel, 0, final, text, channel, 0.0, 0.5 * len(words), 1.0, 0, final, words,
        at=time.time() if at is None else at,
    )  # fmt: skip
