"""The YouTube Data API v3 through google-api-python-client, off the event loop.

The client library is synchronous. Every call runs in this client's own worker
thread; the discovery-built service and its ``httplib2.Http`` are made in that
thread and kept thread-local, so the HTTP object is never shared between threads.
The discovery document is the one shipped with the library (``static_discovery``),
so nothing is fetched to build the client; ``endpoint`` points it elsewhere (a
proxy, or the fake server of the tests). The library is imported in that thread on
the first call, so a service without an API key never loads it.

Each method makes exactly one API call, so the tracker can charge each to the
ledger before it is made: ``videos`` takes at most ``VIDEOS_PER_CALL`` ids and
``playlist_page`` reads one page (the tracker asks for the next while it needs to).

Failures come back as the project's errors (``classify``):
``SearchQuotaExceededError`` when search.list's own bucket is spent (a 403
``quotaExceeded`` to a search, or a 429 naming the search quota metric),
``QuotaExceededError`` for ``quotaExceeded`` to any other call,
``YouTubeUnavailableError`` for a 5xx, another 429, a rate limit or the network, and
``YouTubeError`` for the rest. Messages never carry the request URL, which holds
the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from companion.errors import (
    QuotaExceededError,
    SearchQuotaExceededError,
    YouTubeError,
    YouTubeUnavailableError,
)
from service.youtube.broadcast import parse_time

T = TypeVar("T")

QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
TIMEOUT = 10.0
PLAYLIST_PAGE = 50  # the most playlistItems.list gives in one call (one unit)
VIDEOS_PER_CALL = 50  # the most ids videos.list takes in one call; more is a 400
# "Quota exceeded for quota metric 'Search Queries' and limit 'Search Queries per day'"
QUOTA_METRIC = re.compile(r"quota metric '([^']*)'(?: and limit '([^']*)')?", re.IGNORECASE)


def names_search_quota(message: str) -> bool:
    """Whether an error message says the daily search quota metric is used up.

    A per-minute limit of that metric is a rate limit (back off), not the day's bucket.
    """
    match = QUOTA_METRIC.search(message)
    if match is None or "search" not in match.group(1).lower():
        return False
    return "minute" not in (match.group(2) or "").lower()


def classify(status: int, reasons: Sequence[str], message: str, method: str = "") -> YouTubeError:
    """The project's error for an HTTP error answer of the API to a call of ``method``."""
    why = ", ".join(reasons) or message or "no reason given"
    quota = status == 403 and bool(QUOTA_REASONS.intersection(reasons))
    if method == "search.list" and (
        quota or (status in (403, 429) and names_search_quota(message))
    ):
        detail = message if names_search_quota(message) else why
        return SearchQuotaExceededError(f"YouTube's daily search quota is spent ({detail})"[:300])
    if quota:
        return QuotaExceededError(f"YouTube API quota exceeded ({why})")
    if status == 429 or status >= 500 or RATE_REASONS.intersection(reasons):
        return YouTubeUnavailableError(f"YouTube answered {status} ({why})")
    return YouTubeError(f"YouTube refused the call: {status} {why}: {message}"[:300])


def _reasons(error: Any) -> tuple[list[str], str]:
    try:
        body = json.loads(error.content.decode("utf-8"))["error"]
        reasons = [str(e.get("reason", "")) for e in body.get("errors", ()) if isinstance(e, dict)]
        return [r for r in reasons if r], str(body.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], ""


@dataclass(frozen=True)
class PlaylistPage:
    """One page of a playlist, newest first: each video with when it was added."""

    videos: list[tuple[str, float | None]]
    next_page: str | None  # the token of the next page; None on the last


