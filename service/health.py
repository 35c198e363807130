"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics``: is the process up, can it
serve, and its figures (Prometheus text, from the app's own registry).

Both ``/readyz`` and ``/metrics`` report on the captioners the event runs
(``app[CAPTIONERS]``, from ``EventConfig.captioners()``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from service.captioners import captioner_report, unready_reasons
from service.keys import BUS, BUS_GAUGES, CAPTIONER_GAUGES, CAPTIONERS, FANOUT, REGISTRY

log = logging.getLogger(__name__)


def install(app: web.Application, registry: CollectorRegistry) -> None:
    """The gauges and the three routes."""
    app[BUS_GAUGES] = (
        Gauge(
            "companion_bus_buffered",
            "Events the bus holds until it can deliver them.",
            registry=registry,
        ),
        Gauge(
            "companion_bus_dropped", "Events the bus dropped past its buffer.", registry=registry
        ),
        Gauge(
            "companion_bus_audio_dropped",
            "Console microphone frames the bus could not deliver (never buffered).",
            registry=registry,
        ),
    )
    app[CAPTIONER_GAUGES] = (
        Gauge(
            "companion_captioner_real_time_factor",
            "Decode time per second of audio, per captioner (below 1 keeps up).",
            ["channel"],
            registry=registry,
        ),
        Gauge(
            "companion_captioner_lag_seconds",
            "Audio waiting to be decoded, per captioner.",
            ["channel"],
            registry=registry,
        ),
        Gauge(
            "companion_captioner_alive",
            "1 when the captioner reported in the last 15 s.",
            ["channel"],
            registry=registry,
        ),
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


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
    expected: tuple[str, ...] = app[CAPTIONERS]
    return captioner_report(state, expected, time.time())


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
    buffered, dropped, audio_dropped = request.app[BUS_GAUGES]
    buffered.set(health.buffered)
    dropped.set(health.dropped)
    audio_dropped.set(health.audio_dropped)
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
