"""A channel's broadcast as the tracker knows it, read from the API's JSON. Pure.

``from_video(item)`` reads one item of ``videos.list(part="snippet,
liveStreamingDetails")``; ``Broadcast.to_doc()`` is the state document published as
``broadcast:<channel>`` (to viewers over their websocket and in ``GET /api/state``)::

    {"channel": "en", "status": "upcoming", "video_id": "dQw4w9WgXcQ",
     "title": "…", "scheduled_start": "2026-05-14T01:00:00Z", "actual_start": null,
     "actual_end": null, "concurrent_viewers": null,
     "embed_url": "https://www.youtube.com/embed/dQw4w9WgXcQ",
     "tracking": "on", "note": ""}

``status`` is one of ``Status``; ``tracking`` is ``on``, ``paused`` (backing off or
out of quota: ``note`` says until when) or ``off`` (no API key, or turned off).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any


class Status(Enum):
    """Where a broadcast stands."""

    UNKNOWN = "unknown"  # not asked yet, or tracking is off
    UPCOMING = "upcoming"
    LIVE = "live"
    ENDED = "ended"
    NOT_FOUND = "not_found"  # videos.list gave no item: deleted, private or a wrong id


@dataclass(frozen=True)
class Broadcast:
    """One channel's broadcast; times are Unix seconds."""

    channel: str
    video_id: str = ""
    status: Status = Status.UNKNOWN
    title: str = ""
    scheduled_start: float | None = None
    actual_start: float | None = None
    actual_end: float | None = None
    concurrent_viewers: int | None = None
    tracking: str = "on"
    note: str = ""

    def to_doc(self) -> dict[str, Any]:
        """The public state document (see the module docstring)."""
        return {
            "channel": self.channel,
            "status": self.status.value,
            "video_id": self.video_id,
            "title": self.title,
            "scheduled_start": iso(self.scheduled_start),
            "actual_start": iso(self.actual_start),
            "actual_end": iso(self.actual_end),
            "concurrent_viewers": self.concurrent_viewers,
            "embed_url": f"https://www.youtube.com/embed/{self.video_id}" if self.video_id else "",
            "tracking": self.tracking,
            "note": self.note,
        }

    def noted(self, tracking: str, note: str) -> Broadcast:
        """The same broadcast with another tracking state and note."""
        return replace(self, tracking=tracking, note=note)


def iso(when: float | None) -> str | None:
    """Unix seconds as ``2026-05-14T01:00:00Z`` (None stays None)."""
    if when is None:
        return None
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> float | None:
    """An RFC 3339 time of the API (``…Z`` or with an offset) as Unix seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def from_video(channel: str, item: Mapping[str, Any]) -> Broadcast:
    """The broadcast that a ``videos.list`` item describes.

    An ``actualEndTime`` means ended, whatever ``snippet.liveBroadcastContent`` still
    says (it can lag behind); otherwise that says upcoming or live, ``none`` with a
    start is live, and ``none`` without live details is a plain video (reported as
    ended, with a note).
    """
    snippet = item.get("snippet") or {}
    details = item.get("liveStreamingDetails") or {}
    content = snippet.get("liveBroadcastContent", "none")
    viewers = str(details.get("concurrentViewers") or "")  # a uint64 sent as a string
    broadcast = Broadcast(
        channel=channel,
        video_id=str(item.get("id", "")),
        title=str(snippet.get("title", "")),
        scheduled_start=parse_time(details.get("scheduledStartTime")),
        actual_start=parse_time(details.get("actualStartTime")),
        actual_end=parse_time(details.get("actualEndTime")),
        concurrent_viewers=int(viewers) if viewers.isdigit() else None,
    )
    if broadcast.actual_end is not None:
        return replace(broadcast, status=Status.ENDED, concurrent_viewers=None)
    if content == "live" or (content == "none" and broadcast.actual_start):
        return replace(broadcast, status=Status.LIVE)
    if content == "upcoming":
        return replace(broadcast, status=Status.UPCOMING)
    if not details:
        return replace(broadcast, status=Status.ENDED, note="this video is not a live broadcast")
    return replace(broadcast, status=Status.ENDED, concurrent_viewers=None)


def not_found(channel: str, video_id: str) -> Broadcast:
    """What an empty ``items`` means: the video is gone, private, or the id is wrong."""
    return Broadcast(
        channel,
        video_id,
        Status.NOT_FOUND,
        note=f"video {video_id} was not found: it is private, deleted, or the id is wrong",
    )


def pick_current(candidates: Iterable[Broadcast]) -> Broadcast | None:
    """The broadcast to follow among a channel's recent videos.

    A live one first (the latest to start), else the upcoming one that starts
    soonest; ended ones and plain videos are never picked.
    """
    seen = list(candidates)
    live = [b for b in seen if b.status is Status.LIVE]
    if live:
        return max(live, key=lambda b: b.actual_start or 0.0)
    upcoming = [b for b in seen if b.status is Status.UPCOMING]
    if upcoming:
        return min(upcoming, key=lambda b: b.scheduled_start or float("inf"))
    return None
