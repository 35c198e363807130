"""The caption poster: one channel's final captions, POSTed into YouTube's player.

It follows the channel on the bus, gathers what arrives while a post is in flight
into the next one (``format.MAX_CUES`` at most), and posts a heartbeat after
``heartbeat`` seconds without captions. A failed post is sent again with the same
``seq`` after a jittered backoff: for as long as it takes when the failure is
transient (no answer, 408, 429, 5xx), ``format.REJECT_ATTEMPTS`` times when the
endpoint refuses it (other 4xx), and then it is given up and counted.

Nothing is posted twice: before each post its number and body are written to the
bus state (``poster:<channel>``), so a poster that restarts sends a pending post
again with the *same* seq (a retry, for YouTube) and goes on after the last caption
it carried. That document is also the poster's report to organizers (counts, last
error). One poster per channel: each holds the channel's lease on the bus
(``Bus.claim``, atomic), renewed with every report and every third of ``claim_ttl``
whether it posts or not; a second poster (or the same one restarted after a crash)
stands by, and takes over once the first lets go (it stops) or its lease lapses,
``claim_ttl`` seconds after its last renewal (it was killed, or lost the bus). A
poster whose renewal is refused posts nothing more: each post checks the lease first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from yarl import URL

from companion.bus.base import Bus
from companion.captions import CaptionEvent
from companion.errors import BusUnavailableError, LostClaim  # importable from here as before
from workers.poster.format import (
    MAX_CUES,
    Outbox,
    Post,
    body,
    cue_for,
    give_up,
    heartbeat_body,
    postable,
    retry_delay,
    timestamp,
)

log = logging.getLogger(__name__)

TIMEOUT = 10.0
CLAIM_TTL = 5.0  # how long a killed poster's lease keeps its restart (or a standby) waiting
STANDBY_CHECK = 1.0


def poster_key(channel: str) -> str:
    """The state key of a channel's poster report."""
    return f"poster:{channel}"


@dataclass
class PosterStats:
    """What the poster has done, as shown to organizers."""

    captions: int = 0  # cues delivered
    posts: int = 0  # posts delivered, heartbeats included
    heartbeats: int = 0
    retries: int = 0
    failures: int = 0  # failed tries
    rejected: int = 0  # posts given up
    last_error: str = ""
    last_post: str = ""  # UTC time of the last delivered post


RELEASE = 0.001  # a claim renewed for a millisecond: let go


def claim_key(channel: str) -> str:
    """The bus lease that makes one poster per channel."""
    return f"poster:{channel}"


