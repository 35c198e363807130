"""Viewer connections and the fan-out of caption events to them.

* ``Viewer``: one websocket, one bounded queue of encoded messages and one sender task
  that writes them in order. Whoever has a message for the viewer ``offer``s it (never
  waits); only the viewer's own task ``put``s (waits for room, for its own backlog).
* ``ChannelHub``: the viewers of one channel and the ONE task that follows the channel
  on the bus. Each event is encoded once and offered to every viewer; a viewer whose
  queue is full is dropped with close code 4000 ("slow: reconnect and resume"), so one
  slow viewer never holds up the rest.
* ``Fanout``: every viewer, a hub per channel, the state-change follower, and
  ``subscribe``, which hands a viewer its backlog and then joins it to the hub.

No gap, no duplicate: each viewer remembers the last ``seq`` it was given
(``last_seq``) and is only offered events past it. ``subscribe`` sends the backlog
(``bus.read`` after the resume point, or ``bus.recent_finals`` for a new viewer), reads
on until it has reached the hub's ``last_seq``, and joins the hub with no ``await``
between that check and the join; an event the hub fans out later is past both.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from companion.bus.base import Bus
from companion.captions import CaptionEvent
from service.captioners import is_public
from service.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_SLOW,
    caption_message,
    gap_message,
    state_message,
    subscribed_message,
    text_frame,
)

log = logging.getLogger(__name__)

CATCH_UP_BATCH = 500
RETRY_SECONDS = 1.0
DIRECT_WRITE_LIMIT = 64 * 1024  # bytes a transport may hold before we queue instead


class Viewer:
    """One viewer's socket, its bounded queue of encoded messages and its sender task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        queue_limit: int,
        close_timeout: float,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self._ws = ws
        self._transport = transport
        # ``None`` in the queue tells the sender to stop after what is before it.
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_limit)
        self._close_timeout = close_timeout
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.channel: str | None = None
        self.last_seq = 0
        self.close_code: int | None = None
        self._sending = False  # the sender task is inside send_str

    @property
    def closing(self) -> bool:
        """True once the viewer is being closed; nothing more is queued for it."""
        return self.close_code is not None

    def start(self) -> None:
        """Start the sender task."""
        self._sender = asyncio.create_task(self._send_loop(), name="viewer-sender")

    def offer(self, text: str, frame: bytes | None = None) -> bool:
        """Send or queue ``text`` without waiting; False if the queue is full (slow viewer).

        With ``frame`` (the same message as a ready websocket frame), an idle viewer
        (nothing queued, nothing being sent, little in its transport's buffer) gets
        the bytes written straight to its transport: no task switch, no copy.
        """
        if self.closing:
            return True
        t = self._transport
        if (
            frame is not None
            and t is not None
            and not self._sending
            and self._queue.empty()
            and not t.is_closing()
            and t.get_write_buffer_size() < DIRECT_WRITE_LIMIT
        ):
            t.write(frame)
            return True
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    async def put(self, text: str) -> None:
        """Queue ``text``, waiting for room; only for the viewer's own task."""
        if not self.closing:
            await self._queue.put(text)

    async def drained(self) -> None:
        """Wait until everything queued so far has been handed to the socket."""
        await self._queue.join()

    def drop(self, code: int, reason: str, *, flush: bool = False) -> None:
        """Start closing with ``code``; with ``flush``, send what is queued first. Idempotent."""
        if self.closing:
            return
        self.close_code = code
        self._closer = asyncio.create_task(self._close(code, reason, flush), name="viewer-closer")

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and wait until the socket is closed (or cut)."""
        self.drop(code, reason)
        if self._closer is not None:
            await asyncio.wait([self._closer])

    async def finish(self) -> None:
        """The connection is over: stop the sender and wait for a close in progress."""
        if self.close_code is None:
            self.close_code = CLOSE_GOING_AWAY
        if self._closer is not None:
            await asyncio.wait([self._closer])  # it may be flushing the queue first
        await self._stop_sender()

    async def _send_loop(self) -> None:
        try:
            while True:
                text = await self._queue.get()
                try:
                    if text is None:
                        return
                    self._sending = True
                    await self._ws.send_str(text)
                finally:
                    self._sending = False
                    self._queue.task_done()
        except ConnectionError:
            # The viewer has gone; its handler sees the socket close and cleans up.
            if self.close_code is None:
                self.close_code = CLOSE_GOING_AWAY
            self._discard_queued()

    async def _stop_sender(self) -> None:
        sender = self._sender
        if sender is not None and not sender.done():
            sender.cancel()
        self._discard_queued()
        if sender is not None:
            await asyncio.wait([sender])
            if not sender.cancelled() and sender.exception() is not None:
                log.error("a viewer's sender failed", exc_info=sender.exception())

    def _discard_queued(self) -> None:
        # Emptying the queue also wakes a ``put`` waiting for room, so it cannot hang.
        while True:
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._queue.task_done()

    async def _close(self, code: int, reason: str, flush: bool) -> None:
        # The sender finishes the frame it is writing and stops: cancelling it inside
        # aiohttp's drain would leave the connection unable to send the close frame.
        if not flush:
            self._discard_queued()
        sender = self._sender
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._queue.put(None)
                if sender is not None:
                    await asyncio.wait([sender])
        except TimeoutError:
            # The viewer stopped reading altogether: cut the connection.
            log.info("a viewer stopped reading; connection cut")
            await self._stop_sender()
            if self._transport is not None:
                self._transport.abort()
            return
        await self._stop_sender()
        try:
            # On timeout aiohttp cuts the transport, so a viewer that stopped reading
            # cannot keep the close (or the shutdown) waiting.
            await asyncio.wait_for(
                self._ws.close(code=code, message=reason.encode()), self._close_timeout
            )
        except TimeoutError:
            log.info("a viewer did not complete the close handshake; connection cut")
        except ConnectionError:
            pass


def drop_slow(viewer: Viewer, metrics: FanoutMetrics) -> None:
    """Close a viewer whose queue is full with 4000, and count it."""
    viewer.drop(CLOSE_SLOW, "slow: reconnect and resume")
    metrics.slow_dropped.labels(viewer.channel or "").inc()
    log.info("dropped a slow viewer of channel %s at seq %d", viewer.channel, viewer.last_seq)


class FanoutMetrics:
    """The fan-out's figures, registered on the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.viewers = Gauge(
            "companion_viewers", "Viewers connected, per channel.", ["channel"], registry=registry
        )
        self.relayed = Counter(
            "companion_captions_relayed",
            "Caption events fanned out to viewers, per channel.",
            ["channel"],
            registry=registry,
        )
        self.slow_dropped = Counter(
            "companion_slow_viewers_dropped",
            "Viewers dropped because their queue was full (close 4000), per channel.",
            ["channel"],
            registry=registry,
        )
        self.gaps = Counter(
            "companion_resume_gaps",
            "Resumes that skipped captions the bus no longer held, per channel.",
            ["channel"],
            registry=registry,
        )


