"""The tracker: polls each channel's broadcast and publishes ``broadcast:<channel>``.

One task for every channel. Each turn it reads the shared quota ledger, looks for
broadcasts where a channel gives only its YouTube channel (its public feed first, at
no quota; its uploads playlist, page by page, when the feed fails or may not show
everything; ``search.list`` as a last resort), asks ``videos.list`` about
every known video (50 to a call), publishes what changed, and sleeps until the
schedule (``schedule.py``), paced by the quota (``quota.py``), says to ask again.

* ``quotaExceeded`` is recorded in the ledger for the bucket it came from. The
  units spent: every process stops asking until midnight Pacific time, and the
  documents say ``tracking: paused`` and until when. The search bucket spent (a
  403 or a 429 naming the search quota): only searches stop; polls and the uploads
  playlist go on.
* A 5xx, another 429, a rate limit, the network or the bus failing backs off with
  jitter.
* Any other refusal (a bad key, a wrong channel) is logged, counted, shown to
  organizers, and asked again at the far interval.
* A feed that fails (the network, an error status, a body that is not a feed) is
  not an error of the tracker: that look reads the uploads playlist instead, and
  organizers see the feed's failure and why (``report()["discovery"]``).

The clock, the sleep and the random draw are passed in, so tests drive the tracker
through days without waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from companion.bus.base import Bus
from companion.config import EventConfig
from companion.errors import (
    BusUnavailableError,
    QuotaExceededError,
    QuotaRefused,
    SearchQuotaExceededError,
    YouTubeError,
    YouTubeFeedError,
    YouTubeUnavailableError,
)
from service.youtube.broadcast import Broadcast, Status, from_video, iso, not_found, pick_current
from service.youtube.client import VIDEOS_PER_CALL, YouTubeApi
from service.youtube.feed_client import FeedClient
from service.youtube.ledger import SharedLedger
from service.youtube.quota import (
    BUCKETS,
    COSTS,
    Bucket,
    QuotaPolicy,
    QuotaView,
    describe_pacing,
    next_reset,
)
from service.youtube.schedule import (
    Slot,
    Uploads,
    backoff_delay,
    batches,
    interval_for,
    may_search,
    more_uploads,
    next_wake,
)

log = logging.getLogger(__name__)

TRACKER_LEASE = "youtube-tracker"  # one replica polls YouTube; the others stand by
LEASE_MIN = 60.0
LEASE_MAX = 3600.0
STANDBY_CHECK = 30.0  # how often a standby replica tries for the lease

T = TypeVar("T")
RESET_MARGIN = 5.0  # seconds after midnight Pacific before asking again
UNITS_SPENT = "YouTube says today's API units are spent"
SEARCHES_SPENT = "YouTube says today's searches are spent"


def broadcast_key(channel: str) -> str:
    """The state key of a channel's broadcast document."""
    return f"broadcast:{channel}"