class CaptionPoster:
    """Posts one channel's final captions to its YouTube caption ingestion URL."""

    def __init__(
        self,
        bus: Bus,
        channel: str,
        url: str,
        *,
        delay: float = 0.0,
        heartbeat: float = 30.0,
        timeout: float = TIMEOUT,
        claim_ttl: float = CLAIM_TTL,
        standby_check: float = STANDBY_CHECK,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.bus = bus
        self.channel = channel
        self._url = URL(url)
        self.delay = delay
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.standby_check = standby_check
        self._clock = clock
        self._draw = draw
        self.instance = uuid.uuid4().hex[:12]
        self.stats = PosterStats()
        self.outbox = Outbox()
        self.last_event = 0  # bus seq of the last caption settled
        self.claim_ttl = claim_ttl
        self._queue: asyncio.Queue[CaptionEvent] = asyncio.Queue()

    def __repr__(self) -> str:  # the URL is a secret
        return f"CaptionPoster(channel={self.channel!r}, instance={self.instance!r})"

    async def run(self) -> None:
        """Post until cancelled; the report says ``active: false`` afterwards."""
        while True:
            await self._wait_for_turn()
            lost = False
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    pending = await self._resume()
                    await self._persist(active=True)  # renews the claim on the channel
                    if pending is not None:
                        log.info("poster %s: sending post %d again", self.channel, pending.seq)
                        await self._deliver(session, pending)
                    reader = asyncio.create_task(self._read(), name=f"poster-read-{self.channel}")
                    keeper = asyncio.create_task(
                        self._keep_claim(), name=f"poster-lease-{self.channel}"
                    )
                    try:
                        await self._post_loop(session)
                    finally:
                        for task in (reader, keeper):
                            task.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await task
            except LostClaim:
                lost = True
                log.error("poster %s: another poster took the channel; standing by", self.channel)
            finally:
                if not lost:
                    with contextlib.suppress(Exception):  # best effort: the report goes stale
                        await self._persist(active=False)
                        await self.bus.claim(claim_key(self.channel), self.instance, RELEASE)

    # -- taking over ------------------------------------------------------------------

    async def _report(self) -> dict[str, Any] | None:
        return (await self.bus.get_state()).get(poster_key(self.channel))

    async def _wait_for_turn(self) -> None:
        """Stand by until this poster holds the channel's claim (one poster per channel).

        The claim is atomic on the bus, so two posters starting at once cannot both
        post; a poster renews it with every report and lets it go when it stops, and
        one that is killed loses it ``claim_ttl`` seconds after its last renewal.
        """
        said = False
        while True:
            try:
                if await self.bus.claim(claim_key(self.channel), self.instance, self.claim_ttl):
                    return
                if not said:
                    doc = await self._report() or {}
                    log.warning(
                        "poster %s: another poster (%s) is active; standing by",
                        self.channel,
                        doc.get("instance", "?"),
                    )
                    said = True
            except BusUnavailableError as error:
                log.warning("poster %s: cannot claim the channel: %s", self.channel, error)
            await asyncio.sleep(self.standby_check)

    async def _resume(self) -> Post | None:
        """Pick up numbering and position from the last report, or start after now."""
        doc = await self._report()
        if doc:
            self.outbox.last_seq = int(doc.get("seq", 0))
            self.last_event = int(doc.get("last_event", 0))
            pending = doc.get("pending")
            if pending:
                post = Post(**pending)
                self.outbox.pending = post
                return post
            return None
        while True:
            try:
                latest = await self.bus.recent_finals(self.channel, 1)
                break
            except BusUnavailableError as error:
                log.warning("poster %s: %s; waiting", self.channel, error)
                await asyncio.sleep(retry_delay(3, self._draw()))
        self.last_event = latest[-1].seq if latest else 0
        return None

    async def _keep_claim(self) -> None:
        """Renew the lease every third of its life, posting or idle, so that it outlives
        a killed poster by ``claim_ttl`` seconds and not by its heartbeats. A refusal
        (another poster holds the channel) stops the renewals; the next post's check
        then raises ``LostClaim`` before anything is sent."""
        while True:
            await asyncio.sleep(self.claim_ttl / 3)
            try:
                held = await self.bus.claim(claim_key(self.channel), self.instance, self.claim_ttl)
            except BusUnavailableError:
                continue  # cannot tell while the bus is down: keep the channel
            if not held:
                log.error("poster %s: another poster holds the channel now", self.channel)
                return

    # -- posting ----------------------------------------------------------------------

    async def _read(self) -> None:
        async for event in self.bus.follow(self.channel, self.last_event):
            if postable(event):
                self._queue.put_nowait(event)

    async def _post_loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), self.heartbeat)
            except TimeoutError:
                post = self.outbox.next(heartbeat_body(self._clock()))
                await self._deliver(session, post)
                continue
            events = [first]
            while not self._queue.empty() and len(events) < MAX_CUES:
                events.append(self._queue.get_nowait())
            events = [e for e in events if e.seq > self.last_event]  # after a resend
            if not events:
                continue
            received = self._clock()
            cues = [cue_for(e, self.delay, received) for e in events]
            post = self.outbox.next(body(cues), events[-1].seq, len(cues))
            await self._deliver(session, post)

    async def _deliver(self, session: aiohttp.ClientSession, post: Post) -> None:
        """Send ``post`` until it is delivered or given up; write ahead, then settle."""
        await self._persist(True)  # the pending post is known before it is sent
        attempts = 0
        while True:
            attempts += 1
            status, error = await self._send(session, post)
            if error is None:
                self._settled(post, delivered=True)
                break
            self.stats.failures += 1
            self.stats.last_error = error
            if give_up(status, attempts):
                self.stats.rejected += 1
                log.error("poster %s: gave up post %d: %s", self.channel, post.seq, error)
                self._settled(post, delivered=False)
                break
            if attempts == 1:
                log.warning(
                    "poster %s: post %d failed (%s); retrying", self.channel, post.seq, error
                )
            self.stats.retries += 1
            await self._persist(True)
            await asyncio.sleep(retry_delay(attempts, self._draw()))
        if error is None and attempts > 1:
            log.info(
                "poster %s: post %d went through after %d tries", self.channel, post.seq, attempts
            )
        await self._persist(True)

    async def _send(
        self, session: aiohttp.ClientSession, post: Post
    ) -> tuple[int | None, str | None]:
        """One try: (HTTP status or None, None on success or what went wrong)."""
        url = self._url.update_query(seq=str(post.seq))
        try:
            async with session.post(
                url, data=post.body.encode("utf-8"), headers={"Content-Type": "text/plain"}
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"the endpoint answered {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"no answer from the endpoint ({type(exc).__name__})"

    def _settled(self, post: Post, delivered: bool) -> None:
        self.outbox.settle(post)
        if post.last_event:
            self.last_event = max(self.last_event, post.last_event)
        if delivered:
            self.stats.posts += 1
            self.stats.captions += post.cues
            self.stats.heartbeats += post.heartbeat
            self.stats.last_post = timestamp(self._clock())

    async def _persist(self, active: bool) -> None:
        if active:
            try:
                held = await self.bus.claim(claim_key(self.channel), self.instance, self.claim_ttl)
            except BusUnavailableError:
                held = True  # cannot tell while the bus is down: keep the channel
            if not held:
                raise LostClaim(self.channel)
        pending = self.outbox.pending
        doc = {
            "channel": self.channel,
            "instance": self.instance,
            "active": active,
            "seq": self.outbox.last_seq,
            "pending": asdict(pending) if pending is not None else None,
            "last_event": self.last_event,
            "delay": self.delay,
            "updated": self._clock(),
            **asdict(self.stats),
        }
        await self.bus.set_state(poster_key(self.channel), doc)
