"""A fake YouTube Data API v3 on loopback, for the real google-api-python-client.

It serves ``videos.list``, ``playlistItems.list``, ``channels.list`` and
``search.list`` from dicts the test fills, answers with the documented errors when
told to (``fail_next``, ``units_spent``, ``searches_spent``), and records every call
so the test can count calls and what they took from each quota bucket (``units``,
``searches``).

It also serves each channel's public feed, ``/feeds/videos.xml?channel_id=…``, as
YouTube does (Atom, ``yt:`` and ``media:`` elements, the 15 newest uploads, newest
first; 404 for a channel it does not know): from the channel's uploads playlist, or
from ``feeds`` when the test lists a feed of its own. Feed reads are recorded apart
(``feed_reads``, with their query and headers): they cost no quota. ``feed_status``
makes them fail, ``feed_body`` replaces the document.

``unreachable`` is a network outage: every request, to the API or a feed, loses its
connection before an answer, and is neither recorded nor charged (it never reached
YouTube); ``dropped`` counts them.

It holds to YouTube's limits, so a client that breaks them fails here too:
``videos.list`` takes at most 50 ids and ``playlistItems.list`` at most 50 results a
page (more is a 400), and a playlist is served page by page (``nextPageToken``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from service.youtube.broadcast import iso
from service.youtube.quota import BUCKETS, COSTS, Bucket

API_KEY = "test-api-key-0123456789"
PATHS = {
    "/youtube/v3/videos": "videos.list",
    "/youtube/v3/playlistItems": "playlistItems.list",
    "/youtube/v3/channels": "channels.list",
    "/youtube/v3/search": "search.list",
}
QUOTA_MESSAGE = (
    'The request cannot be completed because you have exceeded your <a href="/youtube/v3/'
    'getting-started#quota">quota</a>.'
)


ADDED = "2026-05-01T00:00:00Z"  # when a video entered its playlist, unless told otherwise
MAX_IDS = MAX_RESULTS = 50
FEED_PATH = "/feeds/videos.xml"
FEED_ENTRIES = 15  # what YouTube's feed lists
# What Google answers when a project's search bucket is spent (a 429, not a 403).
SEARCH_QUOTA_MESSAGE = (
    "Quota exceeded for quota metric 'Search Queries' and limit 'Search Queries per day' "
    "of service 'youtube.googleapis.com' for consumer 'project_number:123456789012'."
)


def error_body(
    code: int, reason: str, message: str, domain: str = "youtube.quota", status: str = ""
) -> str:
    errors = [{"message": message, "domain": domain, "reason": reason}]
    error: dict[str, Any] = {"code": code, "message": message, "errors": errors}
    if status:
        error["status"] = status
    return json.dumps({"error": error})


ERRORS = {
    "quotaExceeded": (403, error_body(403, "quotaExceeded", QUOTA_MESSAGE)),
    "rateLimitExceeded": (
        403,
        error_body(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
    ),
    "backendError": (500, error_body(500, "backendError", "Backend Error", "global")),
    "unavailable": (503, error_body(503, "backendError", "The service is unavailable", "global")),
    "tooManyRequests": (429, "Too Many Requests"),  # not JSON, as proxies answer
    "searchQuota429": (
        429,
        error_body(429, "rateLimitExceeded", SEARCH_QUOTA_MESSAGE, "global", "RESOURCE_EXHAUSTED"),
    ),
    "tooManyIds": (
        400,
        error_body(400, "badRequest", "The request specifies more than 50 ids.", "youtube.video"),
    ),
    "maxResults": (
        400,
        error_body(
            400, "invalidParameter", "Invalid value for parameter maxResults", "youtube.parameter"
        ),
    ),
    "keyInvalid": (
        400,
        error_body(400, "keyInvalid", "API key not valid. Please pass a valid API key.", "global"),
    ),
}


def upcoming(video_id: str, start: float, title: str = "Plenary") -> dict[str, Any]:
    return _video(video_id, "upcoming", title, {"scheduledStartTime": iso(start)})


def live(video_id: str, start: float, viewers: int, title: str = "Plenary") -> dict[str, Any]:
    details = {
        "scheduledStartTime": iso(start),
        "actualStartTime": iso(start),
        "concurrentViewers": str(viewers),
        "activeLiveChatId": "Cg0KC2xpdmVjaGF0aWQ",
    }
    return _video(video_id, "live", title, details)


def ended(video_id: str, start: float, end: float, title: str = "Plenary") -> dict[str, Any]:
    details = {"scheduledStartTime": iso(start), "actualStartTime": iso(start)}
    return _video(video_id, "none", title, details | {"actualEndTime": iso(end)})


def _video(video_id: str, content: str, title: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "youtube#video",
        "etag": f"etag-{video_id}",
        "id": video_id,
        "snippet": {
            "publishedAt": "2026-05-01T00:00:00Z",
            "channelId": "UC" + "k" * 22,
            "title": title,
            "liveBroadcastContent": content,
        },
        "liveStreamingDetails": details,
    }


class FakeYouTube:
    """The fake API's data, scripted failures and call log."""

    def __init__(self) -> None:
        self.videos: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, str] = {}  # channel id -> uploads playlist id
        self.playlists: dict[str, list[str]] = {}  # newest first, as YouTube lists uploads
        self.added: dict[str, float] = {}  # video id -> when it entered its playlist
        self.found: dict[tuple[str, str], list[str]] = {}  # (channel, eventType) -> ids
        self.units_spent = False  # every call but search.list answers quotaExceeded
        self.searches_spent: Literal["", "403", "429"] = ""  # search.list's bucket, and how
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._failures: list[str] = []
        self.feeds: dict[str, list[str]] = {}  # channel id -> its feed, when not its uploads
        self.feed_status = 200  # another status: every feed read fails with it
        self.feed_body: bytes | None = None  # served instead of the feed (a broken one)
        self.feed_reads: list[tuple[dict[str, str], dict[str, str]]] = []  # query, headers
        self.unreachable = False  # a network outage: every connection is dropped
        self.dropped = 0  # requests lost to it

    def fail_next(self, *reasons: str) -> None:
        """Answer the next calls with these errors (keys of ``ERRORS``), in order."""
        self._failures.extend(reasons)

    @property
    def units(self) -> int:
        """Units the calls so far took (failed ones too, as YouTube counts them)."""
        return sum(COSTS[m] for m, _ in self.calls if BUCKETS[m] is Bucket.UNITS)

    @property
    def searches(self) -> int:
        """search.list calls so far: its own bucket, one each."""
        return sum(COSTS[m] for m, _ in self.calls if BUCKETS[m] is Bucket.SEARCH)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def app(self) -> web.Application:
        app = web.Application()
        for path in PATHS:
            app.router.add_get(path, self._handle)
        app.router.add_get(FEED_PATH, self._feed)
        return app

    def _lost(self, request: web.Request) -> web.Response | None:
        """During an outage: drop the connection, as the client would see it."""
        if not self.unreachable:
            return None
        self.dropped += 1
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)  # never arrives

    async def _feed(self, request: web.Request) -> web.Response:
        if (lost := self._lost(request)) is not None:
            return lost
        query = dict(request.query)
        self.feed_reads.append((query, dict(request.headers)))
        if self.feed_status != 200:
            return web.Response(
                status=self.feed_status, text="<html>Error</html>", content_type="text/html"
            )
        if self.feed_body is not None:
            return web.Response(body=self.feed_body, content_type="text/xml", charset="utf-8")
        channel = query.get("channel_id", "")
        if channel in self.feeds:
            ids = self.feeds[channel]
        elif channel in self.uploads:
            ids = self.playlists.get(self.uploads[channel], [])
        else:
            return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        return web.Response(
            text=feed_document(channel, ids[:FEED_ENTRIES], self.videos, self.added),
            content_type="text/xml",
            charset="utf-8",
        )

    async def _handle(self, request: web.Request) -> web.Response:
        if (lost := self._lost(request)) is not None:
            return lost
        method = PATHS[request.path]
        query = dict(request.query)
        self.calls.append((method, query))
        if query.get("key") != API_KEY:
            return self._error("keyInvalid")
        if method == "search.list" and self.searches_spent:
            return self._error(
                "quotaExceeded" if self.searches_spent == "403" else "searchQuota429"
            )
        if method != "search.list" and self.units_spent:
            return self._error("quotaExceeded")
        if self._failures:
            return self._error(self._failures.pop(0))
        if method == "videos.list" and len(query["id"].split(",")) > MAX_IDS:
            return self._error("tooManyIds")
        if int(query.get("maxResults", "5")) > MAX_RESULTS:
            return self._error("maxResults")
        items = list(self._items(method, query))
        total = len(items)
        body: dict[str, Any] = {
            "kind": f"youtube#{method.split('.')[0]}ListResponse",
            "etag": "etag",
        }
        if method == "playlistItems.list":  # one page, from the token on
            start = int(query.get("pageToken", "0"))
            end = start + int(query["maxResults"])
            items = items[start:end]
            if end < total:
                body["nextPageToken"] = str(end)
        body["pageInfo"] = {"totalResults": total, "resultsPerPage": len(items)}
        body["items"] = items
        return web.json_response(body)

    def _error(self, reason: str) -> web.Response:
        status, text = ERRORS[reason]
        kind = "application/json" if text.startswith("{") else "text/plain"
        return web.Response(status=status, text=text, content_type=kind)

    def _items(self, method: str, query: dict[str, str]) -> Iterable[dict[str, Any]]:
        if method == "videos.list":
            assert query["part"] == "snippet,liveStreamingDetails"
            for video_id in query["id"].split(","):
                if video_id in self.videos:
                    yield self.videos[video_id]
        elif method == "channels.list":
            if query["id"] in self.uploads:
                playlists = {"likes": "", "uploads": self.uploads[query["id"]]}
                yield {"id": query["id"], "contentDetails": {"relatedPlaylists": playlists}}
        elif method == "playlistItems.list":
            assert query["part"] == "snippet"
            for video_id in self.playlists.get(query["playlistId"], []):
                added = iso(self.added[video_id]) if video_id in self.added else ADDED
                snippet = {
                    "publishedAt": added,
                    "playlistId": query["playlistId"],
                    "resourceId": {"kind": "youtube#video", "videoId": video_id},
                }
                yield {"kind": "youtube#playlistItem", "snippet": snippet}
        else:
            assert (query["type"], query["part"]) == ("video", "id")
            for video_id in self.found.get((query["channelId"], query["eventType"]), []):
                yield {"kind": "youtube#searchResult", "id": {"videoId": video_id}}


