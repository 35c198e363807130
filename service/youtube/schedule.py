"""When to ask YouTube again. Pure: no I/O, ``now`` and random draws are arguments.

Each tracked channel is a ``Slot``: its broadcast, whether the video id was
configured or discovered, and when it is next due for a status poll and for a look
for a new broadcast. Polls are rare while the start is far off, frequent from
``near_window`` before the scheduled start and while live, and stop once the
broadcast has ended (a discovered one is then looked for again: a second day's
stream is a new video). Failures back off exponentially, with jitter.

One ``videos.list`` call asks about up to 50 videos at once (one unit), so when
any slot is due, every slot that wants a poll is polled together, in ``batches``.
Discovery reads a channel's uploads page by page while ``more_uploads`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from companion.config import YouTubeSettings
from service.youtube.broadcast import Broadcast, Status

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
