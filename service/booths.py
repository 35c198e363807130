"""The booths' routes: the interpreter console's socket and page, actions over HTTP.

The state itself is kept by ``BoothDesk`` (``service/booth_desk.py``).

Routes::

    GET  /ws/console                    the interpreter console's socket (below)
    POST /api/booths/actions            one action, ``Authorization: Bearer <token>``,
                                        body {"action": ..., "arg": ...}
    GET  /api/admin/booths              organizer: booths, channels, floor and the log
    GET  /console                       the console page
    GET  /api/glossary                  the event's terms, for the console's prompter

Console socket: the first message is ``{"type": "login", "token": ...}``; a wrong token
gets ``{"type": "error", "code": "token_refused"}`` and a close with 1008. After it
the server sends ``console`` (who you are, your booth, every booth, the channels, the
floor, listeners, your booth's recent log), then ``booth`` / ``channels`` / ``floor``
/ ``listeners`` / ``evs`` as they change; the client sends ``{"type": "action",
"action": ..., "arg": ...}`` and gets ``refused`` with a reason when the move is not
allowed. Only the booth of the token's interpreter can be changed; the viewer socket
has no actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

from companion.aio import running
from companion.bus.base import Bus
from companion.config import EventConfig
from companion.errors import BadRequestError, BusUnavailableError, Refused
from service.auth import require_interpreter, require_organizer, socket_login
from service.booth_desk import BEHIND, BoothDesk, Listeners
from service.keys import DESK, SETTINGS, SOCKETS, TOKENS
from service.protocol import CLOSE_SLOW

log = logging.getLogger(__name__)

LISTENERS_EVERY = 2.0
MAX_CONSOLE_MESSAGE = 2048


# ------------------------------------------------------------------ the routes


def install(
    app: web.Application,
    bus: Bus,
    config: EventConfig,
    listeners: Listeners,
    web_dir: Any,
) -> None:
    """Add the desk, its task and its routes to ``app`` (when the event has booths)."""
    if not config.booths:
        return
    desk = BoothDesk(config, bus)
    app[DESK] = desk
    desk.listeners = listeners

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await desk.start()
        followers = (desk.follow_captions(c) for c in desk.channels)
        async with running(desk.follow(), desk.expire_requests(), *followers, name="booth-desk"):
            yield

    app.cleanup_ctx.append(ctx)
    app.router.add_get("/ws/console", console_socket)
    app.router.add_post("/api/booths/actions", post_action)
    app.router.add_get("/api/admin/booths", admin_booths)

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(web_dir / "console.html")

    app.router.add_get("/console", page)

    async def glossary(request: web.Request) -> web.Response:
        return web.json_response({"terms": desk.terms}, headers={"Cache-Control": "max-age=60"})

    app.router.add_get("/api/glossary", glossary)


async def post_action(request: web.Request) -> web.Response:
    """One action by the token's interpreter: 200 with the event, 409 with the reason.

    ``Refused`` (409) and a bad body (400) are answered by ``service/errors.py``.
    """
    desk = request.app[DESK]
    interpreter = require_interpreter(request, request.app[TOKENS])
    try:
        body = await request.json()
        action, arg = str(body["action"]), str(body.get("arg", ""))
    except (ValueError, KeyError, TypeError):
        raise BadRequestError("bad_message", 'send {"action": ..., "arg": ...} as JSON') from None
    event = await desk.act(interpreter, action, arg)
    booth = desk.booths[desk.booth_of[interpreter]]
    return web.json_response({"event": event.to_dict(), "booth": booth.to_dict()})


async def admin_booths(request: web.Request) -> web.Response:
    """Organizers: every booth, the channels, the floor and the event log."""
    require_organizer(request, request.app[TOKENS])
    return web.json_response(request.app[DESK].snapshot())


async def console_socket(request: web.Request) -> web.WebSocketResponse:
    """The interpreter console, admitted by the socket caps (``SocketGate``)."""
    with request.app[SOCKETS].admit_from(
        request.remote, request.headers.getall("X-Forwarded-For", ())
    ):
        return await _console_socket(request)


async def _console_socket(request: web.Request) -> web.WebSocketResponse:
    """Log in with a token (within ``login_timeout``), then act on one's own booth."""
    desk = request.app[DESK]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_CONSOLE_MESSAGE)
    await ws.prepare(request)
    login_timeout = request.app[SETTINGS].login_timeout
    interpreter = await socket_login(ws, request.app[TOKENS], login_timeout)
    if interpreter is None:
        return ws
    booth_id = desk.booth_of[interpreter]
    async with desk.console() as queue:
        await ws.send_json(
            {
                "type": "console",
                "interpreter": interpreter,
                "name": desk.names[interpreter],
                "booth": booth_id,
                "listeners": await desk.listeners(),
                **desk.snapshot(),
                "log": [e.to_dict() for e in desk.log if e.booth == booth_id][-20:],
            }
        )
        sender = asyncio.create_task(_send_loop(ws, queue, desk.listeners))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await _console_message(ws, desk, interpreter, msg.data)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    return ws


async def _console_message(
    ws: web.WebSocketResponse, desk: BoothDesk, interpreter: str, text: str
) -> None:
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        await ws.send_json({"type": "error", "code": "bad_json", "message": "not a JSON object"})
        return
    if data.get("type") == "ping":
        await ws.send_json({"type": "pong"})
        return
    if data.get("type") != "action" or not isinstance(data.get("action"), str):
        await ws.send_json(
            {"type": "error", "code": "bad_message", "message": 'send {"type": "action", ...}'}
        )
        return
    action, arg = data["action"], data.get("arg", "")
    try:
        await desk.act(interpreter, action, arg if isinstance(arg, str) else "")
    except Refused as refused:
        await ws.send_json({"type": "refused", "action": action, "reason": refused.reason})
    except BusUnavailableError:  # the desk's truth is on the bus: no guessing without it
        reason = "the desk cannot reach the bus: try again in a moment"
        await ws.send_json({"type": "refused", "action": action, "reason": reason})


async def _send_loop(
    ws: web.WebSocketResponse, queue: asyncio.Queue[str], listeners: Listeners
) -> None:
    last: dict[str, int] | None = None
    while not ws.closed:
        try:
            async with asyncio.timeout(LISTENERS_EVERY):
                text = await queue.get()
            if text == BEHIND:  # updates were lost: reconnecting gets the whole desk again
                await ws.close(code=CLOSE_SLOW, message=b"slow: reconnect")
                return
            await ws.send_str(text)
        except TimeoutError:
            now = await listeners()
            if now != last:
                last = now
                await ws.send_json({"type": "listeners", "channels": now})
        except ConnectionError:
            return
