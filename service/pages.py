"""The pages' own routes: the organizer dashboard and what the viewer page needs to start.

``install(app, bus, tokens, channels, config, web_dir)`` is called once by
``create_app`` and adds::

    GET /dashboard              the organizer dashboard (web/dashboard.html; it asks
                                for the organizer token and sends it with each call)
    GET /api/event              public: the event's title, each channel's id,
                                language, name and default caption delay, and how the
                                page gets captions (``delivery``, ``segment_seconds``)
    GET /api/admin/captioners   organizers: every captioner's status, source, lag,
                                real-time factor, last caption and error (503
                                ``bus_unavailable`` when the bus cannot say)

The page-facing shapes are built by pure functions (``event_document``,
``captioner_details``), so they are tested without a server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from companion.bus.base import Bus
from companion.config import EventConfig
from service.auth import Tokens, require_organizer
from service.captioners import captioner_report
from service.keys import CAPTIONERS, SETTINGS


def event_document(
    channels: Sequence[str],
    config: EventConfig | None,
    delivery: str = "auto",
    segment_seconds: float = 2.0,
) -> dict[str, Any]:
    """What the viewer page needs before its socket opens (no secret, no source): the
    event, its channels, and how captions reach the page (``service.delivery``: the
    websocket, the segment feed, or auto; docs/pages.md)."""
    how = {"delivery": delivery, "segment_seconds": segment_seconds}
    if config is None:
        return {
            "event": {"id": "", "title": "", "title_ko": ""},
            "channels": [
                {"id": c, "language": c, "name": "", "caption_delay": 0.0} for c in channels
            ],
            **how,
        }
    return {
        "event": {
            "id": config.event.id,
            "title": config.event.title,
            "title_ko": config.event.title_ko,
        },
        "channels": [
            {
                "id": c.id,
                "language": c.language,
                "name": c.name,
                "caption_delay": c.youtube.viewer_delay,
            }
            for c in config.channels
        ],
        **how,
    }


def captioner_details(
    state: Mapping[str, Mapping[str, Any]], expected: Sequence[str], now: float
) -> dict[str, dict[str, Any]]:
    """``captioner_report`` plus what only organizers see: the last caption and counts."""
    report = captioner_report(state, expected, now)
    for name, item in report.items():
        doc = state.get(f"captioner:{name}") or {}
        last = doc.get("last_caption") or None
        item["last_caption"] = (
            {
                "text": str(last.get("text", "")),
                "final": bool(last.get("final")),
                "age_seconds": round(now - float(last.get("at") or now), 1),
            }
            if isinstance(last, Mapping)
            else None
        )
        item["finals"] = doc.get("finals")
        item["partials"] = doc.get("partials")
    return report


def install(
    app: web.Application,
    bus: Bus,
    tokens: Tokens,
    channels: Sequence[str],
    config: EventConfig | None,
    web_dir: Path,
) -> None:
    """Add the dashboard page, ``/api/event`` and ``/api/admin/captioners`` to ``app``."""
    settings = app[SETTINGS]
    event = event_document(channels, config, settings.delivery, settings.segment_seconds)
    expected: tuple[str, ...] = app[CAPTIONERS]  # the event's captioners (create_app)

    async def dashboard(request: web.Request) -> web.FileResponse:
        return web.FileResponse(web_dir / "dashboard.html")

    async def event_info(request: web.Request) -> web.Response:
        return web.json_response(
            event, dumps=_dumps, headers={"Cache-Control": "public, max-age=60"}
        )

    async def captioners(request: web.Request) -> web.Response:
        require_organizer(request, tokens)
        state = await bus.get_state()  # BusUnavailableError: 503 (service/errors.py)
        details = captioner_details(state, expected, time.time())
        return web.json_response(
            {"captioners": details}, dumps=_dumps, headers={"Cache-Control": "no-store"}
        )

    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/api/event", event_info)
    app.router.add_get("/api/admin/captioners", captioners)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
