"""Quota accounting for the YouTube Data API. Pure: no I/O, ``now`` is an argument.

YouTube gives a project a number of units per day (10,000 by default) and resets
the count at midnight Pacific time. Each call has a cost (``COSTS``): one unit for a
list of videos, playlist items or channels, a hundred for a search. The shared
counters live in the bus (``ledger.py``); this module decides, from what they say,
whether a call may be made and how far polling must be spaced so that what is left
lasts until the reset::

    QuotaView(day, spent, searches, exhausted)  ── what the counters say now
    QuotaPolicy.refusal(view, method)            ── None, or why the call is not made
    QuotaPolicy.paced(interval, view, now)       ── the interval, stretched if need be

Searches come out of the same daily budget but have a small budget of their own;
the units they may still spend are kept aside when pacing the polls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

COSTS: Mapping[str, int] = MappingProxyType(
    {"videos.list": 1, "playlistItems.list": 1, "channels.list": 1, "search.list": 100}
)


def pacific_day(now: float) -> str:
    """The Pacific-time date of Unix time ``now``, e.g. ``"2026-05-14"``: the quota's day."""
    return datetime.fromtimestamp(now, PACIFIC).date().isoformat()


def next_reset(now: float) -> float:
    """The Unix time of the next midnight in Pacific time (daylight saving included)."""
    local = datetime.fromtimestamp(now, PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    return midnight.timestamp()


@dataclass(frozen=True)
class QuotaView:
    """The shared counters of one Pacific day, as last read."""

    day: str
    spent: int = 0
    searches: int = 0
    exhausted: bool = False  # YouTube said quotaExceeded today (any process)


@dataclass(frozen=True)
class QuotaPolicy:
    """The day's budget and the share of it that searches may take."""

    daily_quota: int
    search_budget: int

    def refusal(self, view: QuotaView, method: str) -> str | None:
        """Why a call to ``method`` must not be made now, or ``None`` if it may."""
        cost = COSTS[method]
        if view.exhausted:
            return "YouTube says the API quota is exhausted until midnight Pacific time"
        if method == "search.list" and view.searches >= self.search_budget:
            return f"today's {self.search_budget} searches are spent"
        if view.spent + cost > self.daily_quota:
            return f"today's budget of {self.daily_quota} units is spent"
        if method != "search.list" and view.spent + cost > self.daily_quota - self.reserve(view):
            return "the units left today are kept for searches"
        return None

    def reserve(self, view: QuotaView) -> int:
        """Units still set aside for today's remaining searches."""
        return COSTS["search.list"] * max(0, self.search_budget - view.searches)

    def paced(self, interval: float, view: QuotaView, now: float, units: int = 1) -> float:
        """``interval`` between calls of ``units`` each, stretched so the budget lasts.

        What is left (less the searches' reserve) is spread evenly over the time to
        the reset; a longer interval than asked is returned only when the asked one
        would run out before midnight Pacific.
        """
        left = self.daily_quota - view.spent - self.reserve(view)
        until_reset = max(1.0, next_reset(now) - now)
        if left < units:
            return max(interval, until_reset)
        return max(interval, until_reset * units / left)


def describe_pacing(asked: float, paced: float) -> str:
    """The note shown when pacing stretched an interval, empty otherwise."""
    if paced <= asked * 1.01 or math.isinf(paced):
        return ""
    return f"polling slowed to every {paced:.0f} s (not {asked:.0f} s) to stay within the quota"
