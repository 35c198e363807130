"""The shared bus: one Redis Stream per channel, event state in a Redis hash.

Keys, under a namespace (``companion`` by default)::

    {ns}:captions:{channel}   stream; entry id ``<seq>-0``, field ``data`` = event JSON
    {ns}:seq:{channel}        the channel's last seq (INCR)
    {ns}:state                hash: key -> {"version": n, "value": document}
    {ns}:state-version        the last state version (INCR)
    {ns}:state-changes        pub/sub channel: {"key": ..., "version": n, "value": ...}
                              (``set_state_if`` writes n into the value too, as
                              "version", in one Lua call that compares and stores)
    {ns}:counter:{name}       a shared counter (INCRBY), expiring after its last change
    {ns}:lease:{name}         a lease's holder, expiring (``claim``)
    {ns}:segment:{channel}:{n}        a caption segment, set once (SET NX EX)
    {ns}:segment-latest:{channel}     "<n> <document>", only ever moved forward
    {ns}:audio:{booth}        stream of a booth's microphone frames, a few seconds long

A Lua script numbers and appends an event in one step, so every publisher, in any
process, gets the channel's next seq and the stream id *is* the seq: ``read(after)``
is an ``XRANGE`` from ``after + 1`` and ``follow`` is a blocking ``XREAD`` from the
last id seen. The event JSON in the stream carries no trustworthy seq; the id does.

When Redis does not answer, ``publish`` never raises: the event waits in a bounded
in-memory buffer (past ``buffer_limit`` the oldest partial is dropped, else the oldest
final; counted, and logged once per 10 s) and a background flusher retries with
exponential backoff and jitter, draining the buffer in order once Redis is back. Each
event carries an id of its own from its first try, which the append script remembers
(``{ns}:appended:{channel}:{id}``, an hour): a retry after a timeout that came when
the append had already run gets the seq it was given, and the event is never in the
stream twice. New events queue behind buffered ones, so order holds.
State writes made while Redis is down wait too (the latest per key). ``follow`` and
``state_changes`` retry the same way and resume where they were.

If Redis comes back empty (no AOF or RDB), its history is gone but numbering goes
on: each publisher passes the highest seq it has written, and the script never
numbers below it. Each entry also carries its stream's *epoch* (a token set when
the stream is first written), so a follower that sees the epoch change after an
outage logs a warning and reads the new stream from its start. Keeping the history
itself across restarts needs Redis persistence.

Key names, outage errors, backoff and the Lua scripts are in ``redis_link.py``;
following the state is ``redis_state.py``; the booths' microphones (never buffered:
dropped and counted while Redis is down) are ``redis_audio.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

from companion.bus.base import BusHealth, StateEntry, check_transaction, stamped
from companion.bus.redis_audio import AudioStreams
from companion.bus.redis_link import (
    APPEND_LUA,
    APPEND_MEMORY,
    BACKOFF_MIN,
    CLAIM_LUA,
    FOLLOW_BLOCK_MS,
    OUTAGE_ERRORS,
    SET_LATEST_LUA,
    SET_STATE_IF_LUA,
    SET_STATE_LUA,
    Entries,
    RedisKeys,
    backoff,
    connect,
    decode_entry,
    jittered,
    raise_if_cancelled,
)
from companion.bus.redis_state import StateChanges, state_entries
from companion.captions import CaptionEvent
from companion.errors import BusUnavailableError

log = logging.getLogger(__name__)

RECENT_PAGE = 200
DROP_LOG_SECONDS = 10.0  # at most one warning this often while the buffer drops events
FOLLOW_POOL_SIZE = 32  # a follower per channel and one of the state, per bus, and room


class RedisBus:
    """Caption streams and event state shared through one Redis server."""

    def __init__(
        self,
        url: str,
        namespace: str = "companion",
        max_len: int = 100_000,
        buffer_limit: int = 10_000,
    ) -> None:
        if max_len < 1 or buffer_limit < 1:
            raise ValueError("max_len and buffer_limit must be at least 1")
        self.namespace = namespace
        self._keys = RedisKeys(namespace)
        self.max_len = max_len
        self.buffer_limit = buffer_limit
        # An outage reaches this class at once; its own backoff deals with it.
        self._client = connect(url)
        # The followers' blocking reads (XREAD BLOCK, the state stream) have connections
        # of their own: a crowd of viewers reading backlogs can never starve them.
        self._follow_client = connect(url, pool_size=FOLLOW_POOL_SIZE)
        self._append = self._client.register_script(APPEND_LUA)
        self._published: dict[str, int] = {}  # highest seq written, per channel
        self._set_state_script = self._client.register_script(SET_STATE_LUA)
        self._set_state_if_script = self._client.register_script(SET_STATE_IF_LUA)
        self._claim_script = self._client.register_script(CLAIM_LUA)
        self._set_latest_script = self._client.register_script(SET_LATEST_LUA)
        self._audio = AudioStreams(url, self._keys, self)  # binary, with its own connections
        # events waiting for Redis, each with the id that makes its append idempotent
        self._buffer: deque[tuple[CaptionEvent, str]] = deque()
        self._drop_logged = 0.0  # when a drop was last logged (one line per 10 s)
        self._sending: tuple[CaptionEvent, str] | None = None  # the head, while in flight
        self._pending_state: dict[str, dict[str, Any]] = {}
        self._known_state: dict[str, dict[str, Any]] = {}
        self._dropped = 0
        self._connected = False
        self._last_error = ""
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once ``close`` has begun; followers of this bus stop."""
        return self._closed

    # -- lifetime -----------------------------------------------------------------

    async def start(self) -> None:
        """Check the connection and start the flusher (idempotent; never raises on an outage)."""
        self._closed = False
        self._ensure_flusher()
        try:
            await self._client.ping()
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            log.warning("Redis is not answering at start (%s); buffering until it is", exc)
        else:
            self._mark_up()

    async def close(self) -> None:
        """Try once to flush the buffer, stop the flusher, close the client.

        Followers and ``state_changes`` iterators of this bus end soon after.
        """
        self._closed = True
        if self._connected:
            with contextlib.suppress(*OUTAGE_ERRORS):
                await self._flush_once()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._buffer or self._pending_state:
            log.warning(
                "closing the Redis bus with %d events and %d state documents not delivered",
                len(self._buffer),
                len(self._pending_state),
            )
        await self._audio.close()
        await self._client.aclose()
        await self._follow_client.aclose()

    def health(self) -> BusHealth:
        """Connection, buffer and drop counts as last seen, without I/O."""
        return BusHealth(
            backend="redis",
            connected=self._connected,
            buffered=len(self._buffer),
            dropped=self._dropped,
            last_error=self._last_error,
            audio_dropped=self._audio.dropped,
        )

    # -- captions -----------------------------------------------------------------

    async def publish(self, event: CaptionEvent) -> None:
        """Append ``event`` with the channel's next seq, or buffer it while Redis is down."""
        event_id = uuid.uuid4().hex  # the same on every try: Redis appends it once
        if self._buffer:  # keep order: nothing overtakes what is waiting
            self._enqueue(event, event_id)
            return
        try:
            await self._send(event, event_id)
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            self._enqueue(event, event_id)
        else:
            self._mark_up()

    async def read(self, channel: str, after: int, limit: int = 1000) -> list[CaptionEvent]:
        """Events of ``channel`` with ``seq > after``, oldest first, at most ``limit``.

        Raises ``BusUnavailableError`` while Redis is down.
        """
        if limit <= 0:
            return []
        start = f"{max(after, 0) + 1}-0"
        key = self._keys.stream(channel)
        try:
            entries = cast(Entries, await self._client.xrange(key, start, "+", count=limit))
        except OUTAGE_ERRORS as exc:
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return [decode_entry(entry_id, fields) for entry_id, fields in entries]

    async def recent_finals(self, channel: str, limit: int) -> list[CaptionEvent]:
        """The last ``limit`` final events still in the stream, oldest first.

        Raises ``BusUnavailableError`` while Redis is down.
        """
        try:
            return await self._recent_finals(channel, limit)
        except OUTAGE_ERRORS as exc:
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None

    async def _recent_finals(self, channel: str, limit: int) -> list[CaptionEvent]:
        finals: list[CaptionEvent] = []
        end = "+"
        while len(finals) < limit:
            page = cast(
                Entries,
                await self._client.xrevrange(
                    self._keys.stream(channel), end, "-", count=RECENT_PAGE
                ),
            )
            for entry_id, fields in page:
                event = decode_entry(entry_id, fields)
                if event.final:
                    finals.append(event)
                    if len(finals) == limit:
                        break
            if len(page) < RECENT_PAGE:
                break
            oldest = decode_entry(*page[-1]).seq
            if oldest <= 1:
                break
            end = f"{oldest - 1}-0"
        finals.reverse()
        return finals

    async def follow(self, channel: str, after: int) -> AsyncIterator[CaptionEvent]:
        """Every event of ``channel`` with ``seq > after``, then each new one, forever.

        Survives Redis restarts: it retries with backoff and resumes after the last
        seq it yielded, so it yields no duplicate. Cancel or ``aclose`` it to stop.
        """
        key = self._keys.stream(channel)
        last = max(after, 0)
        delay = BACKOFF_MIN
        epoch: str | None = None  # of the last entry yielded
        recovering = False
        while not self._closed:
            raise_if_cancelled()  # see there: redis-py may have lost a cancel
            try:
                if recovering and epoch is not None:
                    current = await self._follow_client.get(self._keys.epoch(channel))
                    if current != epoch:
                        log.warning(
                            "channel %r: Redis came back without its history (new epoch); "
                            "following the new stream from seq 0 (was at %d)",
                            channel,
                            last,
                        )
                        last, epoch = 0, None
                recovering = False
                response = cast(
                    list[tuple[str, Entries]] | None,
                    await self._follow_client.xread(
                        {key: f"{last}-0"}, count=1000, block=FOLLOW_BLOCK_MS
                    ),
                )
            except OUTAGE_ERRORS as exc:
                if self._closed:
                    return
                self.mark_down(exc)
                recovering = True
                await asyncio.sleep(jittered(delay))
                delay = backoff(delay)
                continue
            delay = BACKOFF_MIN
            for _stream, entries in response or ():
                for entry_id, fields in entries:
                    event = decode_entry(entry_id, fields)
                    if event.seq > last:
                        last, epoch = event.seq, fields.get("epoch")
                        yield event

    # -- microphones ---------------------------------------------------------------

    def publish_audio(self, booth: str, pcm: bytes) -> None:
        """Queue one frame for the booth's stream; dropped and counted if it cannot go."""
        self._audio.publish(booth, pcm)

    def follow_audio(self, booth: str) -> AsyncIterator[bytes]:
        """The booth's frames from Redis's "now" on (``AudioStreams.follow``)."""
        return self._audio.follow(booth)

    # -- state --------------------------------------------------------------------

    async def set_state(self, key: str, value: dict[str, Any]) -> None:
        """Store one state document and announce it; kept for later while Redis is down."""
        self._known_state[key] = value
        try:
            await self._send_state(key, value)
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            self._pending_state[key] = value
            self._wake.set()
            self._ensure_flusher()

    async def get_state(self) -> dict[str, dict[str, Any]]:
        """Every state document; while Redis is down, the last ones this process knew."""
        try:
            entries = await state_entries(self._client, self._keys)
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            return dict(self._known_state)
        state = {key: value for key, (_version, value) in entries.items()}
        state.update(self._pending_state)
        self._known_state = dict(state)
        return state

    async def delete_state(self, key: str) -> None:
        """Forget one state document (HDEL); best effort while Redis is down."""
        self._known_state.pop(key, None)
        self._pending_state.pop(key, None)
        try:
            await self._client.hdel(self._keys.state, key)
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)

    async def state_changes(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Each ``(key, value)`` stored, by any process, once this iterator has started.

        See ``StateChanges.follow``; stops when the bus is closed.
        """
        async for change in StateChanges(self._follow_client, self._keys, self).follow():
            yield change

    async def get_state_entries(self, keys: Sequence[str]) -> dict[str, StateEntry]:
        """One HMGET of the state hash; ``BusUnavailableError`` while Redis is down."""
        if not keys:
            return {}
        try:
            raw = cast(list[str | None], await self._client.hmget(self._keys.state, list(keys)))
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        entries = {key: StateEntry(0, None) for key in keys}
        for key, doc in zip(keys, raw, strict=True):
            if doc is not None:
                stored = json.loads(doc)
                entries[key] = StateEntry(int(stored["version"]), stored["value"])
        return entries

    async def set_state_if(
        self, expected: Mapping[str, int], values: Mapping[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]] | None:
        """One Lua call that compares the versions and stores (``SET_STATE_IF_LUA``);
        ``BusUnavailableError`` while Redis is down."""
        check_transaction(expected, values)
        args: list[str | int] = [len(expected)]
        for key, version in expected.items():
            args += [key, version]
        for key, value in values.items():
            body = {k: v for k, v in value.items() if k != "version"}
            text = json.dumps(body, ensure_ascii=False)  # from its first key on, below
            args += [key, json.dumps(key, ensure_ascii=False), "," + text[1:] if body else "}"]
        try:
            first = int(
                await self._set_state_if_script(
                    keys=[self._keys.state, self._keys.state_version, self._keys.changes],
                    args=args,
                )
            )
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        if first == 0:
            return None
        stored = {key: stamped(value, first + i) for i, (key, value) in enumerate(values.items())}
        for key, doc in stored.items():
            self._pending_state.pop(key, None)  # an older plain write must not land on it
            self._known_state[key] = doc
        return stored

    # -- counters -------------------------------------------------------------------

    async def add_to_counter(self, key: str, amount: int, ttl_seconds: float) -> int:
        """INCRBY and PEXPIRE in one transaction; ``BusUnavailableError`` while Redis is down."""
        name = self._keys.counter(key)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incrby(name, amount)
                pipe.pexpire(name, max(1, round(ttl_seconds * 1000)))
                total, _ = await pipe.execute()
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return int(total)

    async def claim(self, key: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``key`` for ``owner`` unless another holds it (one Lua call)."""
        try:
            held = await self._claim_script(
                keys=[self._keys.lease(key)], args=[owner, max(1, round(ttl_seconds * 1000))]
            )
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return bool(int(held))

    # -- segments -----------------------------------------------------------------

    async def put_segment(self, channel: str, n: int, doc: str, ttl_seconds: float) -> bool:
        """SET NX with an expiry: stored once, never overwritten."""
        key = self._keys.segment(channel, n)
        try:
            stored = await self._client.set(key, doc, nx=True, px=_ms(ttl_seconds))
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return bool(stored)

    async def get_segment(self, channel: str, n: int) -> str | None:
        """GET of the segment's key."""
        try:
            doc = await self._client.get(self._keys.segment(channel, n))
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return cast(str | None, doc)

    async def set_latest_segment(self, channel: str, n: int, doc: str, ttl_seconds: float) -> bool:
        """One Lua call that stores ``doc`` only if ``n`` is past the stored one's."""
        try:
            stored = await self._set_latest_script(
                keys=[self._keys.latest_segment(channel)], args=[n, doc, _ms(ttl_seconds)]
            )
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return bool(int(stored))

    async def get_latest_segment(self, channel: str) -> str | None:
        """The stored document without its ``<n> `` prefix."""
        try:
            stored = cast(str | None, await self._client.get(self._keys.latest_segment(channel)))
        except OUTAGE_ERRORS as exc:
            self.mark_down(exc)
            raise BusUnavailableError(f"Redis is unreachable ({type(exc).__name__})") from None
        return None if stored is None else stored.split(" ", 1)[1]

    # -- internals ----------------------------------------------------------------

    async def _send(self, event: CaptionEvent, event_id: str) -> int:
        seq = await self._append(
            keys=[
                self._keys.stream(event.channel),
                self._keys.seq(event.channel),
                self._keys.epoch(event.channel),
                self._keys.appended(event.channel, event_id),
            ],
            args=[
                event.to_json(),
                self.max_len,
                uuid.uuid4().hex,
                self._published.get(event.channel, 0),
                event_id,
                APPEND_MEMORY,
            ],
        )
        self._published[event.channel] = max(self._published.get(event.channel, 0), int(seq))
        return int(seq)

    async def _send_state(self, key: str, value: dict[str, Any]) -> None:
        await self._set_state_script(
            keys=[self._keys.state, self._keys.state_version, self._keys.changes],
            args=[json.dumps(key, ensure_ascii=False), json.dumps(value, ensure_ascii=False), key],
        )

    def _enqueue(self, event: CaptionEvent, event_id: str) -> None:
        """Buffer ``event``; when full, drop the oldest partial (a later final replaces
        it anyway), or the oldest final if only finals wait. One log line per 10 s."""
        if len(self._buffer) >= self.buffer_limit:
            # the head may be in flight (``_flush_once``): never drop it from under it
            first = 1 if self._sending is not None and self._buffer[0] is self._sending else 0
            drop = next(
                (i for i, (e, _) in enumerate(self._buffer) if i >= first and not e.final), None
            )
            if drop is None:
                drop = first if first < len(self._buffer) else 0
            dropped, _ = self._buffer[drop]
            del self._buffer[drop]
            self._dropped += 1
            now = time.monotonic()
            if now - self._drop_logged >= DROP_LOG_SECONDS:
                self._drop_logged = now
                log.warning(
                    "Redis bus buffer full (%d events): dropping the oldest partials, then "
                    "the oldest finals; %d dropped so far (last: a %s)",
                    self.buffer_limit,
                    self._dropped,
                    "final" if dropped.final else "partial",
                )
        self._buffer.append((event, event_id))
        self._wake.set()
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        if self._closed:
            return
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="redis-bus-flusher")

    async def _flush_once(self) -> None:
        """Deliver pending state, then the buffered events in order; raise on an outage."""
        while self._pending_state:
            key, value = next(iter(self._pending_state.items()))
            await self._send_state(key, value)
            if self._pending_state.get(key) is value:
                del self._pending_state[key]
        while self._buffer:
            head = self._buffer[0]  # stays queued while in flight, so nothing overtakes it
            self._sending = head
            try:
                await self._send(*head)
            finally:
                self._sending = None
            if self._buffer and self._buffer[0] is head:
                self._buffer.popleft()

    async def _flush_loop(self) -> None:
        """Drain the buffer when there is one; probe Redis while it is down."""
        delay = BACKOFF_MIN
        while True:
            raise_if_cancelled()  # see there: redis-py may have lost a cancel
            await self._wake.wait()
            try:
                if not self._buffer and not self._pending_state:
                    await self._client.ping()
                await self._flush_once()
            except OUTAGE_ERRORS as exc:
                self.mark_down(exc)
                await asyncio.sleep(jittered(delay))
                delay = backoff(delay)
                continue
            if self._buffer or self._pending_state:
                continue  # more arrived while flushing
            self._mark_up()
            delay = BACKOFF_MIN
            self._wake.clear()

    def mark_down(self, exc: BaseException) -> None:
        if self._connected or not self._last_error:
            log.warning("Redis bus lost its connection: %s", exc)
        self._connected = False
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._wake.set()
        self._ensure_flusher()

    def _mark_up(self) -> None:
        if not self._connected and self._last_error:
            log.info("Redis bus connected again")
        self._connected = True


def _ms(seconds: float) -> int:
    """A TTL in whole milliseconds, at least 1 (Redis refuses 0)."""
    return max(1, round(seconds * 1000))
