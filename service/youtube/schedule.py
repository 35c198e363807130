"""When to ask YouTube again. Pure: no I/O, ``now`` and random draws are arguments.

Each tracked channel is a ``Slot``: its broadcast, whether the video id was
configured or discovered, and when it is next due for a status poll and for a look
for a new broadcast. Polls are rare while the start is far off, frequent from
``near_window`` before the scheduled start and while live, and stop once the
broadcast has ended (a discovered one is then looked for again: a second day's
stream is a new video). Failures back off exponentially, with jitter.

One ``videos.list`` call asks about up to 50 videos at once (one unit), so when
any slot is due, every slot that wants a poll is polled together, in ``batches``.
Discovery reads a channel's feed first (no quota), at most every ``FEED_GAP``
(``Uploads.feed_due``), and its uploads playlist (units) only when
``Uploads.playlist_wanted`` says the feed may not show everything; then page by page
while ``more_uploads`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from companion.config import YouTubeSettings
from service.youtube.broadcast import Broadcast, Status, iso

BACKOFF_BASE = 5.0
BACKOFF_MAX = 900.0
# At most one search.list an hour: 24 a day, well inside the search bucket (100 a
# day by default), which other apps of the same Google project may share.
SEARCH_GAP = 3600.0
# How far back a channel's uploads (newest first) are read when looking for its
# broadcast. A scheduled stream enters the uploads when it is scheduled (or made
# public), and an event's streams are scheduled days or weeks ahead: 90 days
# covers a season's lead. The page cap bounds what one look costs on a channel that
# uploads a lot: 10 pages of 50 are 500 uploads for 10 units.
UPLOADS_LOOKBACK = 90 * 86_400.0
UPLOADS_MAX_PAGES = 10
# A channel's feed is free, but YouTube serves it from a cache that lags some minutes
# behind: reading it more often than every 5 minutes would learn nothing new. Looks
# closer together than that (``discover_interval`` may be as low as 30 s) use the
# last read.
FEED_GAP = 300.0
# While the feed works and shows no broadcast, the uploads playlist is still read
# every 6 hours (4 looks a day, a few units each): it sees past the feed's 15 newest
# uploads, and catches a feed that answers but is stale or short.
PLAYLIST_CHECK = 6 * 3600.0


def interval_for(broadcast: Broadcast, now: float, settings: YouTubeSettings) -> float | None:
    """Seconds until the next status poll of ``broadcast``; None once it has ended."""
    status = broadcast.status
    if status is Status.ENDED:
        return None
    if status is Status.LIVE:
        return settings.poll_live
    if status is Status.NOT_FOUND:
        return settings.poll_far
    if status is Status.UPCOMING and broadcast.scheduled_start is not None:
        until_near = broadcast.scheduled_start - settings.near_window - now
        if until_near > 0:  # wake when the near window opens, at the latest
            return max(settings.poll_near, min(settings.poll_far, until_near))
        return settings.poll_near
    if status is Status.UPCOMING:
        return settings.poll_near  # no scheduled start given: it may begin at any time
    return 0.0  # unknown: ask now


def backoff_delay(failures: int, draw: float) -> float:
    """The wait after ``failures`` (>= 1) failures in a row; ``draw`` is uniform in [0, 1).

    Doubling from ``BACKOFF_BASE`` up to ``BACKOFF_MAX``, each scaled into [50 %, 100 %]
    so that several processes do not retry in step.
    """
    base = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(max(failures, 1) - 1, 30))
    return base * (0.5 + 0.5 * min(max(draw, 0.0), 1.0))


def more_uploads(added: Sequence[float | None], pages: int, has_next: bool, now: float) -> bool:
    """Whether to read another page of a channel's uploads after ``pages`` pages.

    ``added`` is when each item of the last page entered the playlist (None if the
    API did not say). Reading stops at the last page, at ``UPLOADS_MAX_PAGES``, or
    once the page reaches items added before ``UPLOADS_LOOKBACK``.
    """
    if not has_next or pages >= UPLOADS_MAX_PAGES:
        return False
    known = [t for t in added if t is not None]
    return not known or min(known) >= now - UPLOADS_LOOKBACK


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size``, in order (none for no items)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def may_search(last_search: float | None, now: float) -> bool:
    """Whether enough time has passed since the last ``search.list`` (quota aside)."""
    return last_search is None or now - last_search >= SEARCH_GAP


@dataclass
class Uploads:
    """What discovery knows of one YouTube channel's feed and uploads playlist."""

    feed_ids: tuple[str, ...] = ()  # the last feed read that worked, newest first
    feed_error: str = ""  # why the last read failed; "" when it worked
    feed_checked: float | None = None  # when the feed was last read (or tried)
    feed_ok: float | None = None  # when it last worked
    playlist_read: float | None = None  # when the uploads playlist was last read
    playlist_owed: bool = False  # the feed may have skipped uploads since it was read

    def feed_due(self, now: float) -> bool:
        """Whether to read the feed again, or make do with the last read (``FEED_GAP``)."""
        return self.feed_checked is None or now - self.feed_checked >= FEED_GAP

    def feed_read(self, ids: list[str], full: bool, now: float) -> None:
        """Record a feed read that worked.

        A full feed with no video in common with the last one means more uploads came
        than it lists since the tracker last looked (or it never looked): a stream
        scheduled in between may be below them, so the playlist is owed a read.
        """
        if full and (self.feed_ok is None or not set(ids) & set(self.feed_ids)):
            self.playlist_owed = True
        self.feed_ids, self.feed_error = tuple(ids), ""
        self.feed_checked = self.feed_ok = now

    def feed_failed(self, why: str, now: float) -> None:
        self.feed_error, self.feed_checked = why, now

    @property
    def feed_enough(self) -> bool:
        """Whether a look may pick from the feed alone, and read the playlist only
        if ``playlist_wanted``: the feed works and cannot have skipped uploads."""
        return self.feed_ok is not None and not self.feed_error and not self.playlist_owed

    def playlist_wanted(self, found: bool, now: float) -> bool:
        """Whether to read the playlist after the feed, which was enough and found
        ``found``: when it found no broadcast, every ``PLAYLIST_CHECK`` (the first
        look included)."""
        stale = self.playlist_read is None or now - self.playlist_read >= PLAYLIST_CHECK
        return not found and stale

    def playlist_done(self, now: float) -> None:
        self.playlist_read, self.playlist_owed = now, False

    def report(self) -> dict[str, object]:
        """For organizers: is the feed working, and if not, why."""
        return {
            "feed": "failed" if self.feed_error else "ok" if self.feed_ok is not None else "",
            "feed_error": self.feed_error,
            "feed_entries": len(self.feed_ids),
            "feed_read_at": iso(self.feed_ok),
            "playlist_read_at": iso(self.playlist_read),
        }


@dataclass
class Slot:
    """One tracked channel: what is known and when it is next due."""

    broadcast: Broadcast
    configured: bool  # the video id came from the config, not from discovery
    channel_id: str = ""  # the YouTube channel to discover broadcasts from
    next_poll: float = 0.0
    next_discovery: float = 0.0

    def wants_poll(self) -> bool:
        b = self.broadcast
        if not b.video_id or b.status is Status.ENDED:
            return False
        return self.configured or b.status is not Status.NOT_FOUND

    def wants_discovery(self) -> bool:
        if self.configured or not self.channel_id:
            return False
        return not self.broadcast.video_id or self.broadcast.status in (
            Status.ENDED,
            Status.NOT_FOUND,
        )


def next_wake(slots: Iterable[Slot]) -> float | None:
    """The earliest time any slot is due, or None when nothing is left to ask."""
    slots = list(slots)
    times = [s.next_poll for s in slots if s.wants_poll()]
    times += [s.next_discovery for s in slots if s.wants_discovery()]
    return min(times) if times else None
