"""Following the event state kept in Redis: pub/sub announcements, checked every second.

``RedisBus.state_changes`` hands out a ``StateChanges``; see ``follow`` for how it
misses nothing across a Redis restart or a pub/sub reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol, cast

import redis.asyncio as aioredis

from companion.bus.redis_link import (
    BACKOFF_MIN,
    OUTAGE_ERRORS,
    RedisKeys,
    backoff,
    jittered,
    raise_if_cancelled,
)

RECONCILE_S = 1.0  # how often ``follow`` compares the state hash with what it yielded


class Link(Protocol):
    """What ``StateChanges`` needs from the bus it belongs to."""

    @property
    def closed(self) -> bool: ...

    def mark_down(self, exc: BaseException) -> None: ...


async def state_entries(
    client: aioredis.Redis, keys: RedisKeys
) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every state document with its version: ``key -> (version, value)``."""
    raw = cast(dict[str, str], await client.hgetall(keys.state))
    entries = {key: json.loads(doc) for key, doc in raw.items()}
    return {key: (doc["version"], doc["value"]) for key, doc in entries.items()}


class StateChanges:
    """Each state document stored by any process, from the moment ``follow`` starts."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, link: Link) -> None:
        self._client = client
        self._keys = keys
        self._link = link

    async def follow(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Each ``(key, value)`` stored, by any process, once this iterator has started.

        Changes arrive by pub/sub, read by a task of the iterator's own. Every second
        the iterator also reads the state hash and yields each document whose
        version differs from the one it last yielded, so nothing is missed across a
        Redis restart or a pub/sub reconnect, and a stale message (a version older
        than one already yielded) is skipped. Stops when the bus is closed.

        Pub/sub brings changes in the order they were made, the same to every
        follower; the hash only says where each document is now. So a document the
        hash shows ahead of pub/sub is yielded from the hash only once pub/sub cannot
        still bring it: pub/sub has brought a later version (messages come in order,
        so the one for it was lost), or the hash showed the same version a second
        earlier too. Those found together are yielded oldest first.
        """
        # "Now" is the first snapshot of the versions; what changes after it is yielded,
        # whether pub/sub announces it or the next reconciliation finds it.
        versions: dict[str, int] = {}
        while not self._link.closed:
            raise_if_cancelled()  # see there: redis-py may have lost a cancel
            try:
                versions = {
                    k: v for k, (v, _) in (await state_entries(self._client, self._keys)).items()
                }
                break
            except OUTAGE_ERRORS as exc:
                self._link.mark_down(exc)
                await asyncio.sleep(BACKOFF_MIN)
        heard = 0  # the latest version pub/sub has brought
        ahead: dict[str, int] = {}  # what the last check found ahead of pub/sub
        raise_if_cancelled()  # a snapshot may have lost one
        messages: asyncio.Queue[tuple[str, int, dict[str, Any]]] = asyncio.Queue()
        reader = asyncio.create_task(self._read_changes(messages))
        try:
            loop = asyncio.get_running_loop()
            next_check = loop.time() + RECONCILE_S
            while not self._link.closed:
                raise_if_cancelled()  # see there: redis-py may have lost a cancel
                try:
                    async with asyncio.timeout_at(next_check):
                        key, version, value = await messages.get()
                except TimeoutError:
                    next_check = loop.time() + RECONCILE_S
                    try:
                        entries = await state_entries(self._client, self._keys)
                    except OUTAGE_ERRORS as exc:
                        self._link.mark_down(exc)
                        continue
                    found = sorted(
                        ((version, key, value) for key, (version, value) in entries.items()),
                        key=lambda entry: entry[0],
                    )
                    late = [entry for entry in found if versions.get(entry[1]) != entry[0]]
                    for version, key, value in late:
                        if version <= heard or ahead.get(key) == version:
                            versions[key] = version
                            yield key, value
                    ahead = {key: v for v, key, _ in late if versions.get(key) != v}
                    continue
                heard = max(heard, version)
                if version > versions.get(key, 0):
                    versions[key] = version
                    yield key, value
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read_changes(
        self,
        messages: asyncio.Queue[tuple[str, int, dict[str, Any]]],
    ) -> None:
        """Put each announced change on ``messages``; subscribe again after an outage.

        What pub/sub misses meanwhile, the reconciliation in ``state_changes`` finds.
        """
        delay = BACKOFF_MIN
        while not self._link.closed:
            raise_if_cancelled()  # see there: redis-py may have lost a cancel
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys.changes)
                delay = BACKOFF_MIN
                while not self._link.closed:
                    raise_if_cancelled()  # see there: redis-py may have lost a cancel
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        change = json.loads(message["data"])
                        messages.put_nowait((change["key"], change["version"], change["value"]))
            except OUTAGE_ERRORS as exc:
                self._link.mark_down(exc)
                await asyncio.sleep(jittered(delay))
                delay = backoff(delay)
            finally:
                with contextlib.suppress(*OUTAGE_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
