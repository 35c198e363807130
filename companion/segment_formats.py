"""A channel's caption segments as WebVTT and as an HLS media playlist. Pure.

Rendered from what is stored on the bus (``companion/segments.py``), by this code
alone, so every replica serves the same bytes for the same segment.

* **WebVTT** (RFC 8216 §3.5): a ``WEBVTT`` header, the fixed
  ``X-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:900000``, and every cue on screen during
  the segment, its identifier the caption's ``seq``. Cue times are seconds since the
  run's *epoch* (the start of its first segment, which is that segment's
  ``EXT-X-PROGRAM-DATE-TIME``), the same in every segment, so a cue repeated in the
  next segment is identical and players that hash cues drop the copy. A player maps
  a cue at local time ``t`` to MPEG-TS ``900000 + 90000·t``, i.e. to the wall-clock
  instant ``epoch + t``; a player that syncs by program date-time reads the same.
* **Playlist** (RFC 8216 §4.3.3, Apple's authoring spec): a live media playlist (no
  ``EXT-X-ENDLIST``) of the newest stored segments, at least 6 and at least three
  target durations, ``PLAYLIST_SECONDS`` of captions when the run is that long;
  ``EXT-X-TARGETDURATION`` is the window length rounded up, ``EXT-X-MEDIA-SEQUENCE``
  the first listed segment's number (segment numbers are window numbers, contiguous
  within a run), and each segment has its ``EXT-X-PROGRAM-DATE-TIME`` (UTC, ms).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from companion.segments import Latest, Segment, window_start

TIMESTAMP_MAP = "X-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:900000"
PLAYLIST_SECONDS = 60.0  # of captions the playlist lists, once the run is that long
MIN_PLAYLIST_SEGMENTS = 6  # Apple: a live playlist lists at least six


def vtt_time(seconds: float) -> str:
    """``hh:mm:ss.ttt`` (hours may pass 99, as WebVTT allows)."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}"


def vtt_text(text: str) -> str:
    """Caption text as one line of cue text: escaped, no line breaks (which would end
    the cue) and no ``-->``."""
    line = " ".join(text.split())
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return line


def render_vtt(segment: Segment) -> str:
    """The WebVTT file of ``segment``."""
    parts = [f"WEBVTT\n{TIMESTAMP_MAP}\n"]
    for cue in segment.visible():
        begin, end = cue.shown - segment.epoch, cue.hidden - segment.epoch
        parts.append(f"{cue.seq}\n{vtt_time(begin)} --> {vtt_time(end)}\n{vtt_text(cue.text)}\n")
    return "\n".join(parts)


def target_duration(seconds: float) -> int:
    """``EXT-X-TARGETDURATION``: the window length rounded up, whole seconds."""
    return max(1, math.ceil(seconds))


def playlist_length(seconds: float) -> int:
    """How many segments the playlist lists once the run is long enough."""
    span = max(PLAYLIST_SECONDS, 3 * target_duration(seconds))
    return max(MIN_PLAYLIST_SEGMENTS, math.ceil(span / seconds))


def program_date_time(t: float) -> str:
    """ISO 8601 in UTC with milliseconds, as ``EXT-X-PROGRAM-DATE-TIME`` wants."""
    ms = round(t * 1000)
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def render_playlist(latest: Latest) -> str:
    """The live media playlist that ends with ``latest.segment`` (all of them stored)."""
    first = max(latest.first, latest.segment - playlist_length(latest.seconds) + 1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target_duration(latest.seconds)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
    ]
    for n in range(first, latest.segment + 1):
        lines.append(
            f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(window_start(n, latest.seconds))}"
        )
        lines.append(f"#EXTINF:{latest.seconds:.3f},")
        lines.append(f"{n}.vtt")
    return "\n".join(lines) + "\n"
