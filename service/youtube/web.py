"""How the service runs the tracker, and the organizers' view of YouTube.

``install(app, bus, tokens, config, env)`` is called once by ``create_app``: it
builds the tracker (with an API client and a feed client only when
``YOUTUBE_API_KEY`` is set and ``youtube.track`` is on), runs it inside ``cleanup_ctx`` and adds::

    GET /api/admin/youtube   organizers only: today's shared quota (each bucket: used,
                             left, spent until when), this process's tracker (calls,
                             errors, each channel, each YouTube channel's feed) and
                             the caption posters' reports (``poster:<channel>`` in
                             the state)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from companion.aio import running
from companion.bus.base import Bus
from companion.config import EventConfig
from companion.errors import BusUnavailableError
from service.auth import Tokens, require_organizer
from service.keys import YOUTUBE
from service.youtube.broadcast import iso
from service.youtube.client import YouTubeApi
from service.youtube.feed_client import FeedClient
from service.youtube.quota import next_reset
from service.youtube.tracker import Tracker

log = logging.getLogger(__name__)

API_KEY_ENV = "YOUTUBE_API_KEY"
ENDPOINT_ENV = "YOUTUBE_API_ENDPOINT"
FEED_ENDPOINT_ENV = "YOUTUBE_FEED_ENDPOINT"  # where channels' feeds are read: a proxy, tests
POSTER_PREFIX = "poster:"


@dataclass(frozen=True)
class YouTubeParts:
    """What the YouTube routes need from the app."""

    bus: Bus
    tokens: Tokens
    tracker: Tracker


def build_tracker(bus: Bus, config: EventConfig, env: Mapping[str, str]) -> Tracker:
    """The tracker; without an API key (or with tracking off) it only publishes the videos."""
    tracked = any(c.youtube.video_id or c.youtube.channel_id for c in config.channels)
    key = env.get(API_KEY_ENV, "").strip()
    if not tracked:
        return Tracker(bus, config, None)
    if not config.youtube.track:
        return Tracker(bus, config, None, off_reason="tracking is turned off (youtube.track)")
    if not key:
        log.warning(
            "YouTube tracking is off: %s is not set (viewers still get the configured videos)",
            API_KEY_ENV,
        )
        return Tracker(bus, config, None, off_reason=f"tracking is off: {API_KEY_ENV} is not set")
    api = YouTubeApi(key, env.get(ENDPOINT_ENV, "").strip())
    return Tracker(bus, config, api, feeds=FeedClient(env.get(FEED_ENDPOINT_ENV, "").strip()))


def install(
    app: web.Application, bus: Bus, tokens: Tokens, config: EventConfig, env: Mapping[str, str]
) -> None:
    """Run the tracker with the app and add the organizers' route."""
    app[YOUTUBE] = YouTubeParts(bus, tokens, build_tracker(bus, config, env))
    app.cleanup_ctx.append(_tracker_ctx)
    app.router.add_get("/api/admin/youtube", admin_youtube)


async def _tracker_ctx(app: web.Application) -> AsyncIterator[None]:
    tracker = app[YOUTUBE].tracker
    try:
        async with running(_run(tracker), name="youtube-tracker"):
            yield
    finally:
        if tracker.api is not None:
            await tracker.api.aclose()
        if tracker.feeds is not None:
            await tracker.feeds.aclose()


async def _run(tracker: Tracker) -> None:
    try:
        await tracker.run()
    except asyncio.CancelledError:
        raise
    except Exception:  # a bug: say so loudly; the captions go on without tracking
        log.exception("the YouTube tracker failed and has stopped")
        tracker.last_error = "the tracker failed and has stopped (see the service log)"


async def admin_youtube(request: web.Request) -> web.Response:
    """Each quota bucket today, the tracker's calls and errors, and the caption posters."""
    parts = request.app[YOUTUBE]
    require_organizer(request, parts.tokens)
    tracker = parts.tracker
    now = tracker.clock()
    quota: dict[str, Any]
    try:
        quota = tracker.ledger.policy.report(await tracker.ledger.view(now), now)
    except BusUnavailableError as error:
        quota = {"resets_at": iso(next_reset(now)), "error": str(error)}
    state = await parts.bus.get_state()
    posters = {
        key.removeprefix(POSTER_PREFIX): value
        for key, value in state.items()
        if key.startswith(POSTER_PREFIX)
    }
    body = {"quota": quota, "tracker": tracker.report(), "posters": posters}
    return web.json_response(body, headers={"Cache-Control": "no-store"})
