"""The viewer service: ``create_app(settings, bus)`` builds the aiohttp application.

Routes::

    GET /ws/viewer    the viewer websocket (docs/protocol.md)
    GET /api/state    event state: channels, listeners per channel, state documents
    GET /healthz      the process is alive
    GET /readyz       200 when the bus is connected and every channel is followed, else 503
    GET /metrics      Prometheus text format, from a registry of this app's own
    GET /             the viewer page (web/index.html) and its script

With an event config, ``service/youtube`` adds the YouTube tracker and
``GET /api/admin/youtube`` (organizers: quota, tracker, caption posters).
``service/pages`` adds the organizer dashboard (``GET /dashboard``), ``GET /api/event``
and ``GET /api/admin/captioners`` (docs/pages.md).

The bus is started, and the fan-out tasks run, inside ``cleanup_ctx``; on shutdown
every viewer is closed with 1001 (going away) from a snapshot of the set.
``close_for`` is the one place that turns an exception into a close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from companion.aio import running
from companion.bus.base import Bus
from companion.config import EventConfig
from companion.errors import BusUnavailableError
from service import booth_audio, booths, pages
from service.auth import Tokens
from service.captioners import captioner_report, is_public, total_listeners, unready_reasons
from service.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    PROTOCOL_VERSION,
    ClientMessage,
    FloodGuard,
    Hello,
    Ping,
    ProtocolError,
    error_message,
    parse_client,
    pong_message,
    state_message,
    welcome_message,
)
from service.settings import ServiceSettings
from service.viewers import Fanout, FanoutMetrics, Viewer
from service.youtube import web as youtube

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

SETTINGS = web.AppKey("settings", ServiceSettings)
BUS = web.AppKey("bus", Bus)
FANOUT = web.AppKey("fanout", Fanout)
REGISTRY = web.AppKey("registry", CollectorRegistry)
BUS_GAUGES = web.AppKey("bus_gauges", tuple[Gauge, Gauge])
INSTANCE = web.AppKey("instance", str)
TOKENS = web.AppKey("tokens", Tokens)
EVENT = web.AppKey("event", EventConfig)  # absent when the app was built without one
LISTENER_REPORT_SECONDS = 5.0
CAPTIONER_GAUGES = web.AppKey("captioner_gauges", tuple[Gauge, Gauge, Gauge])


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
    app = web.Application()
    registry = CollectorRegistry(auto_describe=True)
    app[SETTINGS] = settings
    app[TOKENS] = tokens or Tokens()
    if config is not None:
        app[EVENT] = config
    app[BUS] = bus
    app[REGISTRY] = registry
    app[FANOUT] = Fanout(bus, settings.channels, settings.backlog_finals, FanoutMetrics(registry))
    app[INSTANCE] = uuid.uuid4().hex[:12]
    app[BUS_GAUGES] = (
        Gauge(
            "companion_bus_buffered",
            "Events the bus holds until it can deliver them.",
            registry=registry,
        ),
        Gauge(
            "companion_bus_dropped", "Events the bus dropped past its buffer.", registry=registry
        ),
    )
    app[CAPTIONER_GAUGES] = (
        Gauge(
            "companion_captioner_real_time_factor",
            "Decode time per second of audio, per channel (below 1 keeps up).",
            ["channel"],
            registry=registry,
        ),
        Gauge(
            "companion_captioner_lag_seconds",
            "Audio waiting to be decoded, per channel.",
            ["channel"],
            registry=registry,
        ),
        Gauge(
            "companion_captioner_alive",
            "1 when the channel's captioner reported in the last 15 s.",
            ["channel"],
            registry=registry,
        ),
    )
    app.cleanup_ctx.append(_fanout_ctx)
    if config is not None:  # the parts that need the whole event config
        from service.transcripts import add_transcript_routes  # it imports this module

        async def listeners() -> dict[str, int]:
            return all_listeners(app, await bus.get_state())

        add_transcript_routes(app, config)  # the programme, transcripts, corrections
        youtube.install(app, bus, app[TOKENS], config, env or {})  # tracker, /api/admin/youtube
        booths.install(app, bus, app[TOKENS], config, listeners, web_dir)  # booths, console
        booth_audio.install(app, app[TOKENS], config)  # /ws/booth-audio: console mics
    pages.install(app, bus, app[TOKENS], settings.channels, config, web_dir)  # /dashboard
    app.on_shutdown.append(_close_viewers)
    app.router.add_get("/ws/viewer", viewer_socket)
    app.router.add_get("/api/state", api_state)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
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
        async with running(_report_listeners(app), name="listeners"):
            yield
    finally:
        await fanout.stop()
        with contextlib.suppress(Exception):  # best effort: the report goes stale anyway
            await bus.set_state(_listeners_key(app), {"channels": {}, "updated": 0.0})
        await bus.close()


def _listeners_key(app: web.Application) -> str:
    return f"listeners:{app[INSTANCE]}"


async def _report_listeners(app: web.Application) -> None:
    """Publish this process's viewers per channel, so every replica can add them up."""
    while True:
        value = {"channels": app[FANOUT].listeners(), "updated": time.time()}
        try:
            await app[BUS].set_state(_listeners_key(app), value)
        except Exception as exc:  # the bus buffers; a failure here is logged, not fatal
            log.warning("cannot report listeners: %r", exc)
        await asyncio.sleep(LISTENER_REPORT_SECONDS)