class YouTubeApi:
    """The four read calls the tracker makes, each awaited from the event loop."""

    def __init__(self, api_key: str, endpoint: str = "", timeout: float = TIMEOUT) -> None:
        self._key = api_key
        self._endpoint = endpoint
        self._timeout = timeout
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="youtube-api")

    def __repr__(self) -> str:  # never print the key
        return f"YouTubeApi(endpoint={self._endpoint or 'default'!r})"

    async def videos(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """``videos.list`` of up to 50 ids: snippet and live details (1 unit)."""
        if not 0 < len(ids) <= VIDEOS_PER_CALL:
            raise ValueError(f"videos.list takes 1 to {VIDEOS_PER_CALL} ids, not {len(ids)}")
        return await self._run(self._videos, ",".join(ids))

    async def uploads_playlist(self, channel_id: str) -> str | None:
        """The channel's uploads playlist id, or None if there is no such channel (1 unit)."""
        return await self._run(self._uploads, channel_id)

    async def playlist_page(self, playlist_id: str, page: str | None = None) -> PlaylistPage:
        """One page of up to 50 items of a playlist, from ``page`` on (1 unit)."""
        return await self._run(self._playlist, playlist_id, page)

    async def search_broadcasts(self, channel_id: str, event_type: str) -> list[str]:
        """``search.list`` for the channel's ``live`` or ``upcoming`` videos (1 search)."""
        return await self._run(self._search, channel_id, event_type)

    async def aclose(self) -> None:
        """Close the thread's connections and stop it, once a call in flight has ended."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(RuntimeError):  # already shut down
            await loop.run_in_executor(self._executor, self._close_http)
        stop = functools.partial(self._executor.shutdown, wait=True, cancel_futures=True)
        await loop.run_in_executor(None, stop)

    # -- in the worker thread -----------------------------------------------------

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    def _service(self) -> Any:
        service = getattr(self._local, "service", None)
        if service is None:
            import httplib2
            from googleapiclient.discovery import build

            options = {"api_endpoint": self._endpoint} if self._endpoint else None
            self._local.http = httplib2.Http(timeout=self._timeout)
            service = build(
                "youtube",
                "v3",
                developerKey=self._key,
                http=self._local.http,
                static_discovery=True,
                cache_discovery=False,
                client_options=options,
            )
            self._local.service = service
        return service

    def _close_http(self) -> None:
        http = getattr(self._local, "http", None)
        if http is not None:
            http.close()
        self._local.__dict__.clear()

    def _execute(self, request: Any, method: str) -> dict[str, Any]:
        import httplib2
        from googleapiclient.errors import HttpError

        try:
            response: dict[str, Any] = request.execute(num_retries=0)
        except HttpError as error:
            reasons, message = _reasons(error)
            raise classify(int(error.resp.status), reasons, message, method) from None
        except (OSError, httplib2.HttpLib2Error) as error:
            raise YouTubeUnavailableError(
                f"YouTube is unreachable ({type(error).__name__})"
            ) from None
        return response

    def _videos(self, ids: str) -> list[dict[str, Any]]:
        request = self._service().videos().list(part="snippet,liveStreamingDetails", id=ids)
        return list(self._execute(request, "videos.list").get("items", []))

    def _uploads(self, channel_id: str) -> str | None:
        request = self._service().channels().list(part="contentDetails", id=channel_id)
        items = self._execute(request, "channels.list").get("items", [])
        if not items:
            return None
        playlists = items[0].get("contentDetails", {}).get("relatedPlaylists", {})
        uploads = playlists.get("uploads")
        return str(uploads) if uploads else None

    def _playlist(self, playlist_id: str, page: str | None) -> PlaylistPage:
        # snippet has both the video id and when it was added to the playlist.
        request = (
            self._service()
            .playlistItems()
            .list(part="snippet", playlistId=playlist_id, maxResults=PLAYLIST_PAGE, pageToken=page)
        )
        response = self._execute(request, "playlistItems.list")
        videos = []
        for item in response.get("items", []):
            snippet = item.get("snippet") or {}
            video_id = (snippet.get("resourceId") or {}).get("videoId")
            if video_id:
                videos.append((str(video_id), parse_time(snippet.get("publishedAt"))))
        token = response.get("nextPageToken")
        return PlaylistPage(videos, str(token) if token else None)

    def _search(self, channel_id: str, event_type: str) -> list[str]:
        request = (
            self._service()
            .search()
            .list(
                part="id",
                channelId=channel_id,
                eventType=event_type,
                type="video",
                maxResults=5,
            )
        )
        items = self._execute(request, "search.list").get("items", [])
        return [str(i["id"]["videoId"]) for i in items if i.get("id", {}).get("videoId")]
