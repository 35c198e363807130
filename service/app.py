"""The viewer service: ``create_app(settings, bus)`` builds the aiohttp application.

Routes::

    GET /ws/viewer    the viewer websocket (docs/protocol.md)
    GET /api/state    event state: channels, listeners per channel, state documents
    GET /healthz      the process is alive
    GET /readyz       200 when the bus is connected and every channel is followed, else 503
    GET /metrics      Prometheus text format, from a registry of this app's own
    GET /             the viewer page (web/index.html) and its script
    GET /live/...     each channel's caption segments: HLS WebVTT and JSON (service/live.py)

With an event config, ``service/youtube`` adds the YouTube tracker and
``GET /api/admin/youtube`` (organizers: quota, tracker, caption posters).
``service/pages`` adds the organizer dashboard (``GET /dashboard``), ``GET /api/event``
and ``GET /api/admin/captioners`` (docs/pages.md).

The bus is started, and the fan-out tasks run, inside ``cleanup_ctx``; on shutdown
every viewer is closed with 1001 (going away) from a snapshot of the set.
``service/errors.py`` is the one place that turns an exception into an HTTP answer
(its ``error_middleware``, installed here) or a websocket close code (``close_for``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from companion.aio import running
from companion.bus.base import Bus
from companion.config import EventConfig
from service import booth_audio, booths, headers, health, live, pages
from service.auth import Tokens
from service.errors import error_middleware
from service.keys import (
    BUS,
    CAPTIONERS,
    EVENT,
    FANOUT,
    INSTANCE,
    REGISTRY,
    SETTINGS,
    SOCKETS,
    TOKENS,
)
from service.protocol import CLOSE_GOING_AWAY
from service.settings import ServiceSettings
from service.sockets import SocketGate
from service.state_api import all_listeners, api_state, listeners_key, report_listeners
from service.transcripts import add_transcript_routes
from service.viewer_socket import viewer_socket
from service.viewers import Fanout, FanoutMetrics
from service.youtube import web as youtube

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(
    settings: ServiceSettings,
    bus: Bus,
    *,
    web_dir: Path = WEB_DIR,
    tokens: Tokens | None = None,
    config: EventConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> web.Application:
    """The application; the bus is started when the app starts and closed when it stops.

    ``tokens`` are the organizer's and interpreters' (none: nobody can sign in);
    ``config`` is the event's, for the parts that need more than the channel ids;
    ``env`` holds its secrets (``YOUTUBE_API_KEY`` …; none: YouTube tracking is off).
    """
    app = web.Application(middlewares=[error_middleware])
    headers.install(app, web_dir)  # security headers on every response, CSP on the pages
    registry = CollectorRegistry(auto_describe=True)
    app[SETTINGS] = settings
    app[TOKENS] = tokens or Tokens()
    if config is not None:
        app[EVENT] = config
    app[BUS] = bus
    app[REGISTRY] = registry
    app[FANOUT] = Fanout(
        bus,
        settings.channels,
        settings.backlog_finals,
        FanoutMetrics(registry),
        resume_window=settings.resume_window,
    )
    app[INSTANCE] = uuid.uuid4().hex[:12]
    app[SOCKETS] = SocketGate(
        settings.max_sockets, settings.max_sockets_per_address, settings.trusted_proxies
    )
    if config is not None:
        app[CAPTIONERS] = tuple(c.id for c in config.captioners())
    else:
        app[CAPTIONERS] = settings.channels
    app.cleanup_ctx.append(_fanout_ctx)
    live.install(app)  # /live/<channel>/: the segment feed, and its writers (after the bus)
    if config is not None:  # the parts that need the whole event config

        async def listeners() -> dict[str, int]:
            return all_listeners(app, await bus.get_state())

        add_transcript_routes(app, config)  # the programme, transcripts, corrections
        youtube.install(app, bus, app[TOKENS], config, env or {})  # tracker, /api/admin/youtube
        booths.install(app, bus, config, listeners, web_dir)  # booths, console
        booth_audio.install(app, app[TOKENS], config)  # /ws/booth-audio: console mics
    pages.install(app, bus, app[TOKENS], settings.channels, config, web_dir)  # /dashboard
    app.on_shutdown.append(_close_viewers)
    app.router.add_get("/ws/viewer", viewer_socket)
    app.router.add_get("/api/state", api_state)
    health.install(app, registry)  # /healthz, /readyz, /metrics
    index = web_dir / "index.html"

    async def index_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(index)

    app.router.add_get("/", index_page)
    app.router.add_static("/", web_dir)
    return app


async def _fanout_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = app[BUS]
    await bus.start()
    fanout = app[FANOUT]
    try:
        fanout.start()
        async with running(report_listeners(app), name="listeners"):
            yield
    finally:
        await fanout.stop()
        with contextlib.suppress(Exception):  # best effort: the report goes stale anyway
            await bus.delete_state(listeners_key(app))
        await bus.close()


async def _close_viewers(app: web.Application) -> None:
    await app[FANOUT].close_all(CLOSE_GOING_AWAY, "server shutting down: reconnect and resume")