async def _close_viewers(app: web.Application) -> None:
    await app[FANOUT].close_all(CLOSE_GOING_AWAY, "server shutting down: reconnect and resume")


def close_for(error: BaseException) -> tuple[int, str]:
    """The close code and a reason safe to show a viewer, for an error that ends a socket."""
    if isinstance(error, ProtocolError):
        if error.code == "too_large":
            return CLOSE_TOO_BIG, "message too big"
        return CLOSE_POLICY, "too many bad messages"
    if isinstance(error, BusUnavailableError):
        return CLOSE_TRY_AGAIN, "captions are unavailable for a moment: reconnect and resume"
    return CLOSE_INTERNAL_ERROR, "internal error: reconnect and resume"


def origin_allowed(origin: str | None, settings: ServiceSettings) -> bool:
    """Any origin when none are configured; a request without one is not from a browser."""
    return not settings.allowed_origins or origin is None or origin in settings.allowed_origins


class ViewerSession:
    """What one viewer's socket has said so far: its flood guard and bad-message count."""

    def __init__(self, viewer: Viewer, app: web.Application, now: float) -> None:
        self.viewer = viewer
        self.settings = app[SETTINGS]
        self.bus = app[BUS]
        self.fanout = app[FANOUT]
        self.guard = FloodGuard(self.settings.messages_per_second, self.settings.message_burst, now)
        self.bad_messages = 0

    async def receive(self, text: str, now: float) -> None:
        """Handle one text frame; a ProtocolError is answered, counted, and may close."""
        try:
            if not self.guard.allow(now):
                raise ProtocolError("flood", "too many messages; slow down")
            await self._handle(parse_client(text, self.settings.max_message_bytes))
        except ProtocolError as error:
            await self.refuse(error)

    async def refuse(self, error: ProtocolError) -> None:
        """Tell the viewer why; close once it has sent too many bad messages."""
        self.bad_messages += 1
        await self.viewer.put(error_message(error.code, error.message))
        if error.code == "too_large" or self.bad_messages >= self.settings.max_bad_messages:
            code, reason = close_for(error)
            self.viewer.drop(code, reason, flush=True)

    async def _handle(self, message: ClientMessage) -> None:
        viewer = self.viewer
        if isinstance(message, Ping):
            await viewer.put(pong_message())
            return
        if message.channel not in self.fanout.hubs:
            raise ProtocolError("unknown_channel", f"no channel {message.channel!r}")
        if isinstance(message, Hello):
            await viewer.put(welcome_message(self.settings.channels, PROTOCOL_VERSION))
            for key, value in (await self.bus.get_state()).items():
                if is_public(key):
                    await viewer.put(state_message(key, value))
        await self.fanout.subscribe(viewer, message.channel, message.resume)