class ChannelHub:
    """The viewers of one channel and the one task that follows the channel on the bus.

    It keeps what joining viewers need in memory, so that a crowd joining at once (or
    reconnecting after a restart) costs the bus nothing: the channel's last ``finals``
    final captions (what a new viewer is sent first) and its last ``events`` events
    (what a resuming viewer missed, when it is that recent).
    """

    def __init__(
        self, channel: str, bus: Bus, metrics: FanoutMetrics, finals: int = 20, events: int = 1000
    ) -> None:
        self.channel = channel
        self.viewers: set[Viewer] = set()
        self.last_seq = 0
        self.ready = asyncio.Event()
        self.recent_finals: deque[CaptionEvent] = deque(maxlen=max(finals, 1))
        self.recent: deque[CaptionEvent] = deque(maxlen=max(events, 1))
        self.partial: CaptionEvent | None = None  # the current partial, until a final
        # called with each event as it is fanned out (the segment writer's ear)
        self.listeners: list[Callable[[CaptionEvent], None]] = []
        self._bus = bus
        self._metrics = metrics

    async def run(self) -> None:
        """Follow the channel until the bus closes; retry after an error."""
        while True:
            try:
                if not self.ready.is_set():
                    self.last_seq = await self._tail()
                    self.ready.set()
                async for event in self._bus.follow(self.channel, after=self.last_seq):
                    self.fan_out(event)
                return
            except Exception:
                log.exception(
                    "following channel %s failed; retrying in %.0f s", self.channel, RETRY_SECONDS
                )
                await asyncio.sleep(RETRY_SECONDS)

    async def _tail(self) -> int:
        # Start at the last final: only the partials after it are followed again. The
        # finals before it are kept for new viewers (one read of the bus, not one each).
        finals = await self._bus.recent_finals(self.channel, self.recent_finals.maxlen or 1)
        self.recent_finals.extend(finals)
        return finals[-1].seq if finals else 0

    def missed(self, after: int) -> list[CaptionEvent] | None:
        """The events after ``after`` up to now, if they are all still in memory."""
        if after >= self.last_seq:
            return []
        if not self.recent or self.recent[0].seq > after + 1:
            return None  # older than what is kept: the bus has to say
        return [event for event in self.recent if event.seq > after]

    def fan_out(self, event: CaptionEvent) -> None:
        """Encode ``event`` once and offer it to every viewer past whose ``last_seq`` it is."""
        self.last_seq = event.seq
        self.recent.append(event)
        if event.final:
            self.recent_finals.append(event)
        self.partial = None if event.final else event
        for listener in self.listeners:
            listener(event)
        self._metrics.relayed.labels(self.channel).inc()
        if not self.viewers:
            return
        text = caption_message(event)
        frame = text_frame(text)
        slow: list[Viewer] = []
        for viewer in self.viewers:
            if viewer.closing or event.seq <= viewer.last_seq:
                continue
            if viewer.offer(text, frame):
                viewer.last_seq = event.seq
            else:
                slow.append(viewer)
        for viewer in slow:
            self.viewers.discard(viewer)
            drop_slow(viewer, self._metrics)


