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
error). One poster per channel: each holds the channel's lease on the bus (``lease``);
a poster whose renewal is refused posts nothing more: each post checks the lease first.

A test caption an organizer asks for over the bus (``trial_desk``) goes out as the
poster's next post, numbered like any other, so the channel's ``seq`` has no gap and
no number twice; it is tried once, and its answer written back for the organizer.

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
from companion.caption_trial import poster_key as poster_key  # importable from here as before
from companion.captions import CaptionEvent
from companion.errors import BusUnavailableError, LostClaim  # importable from here as before
from workers.poster.clock import (
    MAX_AGE,
    Skew,
    http_date,
    refresh,
    said,
    server_time,
    skew_warning,
    stale,
)
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
from workers.poster.lease import CLAIM_TTL, STANDBY_CHECK, Lease
from workers.poster.lease import RELEASE as RELEASE  # importable from here as before
from workers.poster.lease import claim_key as claim_key
from workers.poster.seqfile import SeqFile
from workers.poster.trial import no_answer, outcome, read_reply, trial_body
from workers.poster.trial_desk import TrialDesk

log = logging.getLogger(__name__)

TIMEOUT = 10.0
Reply = tuple[int, str, float, float]  # HTTP status, body, sent and answered (our clock)


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
    test_captions: int = 0  # test captions sent for organizers (counted apart from posts)


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
        self._clock = clock
        self._draw = draw
        self.instance = uuid.uuid4().hex[:12]
        self.stats = PosterStats()
        self.outbox = Outbox()
        self.skew = Skew()
        self.seq_file = SeqFile(seq_file) if seq_file is not None else None
        self._seq_file_error = ""
        self.last_event = 0  # bus seq of the last caption settled
        self.lease = Lease(bus, channel, self.instance, claim_ttl, standby_check)
        self.trials = TrialDesk(bus, channel, clock)
        self._queue: asyncio.Queue[CaptionEvent | None] = asyncio.Queue()  # None: a wake-up

    def __repr__(self) -> str:  # the URL is a secret
        return f"CaptionPoster(channel={self.channel!r}, instance={self.instance!r})"

    async def run(self) -> None:
        """Post until cancelled; the report says ``active: false`` afterwards."""
        while True:
            await self.lease.wait_for_turn()
            lost = False
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    pending = await self._resume()
                    await self._persist(active=True)  # renews the claim on the channel
                    if pending is not None:
                        log.info("poster %s: sending post %d again", self.channel, pending.seq)
                        await self._deliver(session, pending)
                    tasks = [
                        asyncio.create_task(job, name=f"poster-{what}-{self.channel}")
                        for what, job in (
                            ("read", self._read()),
                            ("lease", self.lease.keep()),
                            ("trials", self.trials.watch(lambda: self._queue.put_nowait(None))),
                        )
                    ]
                    try:
                        await self._post_loop(session)
                    finally:
                        for task in tasks:
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
                        await self.lease.release()

    # -- taking over ------------------------------------------------------------------

    async def _report(self) -> dict[str, Any] | None:
        return (await self.bus.get_state()).get(poster_key(self.channel))

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

    # -- posting ----------------------------------------------------------------------

    async def _read(self) -> None:
        async for event in self.bus.follow(self.channel, self.last_event):
            if postable(event):
                self._queue.put_nowait(event)

    async def _post_loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            if self.trials.due:  # after the post in flight, before the next captions
                await self._send_trial(session)
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
            event = first  # None: woken up for a test caption
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

    async def _send_trial(self, session: aiohttp.ClientSession) -> None:
        """An organizer's test caption, as the next post: numbered, written down, tried
        once (an unanswered one may have reached YouTube: its number stays used)."""
        request = await self.trials.take()
        if request is None:  # withdrawn, or too old now
            return
        post = self.outbox.next(trial_body(request.text, self.skew.youtube_now(self._clock())))
        await self.trials.sending(request, post.seq)
        await self._persist(True)  # the pending post is known before it is sent
        answer = await self._exchange(session, post)
        self.outbox.settle(post)
        self.stats.test_captions += 1
        await self._persist(True)
        if isinstance(answer, str):
            report = no_answer(self.channel, post.seq, answer)
        else:
            report = read_reply(self.channel, post.seq, *answer)
        log.info("poster %s: test caption %d: %s", self.channel, post.seq, outcome(report))
        await self.trials.answered(request, report)

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

    async def _exchange(self, session: aiohttp.ClientSession, post: Post) -> Reply | str:
        """One try: the reply (an accepted one measures the skew), or why none came."""
        url = self._url.update_query(seq=str(post.seq))
        sent = self._clock()
        try:
            async with session.post(
                url, data=post.body.encode("utf-8"), headers={"Content-Type": "text/plain"}
            ) as response:
                reply = (await response.read()).decode("utf-8", "replace")
                answered = self._clock()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"no answer from the endpoint ({type(exc).__name__})"
        if 200 <= response.status < 300:
            server = server_time(reply)
        elif "skew" in reply.lower():
            # Refused as too far from YouTube's clock: no accepted reply may ever come to
            # measure it by (a clock a minute off has every post refused), so the reply's
            # Date header (to the second) measures it, the organizers are told, and the
            # heartbeat, stamped with YouTube's clock as measured, goes through.
            server = http_date(response.headers.get("Date", ""))
        else:
            server = None
        if server is not None:
            self._measured(sent, answered, server)
        return response.status, reply, sent, answered

    async def _send(
        self, session: aiohttp.ClientSession, post: Post
    ) -> tuple[int | None, str | None]:
        """One try: (HTTP status or None, None on success or what went wrong)."""
        answer = await self._exchange(session, post)
        if isinstance(answer, str):
            return None, answer
        status, reply, _, _ = answer
        if 200 <= status < 300:
            return status, None
        reason = said(reply)  # YouTube's reason, e.g. its skew
        return status, f"the endpoint answered {status}" + (f": {reason}" if reason else "")

    def _measured(self, sent: float, answered: float, server: float) -> None:
        skew = self.skew.measure(sent, answered, server)
        self.stats.clock_skew = round(skew, 3)
        self.stats.round_trip = round(answered - sent, 3)
        self.stats.skew_warning = skew_warning(skew)
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
                held = await self.lease.renew()
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