async def viewer_socket(request: web.Request) -> web.WebSocketResponse:
    """The viewer websocket: one ``Viewer`` and one ``ViewerSession`` per connection."""
    settings = request.app[SETTINGS]
    fanout = request.app[FANOUT]
    ws = web.WebSocketResponse(
        max_msg_size=settings.max_message_bytes,
        compress=False,  # compressing would encode each message once per viewer
        heartbeat=settings.heartbeat,
        timeout=settings.close_timeout,
    )
    await ws.prepare(request)
    if not origin_allowed(request.headers.get("Origin"), settings):
        await ws.close(code=CLOSE_POLICY, message=b"origin not allowed")
        return ws
    viewer = Viewer(ws, settings.queue_limit, settings.close_timeout, request.transport)
    fanout.add(viewer)
    viewer.start()
    clock = asyncio.get_running_loop().time
    session = ViewerSession(viewer, request.app, clock())
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await session.receive(msg.data, clock())
            elif msg.type is WSMsgType.BINARY:
                await session.refuse(ProtocolError("bad_message", "send JSON in text frames"))
            if viewer.closing:
                break
    except BusUnavailableError as error:
        log.warning("a viewer's backlog could not be read: %s", error)
        code, reason = close_for(error)
        viewer.drop(code, reason)
    except Exception as error:
        log.exception("a viewer's socket failed")
        code, reason = close_for(error)
        viewer.drop(code, reason)
    finally:
        fanout.remove(viewer)
        await viewer.finish()
    return ws


async def api_state(request: web.Request) -> web.Response:
    """Channels, listeners per channel (every replica, and this one) and the state documents."""
    settings = request.app[SETTINGS]
    state = await request.app[BUS].get_state()
    body = {
        "version": PROTOCOL_VERSION,
        "channels": list(settings.channels),
        "listeners": all_listeners(request.app, state),
        "listeners_here": request.app[FANOUT].listeners(),
        "state": {k: v for k, v in state.items() if is_public(k)},
    }
    return web.json_response(body, headers={"Cache-Control": "public, max-age=1"})


def all_listeners(app: web.Application, state: Mapping[str, Any]) -> dict[str, int]:
    """Viewers per channel: this process's now, and every other replica's last report."""
    channels = app[SETTINGS].channels
    here = app[FANOUT].listeners()
    others = {k: v for k, v in state.items() if k != _listeners_key(app)}
    listeners = total_listeners(others, channels, time.time())
    return {ch: listeners[ch] + here.get(ch, 0) for ch in channels}


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the bus is connected and every channel is followed; 503 with reasons."""
    health = request.app[BUS].health()
    reasons: list[str] = []
    if not health.connected:
        reasons.append(f"bus ({health.backend}) is not connected")
        if health.last_error:
            log.warning("bus not ready: %s", health.last_error)
    if not request.app[FANOUT].ready():
        reasons.append("the channels are not followed yet")
    captioners = await _captioners(request.app)
    reasons += unready_reasons(captioners)
    body = {
        "ready": not reasons,
        "reasons": reasons,
        "bus": health.backend,
        "captioners": {ch: item["status"] for ch, item in captioners.items()},
    }
    return web.json_response(body, status=503 if reasons else 200)


async def _captioners(app: web.Application) -> dict[str, dict[str, Any]]:
    try:
        state = await app[BUS].get_state()
    except Exception as exc:  # the bus is down: health says so; report no captioners
        log.warning("cannot read captioner state: %r", exc)
        state = {}
    return captioner_report(state, app[SETTINGS].channels, time.time())


async def metrics(request: web.Request) -> web.Response:
    """The app's registry in Prometheus text format."""
    request.app[FANOUT].update_gauges()
    rtf, lag, alive = request.app[CAPTIONER_GAUGES]
    for channel, item in (await _captioners(request.app)).items():
        alive.labels(channel).set(1 if item["status"] == "alive" else 0)
        if item.get("real_time_factor") is not None:
            rtf.labels(channel).set(float(item["real_time_factor"]))
        if item.get("lag_seconds") is not None:
            lag.labels(channel).set(float(item["lag_seconds"]))
    health = request.app[BUS].health()
    buffered, dropped = request.app[BUS_GAUGES]
    buffered.set(health.buffered)
    dropped.set(health.dropped)
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
