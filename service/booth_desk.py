"""The booth desk: every booth's state in the service, shared through the bus.

``BoothDesk`` holds every booth's state (``companion.booths``), applies interpreters'
actions one at a time, and publishes on the bus, as public state documents that every
viewer receives:

    booth:<id>      the booth (who is live, muted, listening to, pending handover …)
    channel:<id>    what the channel carries now (``Carriage``)
    floor           the floor's language: {"lang", "at", "by"} ("by": "detected" when
                    the floor captioner heard it, or an interpreter's id)

and each change as an event in the log (``boothlog``, the last ``LOG_SIZE``; organizers
read it at ``GET /api/admin/booths``). Every change is also appended to the event's
journal, ``booth-log.jsonl`` in its archive directory, which nothing truncates: the
log's window cannot be used to wipe the record. An action that changes nothing (a
"listen floor" while listening to the floor) is neither logged nor published, and
each interpreter's actions are rate-limited (``ACTIONS_PER_SECOND``, ``ACTION_BURST``).
It also follows those documents on the bus, so a change made through another service
replica, or the floor captioner's detection, reaches this replica's consoles and
re-routes the channels, and it follows the channels' final captions for the ear-voice
span (``companion.evs``). The routes and
the console's socket are in ``service/booths.py``.
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

from companion.booths import Booth, BoothEvent, Carriage, apply, expire, route
from companion.bus.base import Bus
from companion.captions import CaptionEvent
from companion.config import EventConfig
from companion.errors import ConfigError, Refused
from companion.evs import AnchorFinder, SpanTracker
from companion.glossary import load_event_glossary
from companion.transcripts.archive import archive_root
from service.protocol import FloodGuard

log = logging.getLogger(__name__)

LOG_SIZE = 500
ACTIONS_PER_SECOND = 2.0  # an interpreter's actions on average …
ACTION_BURST = 10  # … and at once (a handover is three or four)
JOURNAL = "booth-log.jsonl"
BEHIND = "\x00behind"  # in a console's queue: it fell behind and must reconnect
EXPIRE_CHECK_SECONDS = 5.0

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
        self._guards: dict[str, FloodGuard] = {}  # per interpreter
        self.journal = archive_root(config) / config.event.id / JOURNAL
        # whom the demo puts live: each booth with a source, its first interpreter
        self._demo = {b.id: b.interpreters[0].id for b in config.booths if b.source}

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

    async def demo_live(self) -> None:
        """The demo (``serve --demo``): each booth that has a source and nobody live gets
        its first interpreter live, so its channel carries its recording."""
        for booth_id, interpreter in self._demo.items():
            if self.booths[booth_id].live is None:
                await self.act(interpreter, "go_live")

    async def act(self, interpreter: str, action: str, arg: str = "") -> BoothEvent:
        """``interpreter`` does ``action`` on their own booth; raises ``Refused``."""
        booth_id = self.booth_of.get(interpreter)
        if booth_id is None:
            raise Refused(f"{interpreter} has no booth")
        now = self.clock()
        guard = self._guards.setdefault(
            interpreter, FloodGuard(ACTIONS_PER_SECOND, ACTION_BURST, now)
        )
        if not guard.allow(now):
            raise Refused("too many actions at once: wait a moment")
        if action == "floor":
            return await self._set_floor(interpreter, booth_id, arg)
        async with self._lock:
            await self._expire(booth_id)
            before = self.booths[booth_id]
            new, event = apply(before, action, interpreter, self.clock(), arg)
            if new == before:
                return event  # nothing changed: nothing to log or tell
            self.booths[booth_id] = new
            self.log.append(event)
            await self._journal(event)
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
        await self._journal(event)
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
            if self.floor.get("lang") == lang and self.floor.get("by") == interpreter:
                return event  # said already: nothing to log or tell
            self.log.append(event)
            await self._journal(event)
            self.floor = {"lang": lang, "at": event.at, "by": interpreter}
            await self.bus.set_state("floor", self.floor)
            self._tell({"type": "floor", "floor": self.floor})
            await self._publish_routes()
        return event

    async def _journal(self, event: BoothEvent) -> None:
        """Append ``event`` to the journal; a disk fault is logged, never raised."""
        line = json.dumps(event.to_dict(), ensure_ascii=False) + "\n"

        def append() -> None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with self.journal.open("a", encoding="utf-8") as f:
                f.write(line)

        try:
            await asyncio.to_thread(append)
        except OSError as exc:
            log.error("cannot append to the booth journal %s: %s", self.journal, exc)

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
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                # A console this far behind would show a desk that is not: it is told
                # to reconnect (``BEHIND``), and gets the whole desk afresh.
                log.warning("a console fell %d messages behind: reconnecting it", queue.qsize())
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(BEHIND)

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


def _glossary(config: EventConfig) -> list[dict[str, str]]:
    """The event's glossary as ``{"ko", "en", "note"}`` rows, for the term prompter."""
    try:
        found = load_event_glossary(config)
    except ConfigError as exc:
        log.warning("the term prompter has no glossary: %s", exc)
        return []
    return [{"ko": t.ko, "en": t.en, "note": t.note} for t in found.terms]
