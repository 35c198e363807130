"""``GET /api/state`` and the viewer counts: every replica reports its own viewers per
channel into the event state (``listeners:<instance>``) and adds up the others'."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from service.captioners import is_public, total_listeners
from service.keys import BUS, FANOUT, INSTANCE, SETTINGS
from service.protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)

LISTENER_REPORT_SECONDS = 5.0


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
    others = {k: v for k, v in state.items() if k != listeners_key(app)}
    listeners = total_listeners(others, channels, time.time())
    return {ch: listeners[ch] + here.get(ch, 0) for ch in channels}


def listeners_key(app: web.Application) -> str:
    """The state document this replica reports its viewers in."""
    return f"listeners:{app[INSTANCE]}"


async def report_listeners(app: web.Application) -> None:
    """Publish this process's viewers per channel, so every replica can add them up."""
    while True:
        value = {"channels": app[FANOUT].listeners(), "updated": time.time()}
        try:
            await app[BUS].set_state(listeners_key(app), value)
        except Exception as exc:  # the bus buffers; a failure here is logged, not fatal
            log.warning("cannot report listeners: %r", exc)
        await asyncio.sleep(LISTENER_REPORT_SECONDS)