class Fanout:
    """Every viewer, a hub per channel and the follower of event-state changes."""

    def __init__(
        self,
        bus: Bus,
        channels: Iterable[str],
        backlog_finals: int,
        metrics: FanoutMetrics,
        resume_window: int = 1000,
    ) -> None:
        self._bus = bus
        self._backlog_finals = backlog_finals
        # a resume further back than this is not replayed: a gap, then the recent finals
        self._resume_window = resume_window
        self._public_state: dict[str, dict[str, Any]] | None = None  # see public_state
        self._metrics = metrics
        self.hubs = {
            channel: ChannelHub(channel, bus, metrics, backlog_finals, resume_window)
            for channel in channels
        }
        self.viewers: set[Viewer] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one follower task per channel and one for state changes."""
        for hub in self.hubs.values():
            self._tasks.append(asyncio.create_task(hub.run(), name=f"hub-{hub.channel}"))
        self._tasks.append(asyncio.create_task(self._follow_state(), name="state-follower"))

    async def stop(self) -> None:
        """Cancel the follower tasks and wait for them."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks.clear()

    async def close_all(self, code: int, reason: str) -> None:
        """Close every viewer with ``code``, from a snapshot of the set."""
        viewers = list(self.viewers)
        if viewers:
            await asyncio.gather(*(viewer.close(code, reason) for viewer in viewers))

    async def public_state(self) -> dict[str, dict[str, Any]]:
        """The public state documents a viewer is sent on ``hello``: read from the bus
        once, then kept up to date by the state follower, so a crowd saying hello at
        once costs the bus nothing."""
        if self._public_state is None:
            state = await self._bus.get_state()
            self._public_state = {k: v for k, v in state.items() if is_public(k)}
        return dict(self._public_state)

    def add(self, viewer: Viewer) -> None:
        """A viewer connected; it gets state changes once it has picked a channel."""
        self.viewers.add(viewer)

    def remove(self, viewer: Viewer) -> None:
        """A viewer disconnected."""
        self.viewers.discard(viewer)
        if viewer.channel in self.hubs:
            self.hubs[viewer.channel].viewers.discard(viewer)

    def drop_slow(self, viewer: Viewer) -> None:
        """Remove a viewer whose queue is full and close it with 4000."""
        self.remove(viewer)
        drop_slow(viewer, self._metrics)

    def listeners(self) -> dict[str, int]:
        """Viewers per channel that this process serves."""
        return {channel: len(hub.viewers) for channel, hub in self.hubs.items()}

    def ready(self) -> bool:
        """True once every hub is following its channel."""
        return bool(self._tasks) and all(hub.ready.is_set() for hub in self.hubs.values())

    def update_gauges(self) -> None:
        """Set the viewers gauge (called when metrics are scraped)."""
        for channel, count in self.listeners().items():
            self._metrics.viewers.labels(channel).set(count)

    async def subscribe(self, viewer: Viewer, channel: str, resume: int | None) -> None:
        """Move ``viewer`` to ``channel``: its backlog in order, then live events."""
        hub = self.hubs[channel]
        if viewer.channel in self.hubs:
            self.hubs[viewer.channel].viewers.discard(viewer)
        viewer.channel = channel
        await viewer.put(subscribed_message(channel, resume))
        await hub.ready.wait()
        if resume is not None and hub.last_seq - self._resume_window <= resume <= hub.last_seq:
            viewer.last_seq = resume
        else:
            # A new viewer, a resume point past anything this stream has held (the
            # stream restarted), or one further back than the resume window (what it
            # missed is not replayed, whatever the bus holds: a gap says so): the
            # recent finals, then live.
            start = hub.last_seq
            kept = list(hub.recent_finals)[-self._backlog_finals :] if self._backlog_finals else []
            recent = [event for event in kept if event.seq <= start]
            if resume is not None and resume < start - self._resume_window:
                viewer.last_seq = resume
                await self._gap(viewer, channel, recent[0].seq - 1 if recent else start, held=True)
            for event in recent:
                await viewer.put(caption_message(event))
            viewer.last_seq = start
        while not viewer.closing and viewer.channel == channel:
            if viewer.last_seq < hub.last_seq:
                await self._catch_up(viewer, hub)
                continue
            # Join only once the backlog is on the socket, so live events find room.
            await viewer.drained()
            if viewer.last_seq >= hub.last_seq and not viewer.closing:
                # No await between this check and the join: no event can slip between.
                hub.viewers.add(viewer)
                return

    async def _catch_up(self, viewer: Viewer, hub: ChannelHub) -> None:
        events = hub.missed(viewer.last_seq)  # from memory when it is that recent
        if events is None:
            events = await self._bus.read(hub.channel, after=viewer.last_seq, limit=CATCH_UP_BATCH)
        if not events:
            if viewer.last_seq < hub.last_seq:
                await self._gap(viewer, hub.channel, hub.last_seq)
            viewer.last_seq = max(viewer.last_seq, hub.last_seq)
            return
        if events[0].seq > viewer.last_seq + 1:
            await self._gap(viewer, hub.channel, events[0].seq - 1)
        for event in events:
            if event.seq > viewer.last_seq:
                await viewer.put(caption_message(event))
                viewer.last_seq = event.seq

    async def _gap(self, viewer: Viewer, channel: str, last: int, held: bool = False) -> None:
        """Tell ``viewer`` that captions after its ``last_seq`` up to ``last`` are gone
        (``held``: the bus still has them, but they are past the resume window)."""
        if not held:  # a viewer far behind is no news; a stream that lost events is
            log.warning(
                "channel %s no longer holds seq %d to %d; a resuming viewer skips them",
                channel,
                viewer.last_seq + 1,
                last,
            )
        self._metrics.gaps.labels(channel).inc()
        await viewer.put(gap_message(channel, viewer.last_seq + 1, last))

    async def _follow_state(self) -> None:
        while True:
            try:
                async for key, value in self._bus.state_changes():
                    if not is_public(key):
                        continue
                    if self._public_state is not None:
                        self._public_state[key] = value
                    text = state_message(key, value)
                    slow = [
                        viewer
                        for viewer in self.viewers
                        if viewer.channel is not None and not viewer.offer(text)
                    ]
                    for viewer in slow:
                        self.drop_slow(viewer)
                return
            except Exception:
                self._public_state = None  # changes may have been missed: read again
                log.exception("following state changes failed; retrying in %.0f s", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
