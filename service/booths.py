"""The booths in the service: the interpreter console's socket, the desk that keeps state.

``BoothDesk`` holds every booth's state (``companion.booths``), applies interpreters'
actions one at a time, and publishes on the bus, as public state documents that every
viewer receives:

    booth:<id>      the booth (who is live, muted, listening to, pending handover …)
    channel:<id>    what the channel carries now (``Carriage``)
    floor           the floor's language: {"lang", "at", "by"} ("by": "detected" when
                    the floor captioner heard it, or an interpreter's id)

and each change as an event in the log (``boothlog``, the last ``LOG_SIZE``; organizers
read it at ``GET /api/admin/booths``). It also follows those documents on the bus, so
a change made through another service replica, or the floor captioner's detection,
reaches this replica's consoles and re-routes the channels.

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
/ ``listeners`` as they change; the client sends ``{"type": "action", "action": ...,
"arg": ...}`` and gets ``refused`` with a reason when the move is not allowed. Only the
booth of the token's interpreter can be changed; the viewer socket has no actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp import WSMsgType, web

from companion.aio import running
from companion.booths import Booth, BoothEvent, Carriage, Refused, apply, expire, route
from companion.bus.base import Bus
from companion.captions import CaptionEvent
from companion.config import EventConfig
from companion.errors import ConfigError
from companion.evs import AnchorFinder, SpanTracker
from companion.glossary import load_event_glossary
from service.auth import Tokens, refuse, request_token, require_organizer, socket_login

log = logging.getLogger(__name__)

LOG_SIZE = 500
LISTENERS_EVERY = 2.0
EXPIRE_CHECK_SECONDS = 5.0
MAX_CONSOLE_MESSAGE = 2048
CLOSE_POLICY = 1008

Listeners = Callable[[], Awaitable[dict[str, int]]]  # viewers per channel, every replica


def booths_from_config(config: EventConfig) -> dict[str, Booth]:
    """Every configured booth, off air; each may relay any other."""
    ids = [b.id for b in config.booths]
    return {
        b.id: Booth(
            b.id,
            b.channel,
            tuple(i.id for i in b.interpreters),
            relays=tuple(other for other in ids if other != b.id),
        )
        for b in config.booths
    }


class BoothDesk:
    """Every booth's state, the floor's language and the channels' carriage."""

    def __init__(
        self, config: EventConfig, bus: Bus, clock: Callable[[], float] = time.time
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.booths = booths_from_config(config)
        self.channels = {c.id: c.language for c in config.channels}
        self.floor_languages = config.floor_languages()
        self.names = {i.id: i.name or i.id for b in config.booths for i in b.interpreters}
        self.booth_of = {i.id: b.id for b in config.booths for i in b.interpreters}
        self.floor: dict[str, Any] = {
            "lang": config.floor.language or config.channels[0].language,
            "at": 0.0,
            "by": "config",
        }
        self.log: deque[BoothEvent] = deque(maxlen=LOG_SIZE)
        self.carriages = self._route()
        self._lock = asyncio.Lock()
        self._consoles: set[asyncio.Queue[str]] = set()
        self.terms = _glossary(config)
        self.anchors = AnchorFinder([(row["ko"], row["en"]) for row in self.terms])
        self.spans = {booth_id: SpanTracker() for booth_id in self.booths}
        self.evs: dict[str, dict[str, Any]] = {}  # booth -> the current span
        self.evs_by_interpreter: dict[str, deque[float]] = {}
        self.listeners: Listeners = _no_listeners

    # ---------------------------------------------------------------- state
    def _route(self) -> dict[str, Carriage]:
        return route(self.channels, self.booths, str(self.floor["lang"]))

    async def start(self) -> None:
        """Take the state the bus already holds (another replica's), then publish it all."""
        state = await self.bus.get_state()
        for booth_id in self.booths:
            doc = state.get(f"booth:{booth_id}")
            if doc:
                try:
                    self.booths[booth_id] = _merge(self.booths[booth_id], doc)
                except (TypeError, ValueError, KeyError) as exc:
                    log.warning("ignoring the stored state of %s: %r", booth_id, exc)
        if state.get("floor", {}).get("lang"):
            self.floor = dict(state["floor"])
        for doc in state.get("boothlog", {}).get("events", []):
            with contextlib.suppress(TypeError):
                self.log.append(BoothEvent(**doc))
        for booth in self.booths.values():
            await self.bus.set_state(f"booth:{booth.id}", booth.to_dict())
        await self.bus.set_state("floor", self.floor)
        await self._publish_routes(force=True)

    async def act(self, interpreter: str, action: str, arg: str = "") -> BoothEvent:
        """``interpreter`` does ``action`` on their own booth; raises ``Refused``."""
        booth_id = self.booth_of.get(interpreter)
        if booth_id is None:
            raise Refused(f"{interpreter} has no booth")
        if action == "floor":
            return await self._set_floor(interpreter, booth_id, arg)
        async with self._lock:
            await self._expire(booth_id)
            new, event = apply(self.booths[booth_id], action, interpreter, self.clock(), arg)
            self.booths[booth_id] = new
            self.log.append(event)
            log.info("booth %s: %s by %s %s", booth_id, action, interpreter, event.detail)
            await self.bus.set_state(f"booth:{booth_id}", new.to_dict())
            await self.bus.set_state(
                "boothlog", {"events": [e.to_dict() for e in list(self.log)[-100:]]}
            )
            self._tell({"type": "booth", "booth": new.to_dict(), "event": event.to_dict()})
            await self._publish_routes()
        return event

    async def _expire(self, booth_id: str) -> None:
        """Drop the booth's handover request if it went unanswered too long (lock held)."""
        expired = expire(self.booths[booth_id], self.clock())
        if expired is None:
            return
        booth, event = expired
        self.booths[booth_id] = booth
        self.log.append(event)
        await self.bus.set_state(f"booth:{booth_id}", booth.to_dict())
        self._tell({"type": "booth", "booth": booth.to_dict(), "event": event.to_dict()})

    async def expire_requests(self) -> None:
        """Drop unanswered handover requests; every few seconds, forever."""
        while True:
            await asyncio.sleep(EXPIRE_CHECK_SECONDS)
            async with self._lock:
                for booth_id in self.booths:
                    await self._expire(booth_id)

    async def _set_floor(self, interpreter: str, booth_id: str, lang: str) -> BoothEvent:
        """The live interpreter says what the floor speaks (until the next detection)."""
        if self.booths[booth_id].live != interpreter:
            raise Refused("only a live interpreter can set the floor's language")
        if lang not in self.floor_languages:
            raise Refused(f"the floor speaks one of {', '.join(self.floor_languages)}")
        async with self._lock:
            event = BoothEvent(self.clock(), booth_id, "floor", interpreter, lang)
            self.log.append(event)
            self.floor = {"lang": lang, "at": event.at, "by": interpreter}
            await self.bus.set_state("floor", self.floor)
            self._tell({"type": "floor", "floor": self.floor})
            await self._publish_routes()
        return event

    async def _publish_routes(self, force: bool = False) -> None:
        carriages = self._route()
        changed = {k: c for k, c in carriages.items() if force or self.carriages.get(k) != c}
        self.carriages = carriages
        for channel, carriage in changed.items():
            await self.bus.set_state(f"channel:{channel}", carriage.to_dict())
        if changed:
            self._tell(
                {"type": "channels", "channels": {k: c.to_dict() for k, c in carriages.items()}}
            )

    async def follow(self) -> None:
        """Take changes other replicas and the floor captioner make; forever."""
        async for key, value in self.bus.state_changes():
            try:
                await self._take(key, value)
            except (TypeError, ValueError, KeyError) as exc:
                log.warning("ignoring a malformed %s document: %r", key, exc)

    async def _take(self, key: str, value: dict[str, Any]) -> None:
        if key == "floor" and value.get("lang") and value.get("lang") != self.floor["lang"]:
            self.floor = dict(value)
            log.info("the floor now speaks %s (%s)", value["lang"], value.get("by", "?"))
            self._tell({"type": "floor", "floor": self.floor})
            await self._publish_routes()
        elif key.startswith("booth:") and key[6:] in self.booths:
            booth = _merge(self.booths[key[6:]], value)
            if booth != self.booths[booth.id]:
                self.booths[booth.id] = booth
                self._tell({"type": "booth", "booth": booth.to_dict(), "event": None})
                await self._publish_routes()

    def snapshot(self) -> dict[str, Any]:
        """Booths, channels, floor, ear-voice spans and the log, as JSON."""
        return {
            "booths": {k: b.to_dict() for k, b in self.booths.items()},
            "channels": {k: c.to_dict() for k, c in self.carriages.items()},
            "floor": self.floor,
            "interpreters": self.names,
            "evs": self.evs,
            "evs_by_interpreter": {
                who: {
                    "samples": len(spans),
                    "median": round(statistics.median(spans), 1),
                    "last": spans[-1],
                }
                for who, spans in self.evs_by_interpreter.items()
                if spans
            },
            "log": [e.to_dict() for e in self.log],
        }

    # ------------------------------------------------------- ear-voice span
    async def follow_captions(self, channel: str) -> None:
        """Feed the ear-voice span from ``channel``'s final captions; forever."""
        finals = await self.bus.recent_finals(channel, 1)
        after = finals[-1].seq if finals else 0
        async for event in self.bus.follow(channel, after=after):
            self.hear(event)

    def hear(self, event: CaptionEvent) -> None:
        """One caption: the floor's anchors are remembered, a booth's are matched."""
        if not event.final:
            return
        anchors = self.anchors.find(event)
        if not anchors:
            return
        if event.source == "floor":
            for each in self.spans.values():
                each.floor(anchors)
            return
        tracker = self.spans.get(event.source)
        if tracker is None or not tracker.booth(anchors):
            return
        span = tracker.span
        if span is None:
            return
        booth = self.booths[event.source]
        self.evs[booth.id] = {
            "booth": booth.id,
            "seconds": span.seconds,
            "interpreter": booth.live,
            "anchors": span.anchors,
            "at": self.clock(),
        }
        if booth.live is not None:
            spans = self.evs_by_interpreter.setdefault(booth.live, deque(maxlen=500))
            spans.append(span.seconds)
        log.info("ear-voice span of %s (%s): %.1f s", booth.id, booth.live, span.seconds)
        self._tell({"type": "evs", **self.evs[booth.id]})

    # ------------------------------------------------------------- consoles
    def _tell(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, ensure_ascii=False)
        for queue in list(self._consoles):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(text)

    @contextlib.asynccontextmanager
    async def console(self) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of the messages one console is sent, while it is connected."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=256)
        self._consoles.add(queue)
        try:
            yield queue
        finally:
            self._consoles.discard(queue)


async def _no_listeners() -> dict[str, int]:
    return {}


def _merge(booth: Booth, doc: dict[str, Any]) -> Booth:
    """``booth`` with the live state of ``doc``; the configured membership is kept."""
    stored = Booth.from_dict({**doc, "id": booth.id, "channel": booth.channel})
    return replace(
        stored,
        interpreters=booth.interpreters,
        relays=booth.relays,
        live=stored.live if stored.live in booth.interpreters else None,
        listening=stored.listening if stored.listening in ("floor", *booth.relays) else "floor",
    )


# ------------------------------------------------------------------ the routes
DESK = web.AppKey("booth_desk", BoothDesk)
BOOTH_TOKENS = web.AppKey("booth_tokens", Tokens)


def install(
    app: web.Application,
    bus: Bus,
    tokens: Tokens,
    config: EventConfig,
    listeners: Listeners,
    web_dir: Any,
) -> None:
    """Add the desk, its task and its routes to ``app`` (when the event has booths)."""
    if not config.booths:
        return
    desk = BoothDesk(config, bus)
    app[DESK] = desk
    app[BOOTH_TOKENS] = tokens
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


def _glossary(config: EventConfig) -> list[dict[str, str]]:
    """The event's glossary as ``{"ko", "en", "note"}`` rows, for the term prompter."""
    try:
        found = load_event_glossary(config)
    except ConfigError as exc:
        log.warning("the term prompter has no glossary: %s", exc)
        return []
    return [{"ko": t.ko, "en": t.en, "note": t.note} for t in found.terms]


async def post_action(request: web.Request) -> web.Response:
    """One action by the token's interpreter: 200 with the event, 409 with the reason."""
    desk = request.app[DESK]
    interpreter = request.app[BOOTH_TOKENS].interpreter_for(request_token(request))
    if interpreter is None:
        if request_token(request) is None:
            raise refuse(web.HTTPUnauthorized, "token_required", "an interpreter token is required")
        raise refuse(web.HTTPForbidden, "token_refused", "this token is not an interpreter's")
    try:
        body = await request.json()
        action, arg = str(body["action"]), str(body.get("arg", ""))
    except (ValueError, KeyError, TypeError):
        raise refuse(
            web.HTTPBadRequest, "bad_message", 'send {"action": ..., "arg": ...} as JSON'
        ) from None
    try:
        event = await desk.act(interpreter, action, arg)
    except Refused as refused:
        raise refuse(web.HTTPConflict, "refused", refused.reason) from None
    booth = desk.booths[desk.booth_of[interpreter]]
    return web.json_response({"event": event.to_dict(), "booth": booth.to_dict()})


async def admin_booths(request: web.Request) -> web.Response:
    """Organizers: every booth, the channels, the floor and the event log."""
    require_organizer(request, request.app[BOOTH_TOKENS])
    return web.json_response(request.app[DESK].snapshot())


async def console_socket(request: web.Request) -> web.WebSocketResponse:
    """The interpreter console: log in with a token, then act on one's own booth."""
    desk = request.app[DESK]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_CONSOLE_MESSAGE)
    await ws.prepare(request)
    interpreter = await socket_login(ws, request.app[BOOTH_TOKENS])
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
    except ValueError:
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


async def _send_loop(
    ws: web.WebSocketResponse, queue: asyncio.Queue[str], listeners: Listeners
) -> None:
    last: dict[str, int] | None = None
    while not ws.closed:
        try:
            async with asyncio.timeout(LISTENERS_EVERY):
                text = await queue.get()
            await ws.send_str(text)
        except TimeoutError:
            now = await listeners()
            if now != last:
                last = now
                await ws.send_json({"type": "listeners", "channels": now})
        except ConnectionError:
            return
