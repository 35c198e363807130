"""A YouTube channel's public feed, read. Pure: bytes in, entries out, no I/O.

``https://www.youtube.com/feeds/videos.xml?channel_id=UC…`` is an Atom feed of the
channel's 15 newest public uploads, newest first, scheduled and live streams
included, and reading it costs no API quota. Each entry carries its video in
``<yt:videoId>`` (the ``http://www.youtube.com/xml/schemas/2015`` namespace) and in
its ``<id>`` (``yt:video:<id>``), the channel in ``<yt:channelId>``, and
``<published>``/``<updated>`` times; ``<media:group>`` holds the title, thumbnail
and description (unused here)::

    <feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
          xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
     <yt:channelId>UC…</yt:channelId>
     <entry>
      <id>yt:video:dQw4w9WgXcQ</id>
      <yt:videoId>dQw4w9WgXcQ</yt:videoId>
      <yt:channelId>UC…</yt:channelId>
      <published>2026-05-01T00:00:00+00:00</published>
      …

The feed is parsed by ``feedparser`` (imported on the first parse), always from an
in-memory stream: given bytes or a string, it would try them as a file name or a URL
first.

``feed_url(endpoint, channel_id)`` is its address (``YOUTUBE_FEED_ENDPOINT`` or
Google's); ``parse_feed(body)`` gives a ``Feed`` or raises ``FeedError``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from companion.errors import YouTubeFeedError as FeedError
from service.youtube.broadcast import parse_time

__all__ = ["FEED_ENTRIES", "Feed", "FeedEntry", "FeedError", "feed_url", "parse_feed"]

DEFAULT_ENDPOINT = "https://www.youtube.com"
FEED_PATH = "/feeds/videos.xml"
FEED_ENTRIES = 15  # what YouTube lists: a feed this full may hide older uploads
VIDEO_ID_PREFIX = "yt:video:"


@dataclass(frozen=True)
class FeedEntry:
    """One upload in the feed; times are Unix seconds (None when the feed omits them)."""

    video_id: str
    channel_id: str = ""
    published: float | None = None
    updated: float | None = None


@dataclass(frozen=True)
class Feed:
    """A channel's newest uploads, newest first."""

    entries: tuple[FeedEntry, ...]

    @property
    def video_ids(self) -> list[str]:
        return [entry.video_id for entry in self.entries]

    @property
    def full(self) -> bool:
        """Whether the feed lists as many uploads as YouTube ever does: older ones,
        a stream scheduled well ahead among them, are out of its sight."""
        return len(self.entries) >= FEED_ENTRIES


def feed_url(endpoint: str, channel_id: str) -> str:
    """The address of ``channel_id``'s feed at ``endpoint`` (Google's when empty)."""
    base = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
    return f"{base}{FEED_PATH}?{urlencode({'channel_id': channel_id})}"


def parse_feed(body: bytes) -> Feed:
    """The uploads of a feed document; ``FeedError`` if it is not a readable feed.

    A document feedparser cannot make a feed of (HTML, a truncated or broken XML
    body) is an error, even when it salvaged a few entries: those could be any.
    Entries without a video id are skipped.
    """
    import feedparser  # here, as the API client is: a service that tracks nothing never loads it

    parsed: Any = feedparser.parse(io.BytesIO(body), sanitize_html=False)
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        if not isinstance(problem, feedparser.CharacterEncodingOverride):  # harmless
            raise FeedError(f"the feed is not well-formed XML ({type(problem).__name__})")
    if not parsed.get("version"):
        raise FeedError("the answer is not a feed")
    entries = []
    for entry in parsed.get("entries", []):
        video_id = _video_id(entry)
        if video_id:
            entries.append(
                FeedEntry(
                    video_id=video_id,
                    channel_id=str(entry.get("yt_channelid", "")),
                    published=parse_time(entry.get("published")),
                    updated=parse_time(entry.get("updated")),
                )
            )
    return Feed(tuple(entries))


def _video_id(entry: Any) -> str:
    """``<yt:videoId>``, else the id out of ``<id>yt:video:…</id>``."""
    video_id = str(entry.get("yt_videoid", "")).strip()
    if not video_id:
        atom_id = str(entry.get("id", ""))
        video_id = (
            atom_id.removeprefix(VIDEO_ID_PREFIX) if atom_id.startswith(VIDEO_ID_PREFIX) else ""
        )
    return video_id
