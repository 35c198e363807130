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

Captions YouTube will take (``clock``): each reply's server time measures the skew
between YouTube's clock and ours, shown in the report (``clock_skew``) and logged as
a warning past ``clock.SKEW_WARN``; before every try of a post, and before the
pending post is sent again after a restart, cues older than ``clock.MAX_AGE`` by
YouTube's clock are left out and counted (``stale_dropped``). With the in-memory
bus, whose state a restart empties, the numbering is also kept in a file
(``seqfile``), so ``seq`` goes on after a restart.
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
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from companion.bus.base import Bus
from companion.captions import CaptionEvent
from companion.errors import BusUnavailableError, LostClaim  # importable from here as before
from workers.poster.clock import MAX_AGE, SKEW_WARN, Skew, refresh, server_time, stale
from workers.poster.format import (
    MAX_CUES,
    Outbox,
    Post,
    body,
    cues_for,
    give_up,
    heartbeat_body,
    parse_body,
    postable,
    retry_delay,
    timestamp,
)
from workers.poster.seqfile import SeqFile

log = logging.getLogger(__name__)

TIMEOUT = 10.0
CLAIM_TTL = 5.0  # how long a killed poster's lease keeps its restart (or a standby) waiting
STANDBY_CHECK = 1.0
REPLY_SHOWN = 200  # characters of a refusal's body kept in the report's last_error


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
    stale_dropped: int = 0  # cues left out as too old for YouTube (clock.MAX_AGE)
    oldest_cue: float = 0.0  # the oldest age (s, by YouTube's clock) of a cue delivered
    clock_skew: float | None = None  # YouTube's clock minus ours, s; None: not measured
    round_trip: float | None = None  # s, of the latest reply that measured the skew
    skew_warning: str = ""  # set while the skew is past clock.SKEW_WARN


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
        seq_file: Path | None = None,
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
        self.skew = Skew()
        self.seq_file = SeqFile(seq_file) if seq_file is not None else None
        self._seq_file_error = ""
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
        if self.seq_file is not None:  # the in-memory bus, restarted: the file has it
            self.outbox.last_seq, pending = await asyncio.to_thread(self.seq_file.load)
            self.outbox.pending = pending
            if self.outbox.last_seq or pending:
                log.info(
                    "poster %s: numbering goes on after post %d (%s)",
                    self.channel,
                    self.outbox.last_seq,
                    self.seq_file.path,
                )
        while True:
            try:
                latest = await self.bus.recent_finals(self.channel, 1)
                break
            except BusUnavailableError as error:
                log.warning("poster %s: %s; waiting", self.channel, error)
                await asyncio.sleep(retry_delay(3, self._draw()))
        self.last_event = latest[-1].seq if latest else 0
        return self.outbox.pending

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
                # stamped with YouTube's clock: it goes through (and measures the skew)
                # even when ours is off
                post = self.outbox.next(heartbeat_body(self.skew.youtube_now(self._clock())))
                await self._deliver(session, post)
                continue
            received = self._clock()
            last, cues = 0, []
            event: CaptionEvent | None = first
            while event is not None:
                if event.seq > self.last_event:  # not already carried by a resent post
                    last = event.seq
                    cues += cues_for(event, self.delay, received)
                more = not self._queue.empty() and len(cues) < MAX_CUES
                event = self._queue.get_nowait() if more else None
            if not last:
                continue
            youtube_now = self.skew.youtube_now(received)
            fresh = [cue for cue in cues if not stale(cue.at, youtube_now)]
            if len(fresh) < len(cues):
                self._dropped(len(cues) - len(fresh), youtube_now)
            if not fresh:  # all too old (a backlog after an outage): nothing to send
                self.last_event = max(self.last_event, last)
                await self._persist(True)
                continue
            post = self.outbox.next(body(fresh), last, len(fresh))
            await self._deliver(session, post)

    def _dropped(self, cues: int, youtube_now: float) -> None:
        self.stats.stale_dropped += cues
        log.warning(
            "poster %s: %d caption(s) left out, more than %.0f s old for YouTube (its clock %s)",
            self.channel,
            cues,
            MAX_AGE,
            timestamp(youtube_now),
        )

    def _refreshed(self, post: Post) -> Post | None:
        """``post`` without its stale cues (same ``seq``), or None, settled unsent."""
        youtube_now = self.skew.youtube_now(self._clock())
        fresh, dropped = refresh(post, youtube_now)
        if dropped:
            self._dropped(dropped, youtube_now)
        if fresh is None:
            log.info("poster %s: post %d is too old to send; settled", self.channel, post.seq)
            self._settled(post, delivered=False)
        elif fresh is not post:
            self.outbox.replace(fresh)
        return fresh

    async def _deliver(self, session: aiohttp.ClientSession, post: Post) -> None:
        """Send ``post`` until it is delivered or given up; write ahead, then settle.

        Every try sends what is still in time (``_refreshed``): a retry after an outage
        leaves out the cues that went stale meanwhile, under the same ``seq``.
        """
        attempts = 0
        error: str | None = None
        while True:
            fresh = self._refreshed(post)
            if fresh is None:
                break
            if attempts == 0 or fresh is not post:
                await self._persist(True)  # the pending post is known before it is sent
            post = fresh
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
        sent = self._clock()
        try:
            async with session.post(
                url, data=post.body.encode("utf-8"), headers={"Content-Type": "text/plain"}
            ) as response:
                reply = (await response.read()).decode("utf-8", "replace")
                answered = self._clock()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"no answer from the endpoint ({type(exc).__name__})"
        if 200 <= response.status < 300:
            server = server_time(reply)
            if server is not None:
                self._measured(sent, answered, server)
            return response.status, None
        said = " ".join(reply.split())[:REPLY_SHOWN]  # YouTube's reason, e.g. its skew
        return response.status, f"the endpoint answered {response.status}" + (
            f": {said}" if said else ""
        )

    def _measured(self, sent: float, answered: float, server: float) -> None:
        skew = self.skew.measure(sent, answered, server)
        self.stats.clock_skew = round(skew, 3)
        self.stats.round_trip = round(answered - sent, 3)
        self.stats.skew_warning = (
            f"YouTube's clock is {abs(skew):.1f} s {'ahead of' if skew > 0 else 'behind'} "
            f"this machine's (more than {SKEW_WARN:.0f} s): check its time (NTP)"
            if self.skew.large
            else ""
        )
        if self.skew.warn(answered):
            log.warning("poster %s: %s", self.channel, self.stats.skew_warning)

    def _settled(self, post: Post, delivered: bool) -> None:
        self.outbox.settle(post)
        if post.last_event:
            self.last_event = max(self.last_event, post.last_event)
        if delivered:
            now = self._clock()
            self.stats.posts += 1
            self.stats.captions += post.cues
            self.stats.heartbeats += post.heartbeat
            self.stats.last_post = timestamp(now)
            if post.cues:
                age = self.skew.youtube_now(now) - min(c.at for c in parse_body(post.body))
                self.stats.oldest_cue = round(max(self.stats.oldest_cue, age), 3)

    async def _persist(self, active: bool) -> None:
        if active:
            try:
                held = await self.bus.claim(claim_key(self.channel), self.instance, self.claim_ttl)
            except BusUnavailableError:
                held = True  # cannot tell while the bus is down: keep the channel
            if not held:
                raise LostClaim(self.channel)
        pending = self.outbox.pending
        if self.seq_file is not None:
            try:
                await asyncio.to_thread(self.seq_file.save, self.outbox.last_seq, pending)
                self._seq_file_error = ""
            except OSError as error:  # posting goes on; a restart may number from 1 again
                if str(error) != self._seq_file_error:
                    log.error("poster %s: cannot keep its numbering: %s", self.channel, error)
                self._seq_file_error = str(error)
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
