"""The Redis source: each channel's caption stream read through a consumer group.

The bus's streams (``companion/bus/redis.py``: one per channel, entry id ``<seq>-0``,
field ``data`` the event JSON, ``epoch`` the stream's life) are read with
``XREADGROUP`` by group ``archiver`` (one group per archive) and consumer
``archiver``. An entry is acknowledged (``XACK``) only after the archiver has written
it durably, so a killed archiver leaves it pending. At start the source creates the
groups (``XGROUP CREATE … 0 MKSTREAM``: a new group reads each stream from its
first entry), claims every entry still pending in the group (``XAUTOCLAIM``, in case
an earlier consumer had another name) and reads its own pending entries again
(``XREADGROUP … 0``) before it reads new ones (``>``). A pending entry that the
stream trimmed away comes back without fields: it is reported as lost.

Redis outages are waited out with backoff, and after each the source prepares again
(claims and re-reads what is pending) before it reads new entries: a read cut off by
the outage may have been carried out by Redis, its entries now pending for this
consumer though their reply never came. A group that vanished (Redis came back
empty) is created again and the new stream read from its start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from redis.exceptions import ResponseError

from companion.bus.redis_link import (
    BACKOFF_MIN,
    FOLLOW_BLOCK_MS,
    OUTAGE_ERRORS,
    RedisKeys,
    backoff,
    connect,
    decode_entry,
    jittered,
)
from workers.archiver.archiver import Delivery

log = logging.getLogger(__name__)

GROUP = "archiver"
CONSUMER = "archiver"
CLAIM_PAGE = 1000
NO_EPOCH = "redis"  # an entry written without an epoch field

Response = list[tuple[str, list[tuple[str, dict[str, str] | None]]]]


class RedisSource:
    """Delivers the caption streams of ``channels`` through a consumer group."""

    def __init__(
        self,
        url: str,
        namespace: str,
        channels: Sequence[str],
        group: str = GROUP,
        consumer: str = CONSUMER,
    ) -> None:
        keys = RedisKeys(namespace)
        self.streams = {keys.stream(c): c for c in channels}
        self.group = group
        self.consumer = consumer
        # An outage reaches this class at once; its own backoff deals with it.
        self._client = connect(url)
        self._pending: dict[str, str] = {}  # stream -> last pending id re-read (phase one)
        self._down = False
        self._delay = BACKOFF_MIN
        self._unprepared = True

    async def start(self, stored: Callable[[str, str], int]) -> None:
        """Create the groups and claim what is pending; waits out an outage."""

        async def nothing() -> None:
            pass

        while not await self._attempt(nothing):
            pass

    async def _prepare(self) -> None:
        for stream in self.streams:
            try:
                await self._client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            start = "0-0"
            while True:  # claim the whole group's pending entries for this consumer
                # (redis-py hands back only the ids with JUSTID: page from the last one)
                ids = await self._client.xautoclaim(
                    stream, self.group, self.consumer, 0, start, count=CLAIM_PAGE, justid=True
                )
                if len(ids) < CLAIM_PAGE:
                    break
                start = str(ids[-1])
        self._pending = dict.fromkeys(self.streams, "0")

    async def batch(self, limit: int) -> list[Delivery]:
        out: list[Delivery] = []

        async def read() -> None:
            if self._pending:
                wanted: dict[Any, Any] = dict(self._pending)
                response = await self._client.xreadgroup(
                    self.group, self.consumer, wanted, count=limit
                )
                replies = cast(Response, response or [])
                got = {stream for stream, entries in replies if entries}
                for stream in list(self._pending):
                    if stream not in got:
                        del self._pending[stream]  # this stream's pending list is done
            else:
                response = await self._client.xreadgroup(
                    self.group,
                    self.consumer,
                    dict.fromkeys(self.streams, ">"),
                    count=limit,
                    block=FOLLOW_BLOCK_MS,
                )
                replies = cast(Response, response or [])
            for stream, entries in replies:
                for entry_id, fields in entries:
                    out.append(self._delivery(stream, entry_id, fields))
                    if stream in self._pending:
                        self._pending[stream] = entry_id

        await self._attempt(read)
        return out

    def _delivery(self, stream: str, entry_id: str, fields: dict[str, str] | None) -> Delivery:
        channel = self.streams[stream]
        seq = int(entry_id.split("-", 1)[0])
        if not fields:  # trimmed from the stream while it was pending
            return Delivery(channel, seq, NO_EPOCH, None, entry_id)
        epoch = fields.get("epoch") or NO_EPOCH
        return Delivery(channel, seq, epoch, decode_entry(entry_id, fields), entry_id)

    async def ack(self, deliveries: list[Delivery]) -> None:
        by_stream: dict[str, list[str]] = {}
        names = {c: s for s, c in self.streams.items()}
        for d in deliveries:
            by_stream.setdefault(names[d.channel], []).append(d.token)

        async def send() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for stream, ids in by_stream.items():
                    pipe.xack(stream, self.group, *ids)
                await pipe.execute()

        while by_stream and not await self._attempt(send):
            pass  # unacknowledged entries stay pending: retry until Redis answers

    async def caught_up(self) -> bool:
        """Nothing pending, and the group has been handed each stream's last entry."""
        behind: list[str] = []

        async def check() -> None:
            for stream in self.streams:
                groups = await self._client.xinfo_groups(stream)
                mine = next((g for g in groups if g["name"] == self.group), None)
                if mine is None:
                    raise ResponseError("NOGROUP the archiver's group is gone")
                last = cast(list[Any], await self._client.xrevrange(stream, count=1))
                delivered = _seq(str(mine["last-delivered-id"]))
                if mine["pending"] or (last and _seq(str(last[0][0])) > delivered):
                    behind.append(stream)

        return not self._unprepared and await self._attempt(check) and not behind

    async def close(self) -> None:
        await self._client.aclose()

    async def _attempt(self, work: Callable[[], Any]) -> bool:
        """Run ``work`` once; on an outage or a lost group, wait (backoff) and say False."""
        try:
            if self._unprepared:
                await self._prepare()
                self._unprepared = False
            await work()
        except OUTAGE_ERRORS as exc:
            _still_cancelled()
            # A command cut off may have run all the same: an XREADGROUP whose reply
            # was lost has handed entries to this consumer that it never saw, and
            # reading ``>`` would never give them again. After an outage the source
            # prepares again, which reads its own pending entries first.
            self._unprepared = True
            if not self._down:
                log.warning("archiver: Redis is not answering (%s); retrying", exc)
            self._down = True
            await asyncio.sleep(jittered(self._delay))
            self._delay = backoff(self._delay)
            return False
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("archiver: consumer group gone (Redis restarted empty?); creating it")
            self._unprepared = True
            return False
        _still_cancelled()
        if self._down:
            log.info("archiver: Redis answers again")
        self._down = False
        self._delay = BACKOFF_MIN
        return True


def _seq(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _still_cancelled() -> None:
    """Raise ``CancelledError`` if this task was cancelled and the cancellation got lost.

    redis-py may turn a cancellation that lands in the middle of a command into a
    connection error (or swallow it): without this, an archiver told to stop would
    take that for an outage and go on for ever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
