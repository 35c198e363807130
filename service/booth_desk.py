"""The booth desk: every booth's state, one truth for every service replica.

``BoothDesk`` applies interpreters' actions to the booths (``companion.booths``) and
publishes the desk on the bus, as public state documents that every viewer receives:

    booth:<id>      the booth (who is live, muted, listening to, pending handover …)
    channel:<id>    what the channel carries now (``Carriage``, derived by ``route``)
    floor           the floor's language: {"lang", "at", "by"} ("by": "detected" when
                    the floor captioner heard it, or an interpreter's id)

and each change as a numbered event (``n``) in the log (``boothlog``, the last
``PUBLISHED_LOG`` of ``service/desk_state.py``; organizers read a replica's copy, the
last ``LOG_SIZE``, at ``GET /api/admin/booths``). Every change is also appended to
the event's journal, ``booth-log.jsonl`` in its archive directory, which nothing
truncates: the log's window cannot be used to wipe the record. An action that changes
nothing (a "listen floor" while listening to the floor) is neither logged nor
published, and each interpreter's actions are rate-limited (``ACTIONS_PER_SECOND``,
``ACTION_BURST``, per replica).

**One desk, however many replicas.** Every change is a transaction on the bus
(``_transact``): read the desk's documents with their versions, decide with the pure
functions (``apply``, ``expire``, ``route``), and store what changed (the booth, the
channels derived from it, the log with the change's event) with ``Bus.set_state_if``,
which stores nothing if any of those documents moved meanwhile; then read again and
decide again (``TRIES`` times at most). The outcome is that of the actions made one at
a time in one place: one interpreter live per booth at most, a handover asked for on
one replica accepted on another, an unanswered request expired once. Refusals, too,
are decided on the stored desk, never on a replica's copy. Only the replica whose
transaction stored a change journals it, so each event is in the journal and the log
once; a transaction's documents are announced together, so every replica's viewers
and consoles see the same changes in the same order. Within a replica a lock keeps its
own consoles' actions in turn, and keeps the follower from taking a change while a
transaction waits for its read (see ``follow``).

Each replica keeps a copy for its consoles and the ear-voice span (``booths``,
``carriages``, ``floor``, ``log``), taken from what its transactions read and stored
and from what it follows on the bus, never older than what it holds (the documents'
versions say). When the floor captioner detects a new floor language (a plain
``set_state`` of ``floor``), every replica follows it and re-derives the channels in a
transaction, so one of them stores them. The desk also follows the channels' final
captions for the ear-voice span (``companion.evs``). The routes and the console's
socket are in ``service/booths.py``.
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
from typing import Any, TypeVar

from companion.booths import BoothEvent, Carriage, apply, expire, route
from companion.bus.base import Bus, StateEntry
from companion.captions import CaptionEvent
from companion.config import EventConfig
from companion.errors import BusUnavailableError, ConfigError, Refused
from companion.evs import AnchorFinder, SpanTracker
from companion.glossary import load_event_glossary
from companion.transcripts.archive import archive_root
from service.desk_state import (
    Draft,
    bare,
    booths_from_config,
    desk_keys,
    documents,
    expire_request,
    logged_event,
    merge_booth,
    no_change,
)
from service.protocol import FloodGuard

log = logging.getLogger(__name__)

LOG_SIZE = 500
ACTIONS_PER_SECOND = 2.0  # an interpreter's actions on average …
ACTION_BURST = 10  # … and at once (a handover is three or four)
TRIES = 10  # transactions that found the desk changed under them, before "try again"
JOURNAL = "booth-log.jsonl"
BEHIND = "\x00behind"  # in a console's queue: it fell behind and must reconnect
EXPIRE_CHECK_SECONDS = 5.0

Listeners = Callable[[], Awaitable[dict[str, int]]]  # viewers per channel, every replica
T = TypeVar("T")


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
        self.carriages = route(self.channels, self.booths, str(self.floor["lang"]))
        self.keys = desk_keys(self.booths, self.channels)
        self._versions: dict[str, int] = {}  # of the documents this copy was taken from
        self._followed: dict[str, int] = {}  # the last version the follower brought
        self._logged = 0  # ``n`` of the last event in ``log``
        self._fresh: dict[str, BoothEvent] = {}  # booth -> the event its next document tells
        self._retry = False  # a transaction an outage interrupted: ``upkeep`` tries again
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

    # ---------------------------------------------------------------- actions
    async def start(self) -> None:
        """Take the desk the bus holds (another replica's); store what it lacks."""
        await self._settle(no_change)

    async def demo_live(self) -> None:
        """The demo (``serve --demo``): each booth that has a source and nobody live gets
        its first interpreter live, so its channel carries its recording."""
        for booth_id, interpreter in self._demo.items():
            if self.booths[booth_id].live is None:
                with contextlib.suppress(Refused):  # another replica's demo was first
                    await self.act(interpreter, "go_live")

    async def act(self, interpreter: str, action: str, arg: str = "") -> BoothEvent:
        """``interpreter`` does ``action`` on their own booth; raises ``Refused``, or
        ``BusUnavailableError`` when the bus cannot answer."""
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
            return await self._set_floor(interpreter, booth_id, arg, now)

        def change(draft: Draft) -> BoothEvent | Refused:
            expire_request(draft, booth_id, now)
            before = draft.booths[booth_id]
            try:
                new, event = apply(before, action, interpreter, now, arg)
            except Refused as refused:
                if draft.events:
                    return refused  # said once the expiry before it is stored
                raise
            if new != before:
                draft.booths[booth_id] = new
                draft.events.append(event)
            return event

        async with self._lock:
            outcome = await self._transact(change)
        if isinstance(outcome, Refused):
            raise outcome
        return outcome

    async def _set_floor(
        self, interpreter: str, booth_id: str, lang: str, now: float
    ) -> BoothEvent:
        """The live interpreter says what the floor speaks (until the next detection)."""
        if lang not in self.floor_languages:
            raise Refused(f"the floor speaks one of {', '.join(self.floor_languages)}")
        event = BoothEvent(now, booth_id, "floor", interpreter, lang)

        def change(draft: Draft) -> BoothEvent:
            if draft.booths[booth_id].live != interpreter:
                raise Refused("only a live interpreter can set the floor's language")
            if draft.floor.get("lang") != lang or draft.floor.get("by") != interpreter:
                draft.floor = {"lang": lang, "at": now, "by": interpreter}
                draft.events.append(event)
            return event  # said already: nothing to log or tell

        async with self._lock:
            return await self._transact(change)

    async def expire_requests(self) -> None:
        """Every few seconds, forever: ``upkeep``."""
        while True:
            await asyncio.sleep(EXPIRE_CHECK_SECONDS)
            await self.upkeep()

    async def upkeep(self) -> None:
        """Drop the handover requests nobody answered, and finish a transaction an outage
        interrupted. On every replica: the first to store an expiry logs it."""
        now = self.clock()
        if self._retry or any(expire(b, now) for b in self.booths.values()):

            def change(draft: Draft) -> None:
                for booth_id in draft.booths:
                    expire_request(draft, booth_id, now)

            await self._settle(change)

    async def _settle(self, change: Callable[[Draft], None]) -> None:
        """``_transact(change)`` for the desk's own upkeep: when the bus cannot answer,
        say so and leave it to the next ``upkeep``."""
        try:
            async with self._lock:
                await self._transact(change)
        except (BusUnavailableError, Refused) as exc:
            log.warning("the booth desk will try again: %s", exc)
            self._retry = True
        else:
            self._retry = False

    # ------------------------------------------------------------ transactions
    async def _transact(self, change: Callable[[Draft], T]) -> T:
        """Read the desk from the bus, let ``change`` decide, store what changed if no
        document moved meanwhile (else all again, ``TRIES`` times): the one way the
        desk changes. ``change`` may raise ``Refused``: nothing is stored."""
        for _ in range(TRIES):
            entries = await self.bus.get_state_entries(self.keys)
            self._take_entries(entries)
            draft = Draft(dict(self.booths), dict(self.floor))
            outcome = change(draft)
            read = {key: entry.value for key, entry in entries.items()}
            values = documents(read, draft, self.channels)
            if not values:
                return outcome
            versions = {key: entry.version for key, entry in entries.items()}
            stored = await self.bus.set_state_if(versions, values)
            if stored is None:
                continue  # another replica changed the desk first: decide again
            logged = stored["boothlog"]["events"][-len(draft.events) :] if draft.events else []
            for doc in logged:
                log.info(
                    "booth %s: %s by %s %s", doc["booth"], doc["action"], doc["by"], doc["detail"]
                )
                await self._journal(doc)
            for key, doc in stored.items():
                self._take(key, doc, doc["version"])
            return outcome
        raise Refused("the booth desk is busy: try again")

    def _take_entries(self, entries: dict[str, StateEntry]) -> None:
        """Take what a transaction read: the desk as stored now."""
        for key, entry in entries.items():
            if entry.version < self._versions.get(key, 0):
                self._forget(key)  # Redis came back without its data: what it has counts
            if entry.value is not None:
                self._take(key, entry.value, entry.version)

    def _forget(self, key: str) -> None:
        """Redis lost the desk's data: versions start again, and so does the log."""
        self._versions.pop(key, None)
        self._followed.pop(key, None)  # seen once, by the transaction or the follower
        if key == "boothlog":
            self._logged = 0

    async def _journal(self, doc: dict[str, Any]) -> None:
        """Append one logged event to the journal; a disk fault is logged, never raised."""
        line = json.dumps(doc, ensure_ascii=False) + "\n"

        def append() -> None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with self.journal.open("a", encoding="utf-8") as f:
                f.write(line)

        try:
            await asyncio.to_thread(append)
        except OSError as exc:
            log.error("cannot append to the booth journal %s: %s", self.journal, exc)

    # ----------------------------------------------------------- the copy
    async def follow(self) -> None:
        """Take the changes other replicas and the floor captioner make; forever."""
        keys = set(self.keys)
        async for key, value in self.bus.state_changes():
            if key not in keys:
                continue
            # Never while a transaction waits for its read: a change taken meanwhile
            # would make that read older than the copy, which ``_take_entries`` takes
            # for Redis having lost its data (and the log took its events again).
            async with self._lock:
                version = value.get("version")
                if not isinstance(version, int):
                    version = None  # a plain ``set_state``: the floor captioner's
                elif version < self._followed.get(key, 0):
                    self._forget(key)  # Redis came back without its data
                if version is not None:
                    self._followed[key] = version
                taken = self._take(key, value, version)
            if taken and key == "floor" and version is None:
                await self._settle(no_change)  # the channels follow the detected floor

    def _take(self, key: str, doc: dict[str, Any], version: int | None) -> bool:
        """Take one document into this replica's copy unless it holds a newer one
        (``version`` None: no way to tell, take it); tell the consoles. True if taken."""
        if version is not None:
            if version <= self._versions.get(key, 0):
                return False
            self._versions[key] = version
        try:
            if key == "boothlog":
                self._take_log(doc)
            elif key == "floor":
                self._take_floor(doc)
            elif key.startswith("booth:"):
                self._take_booth(key.removeprefix("booth:"), doc)
            else:
                self.carriages[key.removeprefix("channel:")] = Carriage.from_dict(doc)
                channels = {k: c.to_dict() for k, c in self.carriages.items()}
                self._tell({"type": "channels", "channels": channels})
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            log.warning("ignoring a malformed %s document: %r", key, exc)
            return False
        return True

    def _take_log(self, doc: dict[str, Any]) -> None:
        fresh: dict[str, BoothEvent] = {}
        for entry in doc["events"]:
            if int(entry["n"]) > self._logged:
                event = logged_event(entry)
                self.log.append(event)
                self._logged = int(entry["n"])
                if event.action != "floor":
                    fresh[event.booth] = event
        self._fresh = fresh

    def _take_floor(self, doc: dict[str, Any]) -> None:
        floor = bare(doc)
        if not isinstance(floor, dict) or not floor.get("lang"):
            raise ValueError("no language")
        if floor != self.floor:
            self.floor = floor
            log.info("the floor now speaks %s (%s)", floor["lang"], floor.get("by", "?"))
            self._tell({"type": "floor", "floor": floor})

    def _take_booth(self, booth_id: str, doc: dict[str, Any]) -> None:
        booth = merge_booth(self.booths[booth_id], doc)
        event = self._fresh.pop(booth_id, None)
        if booth != self.booths[booth_id]:
            self.booths[booth_id] = booth
            told = event.to_dict() if event is not None else None
            self._tell({"type": "booth", "booth": booth.to_dict(), "event": told})

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


def _glossary(config: EventConfig) -> list[dict[str, str]]:
    """The event's glossary as ``{"ko", "en", "note"}`` rows, for the term prompter."""
    try:
        found = load_event_glossary(config)
    except ConfigError as exc:
        log.warning("the term prompter has no glossary: %s", exc)
        return []
    return [{"ko": t.ko, "en": t.en, "note": t.note} for t in found.terms]
