"""When to ask YouTube again. Pure: no I/O, ``now`` and random draws are arguments.

Each tracked channel is a ``Slot``: its broadcast, whether the video id was
configured or discovered, and when it is next due for a status poll and for a look
for a new broadcast. Polls are rare while the start is far off, frequent from
``near_window`` before the scheduled start and while live, and stop once the
broadcast has ended (a discovered one is then looked for again: a second day's
stream is a new video). Failures back off exponentially, with jitter.

One ``videos.list`` call asks about every channel's video at once (one unit), so
when any slot is due, every slot that wants a poll is polled together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from companion.config import YouTubeSettings
from service.youtube.broadcast import Broadcast, Status

BACKOFF_BASE = 5.0
BACKOFF_MAX = 900.0
SEARCH_GAP = 3600.0  # at most one search.list per hour, within the daily search budget


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
