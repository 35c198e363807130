"""How the service runs the tracker, and the organizers' view of YouTube.

``install(app, bus, tokens, config, env)`` is called once by ``create_app``: it
builds the tracker (with an API client and a feed client only when
``YOUTUBE_API_KEY`` is set and ``youtube.track`` is on), runs it inside ``cleanup_ctx`` and adds::

    GET /api/admin/youtube   organizers only: today's shared quota (each bucket: used,
                             left, spent until when), this process's tracker (calls,
                             errors, each channel, each YouTube channel's feed), the
                             caption posters' reports (``poster:<channel>`` in the
                             state) and each channel's latest test caption
    POST /api/admin/youtube/test-caption
                             organizers only: ``{"channel": …, "text"?: …, "by"?: …}``;
                             asks the channel's running poster to send a test caption
                             as its next post and waits (``trial_wait``, 15 s) for
                             YouTube's answer (``companion/caption_trial.py``): 200 with
                             the result, 202 while YouTube has not answered, 503 when no
                             poster runs or answers, 409 while another one is on its way
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from companion.aio import running
from companion.bus.base import Bus
from companion.caption_trial import MAX_BY, MAX_TEXT, RESULT_PREFIX
from companion.caption_trial_ask import WAIT, ask_poster
from companion.config import EventConfig
from companion.errors import BadRequestError, BusUnavailableError, TooLargeError
from service.auth import Tokens, require_organizer
from service.keys import EVENT, YOUTUBE
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
MAX_BODY = 4096  # bytes of a test caption request


@dataclass(frozen=True)
class YouTubeParts:
    """What the YouTube routes need from the app."""

    bus: Bus
    tokens: Tokens
    tracker: Tracker
    trial_wait: float = WAIT  # seconds a test caption request waits for the poster


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
    app.router.add_post("/api/admin/youtube/test-caption", admin_test_caption)


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
    trials = {
        key.removeprefix(RESULT_PREFIX): value
        for key, value in state.items()
        if key.startswith(RESULT_PREFIX)
    }
    body = {
        "quota": quota,
        "tracker": tracker.report(),
        "posters": posters,
        "test_captions": trials,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def admin_test_caption(request: web.Request) -> web.Response:
    """Organizers: a test caption sent by a channel's running poster, and its answer.

    Errors are answered by ``service/errors.py``: 400 for a bad body or channel, 503
    (``no_poster``) when no poster runs or answers, 409 (``pending``) while another
    request of the channel is on its way. No answer holds the ingestion URL: the
    service never knows it.
    """
    parts = request.app[YOUTUBE]
    require_organizer(request, parts.tokens)
    body = await _json_body(request)
    channel, text, by = body.get("channel"), body.get("text"), body.get("by", "organizer")
    if not isinstance(channel, str) or channel not in {c.id for c in request.app[EVENT].channels}:
        raise BadRequestError("unknown_channel", "'channel' must be one of the event's channels")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        raise BadRequestError("bad_text", f"'text' must be up to {MAX_TEXT} characters")
    if not isinstance(by, str) or len(by) > MAX_BY:
        raise BadRequestError("bad_by", f"'by' must be a name of up to {MAX_BY} characters")
    result = await ask_poster(parts.bus, channel, text, by, wait=parts.trial_wait)
    return web.json_response(
        result.as_doc(), status=200 if result.final else 202, headers={"Cache-Control": "no-store"}
    )


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise TooLargeError("the body is too large")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise BadRequestError("bad_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequestError("bad_json", "the body must be a JSON object")
    return body