class Tracker:
    """Tracks the broadcasts of every channel that has a ``youtube`` video or channel id."""

    def __init__(
        self,
        bus: Bus,
        config: EventConfig,
        api: YouTubeApi | None,
        *,
        off_reason: str = "",
        feeds: FeedClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.bus = bus
        self.settings = config.youtube
        self.api = api
        self.feeds = feeds  # None: discovery reads the uploads playlist every look
        self.off_reason = off_reason or "tracking is off"
        self.ledger = SharedLedger(
            bus, QuotaPolicy(self.settings.daily_quota, self.settings.search_budget)
        )
        self.clock, self._sleep, self._draw = clock, sleep, draw
        self.slots = {
            c.id: Slot(
                Broadcast(c.id, c.youtube.video_id),
                configured=bool(c.youtube.video_id),
                channel_id=c.youtube.channel_id,
            )
            for c in config.channels
            if c.youtube.video_id or c.youtube.channel_id
        }
        self.calls: Counter[str] = Counter()  # calls made by this process, per method
        self.errors: Counter[str] = Counter()  # failures, per kind
        self.last_error = ""
        self.next_wake: float | None = None
        self._published: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, str] = {}  # YouTube channel id -> uploads playlist
        self._channels: dict[str, Uploads] = {}  # YouTube channel id -> its feed and uploads
        self._last_search: float | None = None
        self._search_live_next = True
        self._ended: set[str] = set()  # videos seen ended (or not broadcasts): never again live
        self._units = 0  # units this process has charged, to pace discovery by its cost
        self._failures = 0
        self._view = QuotaView(day="")  # as of the last charge, for pacing
        self.instance = uuid.uuid4().hex[:12]
        self.leading = False  # this replica holds the tracker lease

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Track until nothing is left to ask (every broadcast ended) or cancelled."""
        if not self.slots:
            return
        if self.api is None:
            for slot in self.slots.values():
                slot.broadcast = slot.broadcast.noted("off", self.off_reason)
            await self._publish_all()
            return
        while True:
            if not await self._lead(LEASE_MIN):
                await self._sleep(STANDBY_CHECK)
                continue
            await self._publish_all()
            now = self.clock()
            wake = await self.step(now)
            self.next_wake = wake
            if wake is None:
                log.info("YouTube: every tracked broadcast has ended; tracking stops")
                await self._lead(0.001)  # let go
                return
            # Hold the lease past the sleep, so no other replica polls meanwhile.
            await self._lead(min(LEASE_MAX, max(LEASE_MIN, 2 * (wake - now) + LEASE_MIN)))
            await self._sleep(max(0.0, wake - self.clock()))

    async def _lead(self, ttl: float) -> bool:
        """Take or keep the tracker lease for ``ttl`` s: one replica polls, the others wait.

        While the bus cannot answer, the replica keeps the role it had.
        """
        try:
            leading = await self.bus.claim(TRACKER_LEASE, self.instance, ttl)
        except BusUnavailableError:
            return self.leading
        if leading != self.leading:
            log.info("YouTube tracking: %s", "this replica tracks" if leading else "standing by")
        self.leading = leading
        return leading

    async def step(self, now: float) -> float | None:
        """Do whatever is due at ``now``; the time to wake next, or None when done."""
        try:
            view = await self.ledger.view(now)
            if Bucket.UNITS in view.exhausted:
                return await self._pause_until_reset(now, UNITS_SPENT)
            for slot in self.slots.values():
                if slot.wants_discovery() and slot.next_discovery <= now:
                    before = self._units
                    await self._discover(slot, now)
                    interval, cost = self.settings.discover_interval, self._units - before
                    slot.next_discovery = now + self.ledger.policy.paced(
                        interval, self._view, now, max(1, cost)
                    )
            if any(s.wants_poll() and s.next_poll <= now for s in self.slots.values()):
                await self._poll(now)
        except QuotaExceededError as error:  # the units (searches are handled in _search)
            self._count("quota_exceeded", str(error))
            await self.ledger.mark_exhausted(Bucket.UNITS, now)
            return await self._pause_until_reset(now, UNITS_SPENT)
        except QuotaRefused as refused:  # the event's budget of units is spent
            return await self._pause_until_reset(now, str(refused))
        except (YouTubeUnavailableError, BusUnavailableError) as error:
            self._failures += 1
            delay = backoff_delay(self._failures, self._draw())
            self._count("unavailable", str(error))
            log.warning("YouTube tracking: %s; retrying in %.0f s", error, delay)
            self._due_at(now, now + delay, "paused", f"{error}; retrying at {iso(now + delay)}")
        except YouTubeError as error:
            self._count("refused", str(error))
            log.error("YouTube tracking: %s", error)
            self._due_at(now, now + self.settings.poll_far, "on", str(error))
        else:
            self._failures = 0
        await self._publish_all()
        return next_wake(self.slots.values())

    # -- discovery and polls ----------------------------------------------------------

    async def _discover(self, slot: Slot, now: float) -> None:
        """Look for the channel's live or next broadcast: the feed first (no quota), the
        uploads playlist when the feed fails or may not show everything, search last."""
        channel, cid = slot.broadcast.channel, slot.channel_id
        uploads = self._channels.setdefault(cid, Uploads())
        await self._read_feed(cid, uploads, now)
        found: Broadcast | None = None
        feed_ids = [] if uploads.feed_error else list(uploads.feed_ids)
        read_playlist = True
        if uploads.feed_enough:
            found = await self._pick(channel, feed_ids, now)
            read_playlist = uploads.playlist_wanted(found is not None, now)
            feed_ids = []  # asked already
        if read_playlist:
            listed = await self._playlist_ids(cid, now)
            if listed is None:
                note = f"YouTube channel {cid} was not found"
                slot.broadcast = replace(slot.broadcast, status=Status.NOT_FOUND, note=note)
                return
            uploads.playlist_done(now)
            if found is None:
                found = await self._pick(channel, [*feed_ids, *listed], now)
        why_no_search = ""
        if found is None:
            found, why_no_search = await self._search(channel, cid, now)
        if found is None:
            note = f"no upcoming or live broadcast on YouTube channel {cid} yet"
            if why_no_search:
                note += f" ({why_no_search})"
            slot.broadcast = slot.broadcast.noted("on", note)
            return
        log.info("YouTube: %s follows video %s (%s)", channel, found.video_id, found.status.value)
        self._settle(slot, found, now)

    async def _read_feed(self, cid: str, uploads: Uploads, now: float) -> None:
        """Read the channel's feed when it is due (no quota). A failure is recorded in
        ``uploads`` and shown to organizers, not raised: the playlist stands in."""
        if self.feeds is None or not uploads.feed_due(now):
            return
        self.calls["feed"] += 1
        try:
            feed = await self.feeds.read(cid)
        except YouTubeFeedError as error:
            if str(error) != uploads.feed_error:
                log.warning(
                    "YouTube: the feed of channel %s failed: %s; reading its uploads instead",
                    cid,
                    error,
                )
            self.errors["feed_failed"] += 1
            uploads.feed_failed(str(error), now)
            return
        if uploads.feed_error:
            log.info("YouTube: the feed of channel %s works again", cid)
        uploads.feed_read(feed.video_ids, feed.full, now)

    async def _playlist_ids(self, cid: str, now: float) -> list[str] | None:
        """The ids on the channel's uploads playlist, or None if there is no such channel."""
        playlist = self._uploads.get(cid)
        if playlist is None:
            playlist = await self._call("channels.list", now, self._api.uploads_playlist, cid)
            if playlist is None:
                return None
            self._uploads[cid] = playlist
        return await self._uploads_of(playlist, now)

    async def _uploads_of(self, playlist: str, now: float) -> list[str]:
        """The ids on a channel's uploads playlist, newest first, as far as matters.

        Page by page (one unit each) while ``more_uploads`` says so: a stream
        scheduled well ahead sits below everything uploaded since.
        """
        ids: list[str] = []
        page: str | None = None
        for pages in itertools.count(1):
            read = await self._call(
                "playlistItems.list", now, self._api.playlist_page, playlist, page
            )
            ids += [video_id for video_id, _ in read.videos]
            added = [when for _, when in read.videos]
            if not more_uploads(added, pages, read.next_page is not None, now):
                break
            page = read.next_page
        return ids

    async def _pick(self, channel: str, ids: list[str], now: float) -> Broadcast | None:
        """The broadcast to follow among ``ids``; the ones seen ended are not asked again."""
        asked = [i for i in dict.fromkeys(ids) if i not in self._ended]
        seen = [from_video(channel, item) for item in await self._videos(asked, now)]
        self._ended.update(b.video_id for b in seen if b.status is Status.ENDED)
        return pick_current(seen)

    async def _search(self, channel: str, cid: str, now: float) -> tuple[Broadcast | None, str]:
        """``search.list`` as a last resort: what it found, or why it could not search.

        A spent search bucket stops searches only: it is recorded for every process,
        and the caller goes on with what the uploads showed.
        """
        if not may_search(self._last_search, now):
            return None, ""
        view = await self.ledger.view(now)
        refusal = self.ledger.policy.refusal(view, "search.list")
        if refusal is not None:
            return None, refusal
        self._last_search = now
        kind = "live" if self._search_live_next else "upcoming"
        self._search_live_next = not self._search_live_next
        try:
            ids = await self._call("search.list", now, self._api.search_broadcasts, cid, kind)
        except SearchQuotaExceededError as error:
            self._count("search_quota_exceeded", str(error))
            log.warning("YouTube: %s; no search until midnight Pacific time", error)
            await self.ledger.mark_exhausted(Bucket.SEARCH, now)
            return None, f"{SEARCHES_SPENT} until {iso(next_reset(now))}"
        except QuotaRefused as refused:  # another process took the last search
            return None, str(refused)
        return await self._pick(channel, ids, now), ""

    async def _videos(self, ids: list[str], now: float) -> list[dict[str, Any]]:
        """``videos.list`` about ``ids``, in calls of at most 50 (the API's limit)."""
        items: list[dict[str, Any]] = []
        for batch in batches(ids, VIDEOS_PER_CALL):
            items += await self._call("videos.list", now, self._api.videos, batch)
        return items

    async def _poll(self, now: float) -> None:
        """Ask about every tracked video, 50 to a ``videos.list`` call."""
        polled = [s for s in self.slots.values() if s.wants_poll()]
        ids = sorted({s.broadcast.video_id for s in polled})
        items = await self._videos(ids, now)
        by_id = {str(item.get("id")): item for item in items}
        for slot in polled:
            video_id, channel = slot.broadcast.video_id, slot.broadcast.channel
            item = by_id.get(video_id)
            self._settle(
                slot, from_video(channel, item) if item else not_found(channel, video_id), now
            )

    def _settle(self, slot: Slot, new: Broadcast, now: float) -> None:
        """The one place a slot's broadcast changes: log a transition, plan the next poll."""
        old = slot.broadcast
        if (old.status, old.video_id) != (new.status, new.video_id):
            log.info(
                "YouTube: %s %s -> %s (video %s)",
                broadcast_key(new.channel),
                old.status.value,
                new.status.value,
                new.video_id,
            )
        if new.status is Status.ENDED:
            self._ended.add(new.video_id)
        interval = interval_for(new, now, self.settings)
        note = new.note
        if interval is not None:
            paced = self.ledger.policy.paced(interval, self._view, now)
            note = describe_pacing(interval, paced) or note
            slot.next_poll = now + paced
        slot.broadcast = new.noted("on", note)

    # -- helpers ------------------------------------------------------------------------

    @property
    def _api(self) -> YouTubeApi:
        assert self.api is not None  # run() returns before any call when it is None
        return self.api

    async def _call(
        self, method: str, now: float, call: Callable[..., Awaitable[T]], *args: Any
    ) -> T:
        """Charge ``method`` to the ledger, then make the call (in the API's thread)."""
        self._view = await self.ledger.charge(method, now)
        self.calls[method] += 1
        if BUCKETS[method] is Bucket.UNITS:
            self._units += COSTS[method]
        return await call(*args)

    async def _pause_until_reset(self, now: float, why: str) -> float:
        reset = next_reset(now) + RESET_MARGIN * (1.0 + self._draw())
        note = f"{why}; tracking resumes after midnight Pacific time ({iso(reset)})"
        if not self.last_error.startswith(why):
            log.warning("YouTube tracking paused: %s", note)
        self.last_error = note
        for slot in self.slots.values():
            slot.broadcast = slot.broadcast.noted("paused", note)
            slot.next_poll = slot.next_discovery = reset
        await self._publish_all()
        return reset

    def _due_at(self, now: float, when: float, tracking: str, note: str) -> None:
        """Put off every slot that was due at ``now`` until ``when``."""
        for slot in self.slots.values():
            due = False
            if slot.wants_poll() and slot.next_poll <= now:
                slot.next_poll, due = when, True
            if slot.wants_discovery() and slot.next_discovery <= now:
                slot.next_discovery, due = when, True
            if due:
                slot.broadcast = slot.broadcast.noted(tracking, note)

    def _count(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        self.last_error = message

    async def _publish_all(self) -> None:
        """Publish each channel's document if it changed since last published."""
        for channel, slot in self.slots.items():
            doc = slot.broadcast.to_doc()
            if self._published.get(channel) != doc:
                await self.bus.set_state(broadcast_key(channel), doc)
                self._published[channel] = doc

    # -- organizers ---------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """What this process's tracker has done, for ``GET /api/admin/youtube``."""
        return {
            "tracking": self.api is not None,
            "role": "tracking" if self.leading else "standby (another replica tracks)",
            "off_reason": "" if self.api is not None else self.off_reason,
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "last_error": self.last_error,
            "next_check": iso(self.next_wake),
            "channels": {ch: s.broadcast.to_doc() for ch, s in self.slots.items()},
            "discovery": {cid: u.report() for cid, u in self._channels.items()},
        }
