"""``GET /ws/viewer``: one viewer's websocket (docs/protocol.md).

Each connection gets a ``Viewer`` (its queue and writer, ``service.viewers``) and a
``ViewerSession`` (what it has said: its flood guard and bad messages). The fan-out
sends it captions; this module answers what it sends. ``close_for``
(``service/errors.py``) turns the exception that ends a socket into its close code and
a reason safe to show.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from companion.errors import BusUnavailableError, ProtocolError
from service.errors import close_for
from service.keys import BUS, FANOUT, SETTINGS, SOCKETS
from service.protocol import (
    CLOSE_POLICY,
    PROTOCOL_VERSION,
    ClientMessage,
    FloodGuard,
    Hello,
    Ping,
    error_message,
    parse_client,
    pong_message,
    state_message,
    welcome_message,
)
from service.settings import ServiceSettings
from service.viewers import Viewer

log = logging.getLogger(__name__)

SUBSCRIBES_PER_SECOND = 0.5  # hello/subscribe on average: a language switch now and then
SUBSCRIBE_BURST = 5  # at once (a page's hello, a switch or two)


def origin_allowed(
    origin: str | None, settings: ServiceSettings, hosts: tuple[str, ...] = ()
) -> bool:
    """Whether a page of ``origin`` may open the viewer socket.

    With ``allowed_origins`` set, those origins only. Without, the service's own pages:
    an origin whose host is the request's (``hosts``: its ``Host`` and, behind a
    proxy, ``X-Forwarded-Host``), whatever the scheme (TLS ends at the proxy). A
    request without an ``Origin`` is not from a browser page, and is let in.
    """
    if origin is None:
        return True
    if settings.allowed_origins:
        return origin in settings.allowed_origins
    host = urlsplit(origin).netloc.lower()
    return bool(host) and host in {h.strip().lower() for h in hosts if h}


class ViewerSession:
    """What one viewer's socket has said so far: its flood guard and bad-message count."""

    def __init__(self, viewer: Viewer, app: web.Application, now: float) -> None:
        self.viewer = viewer
        self.settings = app[SETTINGS]
        self.bus = app[BUS]
        self.fanout = app[FANOUT]
        self.guard = FloodGuard(self.settings.messages_per_second, self.settings.message_burst, now)
        # hello and subscribe cost the server a backlog read each: a budget of their own
        self.subscribes = FloodGuard(SUBSCRIBES_PER_SECOND, SUBSCRIBE_BURST, now)
        self.bad_messages = 0
        self.subscribed = False  # a socket that never subscribes is closed (hello_timeout)

    async def receive(self, text: str, now: float) -> None:
        """Handle one text frame; a ProtocolError is answered, counted, and may close."""
        try:
            if not self.guard.allow(now):
                raise ProtocolError("flood", "too many messages; slow down")
            message = parse_client(text, self.settings.max_message_bytes)
            if not isinstance(message, Ping) and not self.subscribes.allow(now):
                raise ProtocolError("flood", "too many hello/subscribe messages; slow down")
            await self._handle(message)
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
        # The viewer has said what it wants: the deadline was for that, not for the join,
        # which under a crowd (a busy loop, a backlog to send) can take longer.
        self.subscribed = True
        if isinstance(message, Hello):
            await viewer.put(welcome_message(self.settings.channels, PROTOCOL_VERSION))
            for key, value in (await self.fanout.public_state()).items():
                await viewer.put(state_message(key, value))
        await self.fanout.subscribe(viewer, message.channel, message.resume)


async def viewer_socket(request: web.Request) -> web.WebSocketResponse:
    """The viewer websocket, admitted by the socket caps (``SocketGate``)."""
    with request.app[SOCKETS].admit_from(
        request.remote, request.headers.getall("X-Forwarded-For", ())
    ):
        return await _viewer_socket(request)


async def _viewer_socket(request: web.Request) -> web.WebSocketResponse:
    """One ``Viewer`` and one ``ViewerSession`` per connection; one that has not
    subscribed ``hello_timeout`` seconds after it opened is closed with 1008."""
    settings = request.app[SETTINGS]
    fanout = request.app[FANOUT]
    ws = web.WebSocketResponse(
        max_msg_size=settings.max_message_bytes,
        compress=False,  # compressing would encode each message once per viewer
        heartbeat=settings.heartbeat,
        timeout=settings.close_timeout,
    )
    await ws.prepare(request)
    hosts = (request.host, *request.headers.getall("X-Forwarded-Host", ()))
    if not origin_allowed(request.headers.get("Origin"), settings, hosts):
        await ws.close(code=CLOSE_POLICY, message=b"origin not allowed")
        return ws
    viewer = Viewer(ws, settings.queue_limit, settings.close_timeout, request.transport)
    fanout.add(viewer)
    viewer.start()
    clock = asyncio.get_running_loop().time
    session = ViewerSession(viewer, request.app, clock())

    def no_hello() -> None:
        if not session.subscribed:
            viewer.drop(CLOSE_POLICY, "send hello first")

    deadline = asyncio.get_running_loop().call_later(settings.hello_timeout, no_hello)
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
        deadline.cancel()
        fanout.remove(viewer)
        await viewer.finish()
    return ws