def feed_document(
    channel: str, ids: list[str], videos: dict[str, dict[str, Any]], added: dict[str, float]
) -> str:
    """A channel's feed as YouTube writes it (``feeds/videos.xml``)."""
    author = (
        f"<author><name>Channel {escape(channel)}</name>"
        f"<uri>https://www.youtube.com/channel/{escape(channel)}</uri></author>"
    )
    entries = []
    for video_id in ids:
        title = escape(str(videos.get(video_id, {}).get("snippet", {}).get("title", "Video")))
        published = (iso(added[video_id]) if video_id in added else ADDED).replace("Z", "+00:00")
        watch = quoteattr(f"https://www.youtube.com/watch?v={video_id}")
        entries.append(
            f"""
 <entry>
  <id>yt:video:{video_id}</id>
  <yt:videoId>{video_id}</yt:videoId>
  <yt:channelId>{escape(channel)}</yt:channelId>
  <title>{title}</title>
  <link rel="alternate" href={watch}/>
  {author}
  <published>{published}</published>
  <updated>{published}</updated>
  <media:group>
   <media:title>{title}</media:title>
   <media:content url="https://www.youtube.com/v/{video_id}?version=3"
    type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="https://i1.ytimg.com/vi/{video_id}/hqdefault.jpg"
    width="480" height="360"/>
   <media:description></media:description>
   <media:community>
    <media:starRating count="0" average="0.00" min="1" max="5"/>
    <media:statistics views="0"/>
   </media:community>
  </media:group>
 </entry>"""
        )
    self_link = quoteattr(f"http://www.youtube.com/feeds/videos.xml?channel_id={channel}")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" \
xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href={self_link}/>
 <id>yt:channel:{escape(channel)}</id>
 <yt:channelId>{escape(channel)}</yt:channelId>
 <title>Channel {escape(channel)}</title>
 <link rel="alternate" href="https://www.youtube.com/channel/{escape(channel)}"/>
 {author}
 <published>2020-01-01T00:00:00+00:00</published>{"".join(entries)}
</feed>
"""
