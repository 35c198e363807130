"""Quota accounting for the YouTube Data API. Pure: no I/O, ``now`` is an argument.

YouTube gives a project two daily buckets, both reset at midnight Pacific time
(``Bucket``): 10,000 **units** by default for every method but ``search.list`` (one
unit for a list of videos, playlist items or channels), and a bucket of its own for
``search.list``, 100 **calls** by default at one each. A search takes nothing from
the units, and a spent bucket stops only the calls that draw from it.

The shared counters live in the bus (``ledger.py``); this module decides, from what
they say, whether a call may be made and how far polling must be spaced so that the
units left last until the reset::

    QuotaView(day, spent, searches, exhausted)  ── what the counters say now
    QuotaPolicy.refusal(view, method)            ── None, or why the call is not made
    QuotaPolicy.paced(interval, view, now)       ── the interval, stretched if need be
    QuotaPolicy.report(view, now)                ── each bucket, for organizers

Nothing of the units is held back for searches: they have their own bucket.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from service.youtube.broadcast import iso

PACIFIC = ZoneInfo("America/Los_Angeles")


class Bucket(Enum):
    """One of YouTube's daily quota buckets."""

    UNITS = "units"  # every method but search.list, in units (10,000 a day by default)
    SEARCH = "searches"  # search.list alone, in calls (100 a day by default)


BUCKETS: Mapping[str, Bucket] = MappingProxyType(
    {
        "videos.list": Bucket.UNITS,
        "playlistItems.list": Bucket.UNITS,
        "channels.list": Bucket.UNITS,
        "search.list": Bucket.SEARCH,
    }
)
# What one call takes from its method's bucket: a unit, or one search call.
COSTS: Mapping[str, int] = MappingProxyType({method: 1 for method in BUCKETS})


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
    spent: int = 0  # units taken from the units bucket today, by every process
    searches: int = 0  # search.list calls made today, by every process
    exhausted: frozenset[Bucket] = frozenset()  # buckets YouTube said were spent today


@dataclass(frozen=True)
class QuotaPolicy:
    """The event's share of each bucket: ``daily_quota`` units, ``search_budget`` searches."""

    daily_quota: int
    search_budget: int

    def limit(self, bucket: Bucket) -> int:
        """The event's budget in ``bucket`` for a day."""
        return self.daily_quota if bucket is Bucket.UNITS else self.search_budget

    def refusal(self, view: QuotaView, method: str) -> str | None:
        """Why a call to ``method`` must not be made now, or ``None`` if it may."""
        bucket = BUCKETS[method]
        if bucket in view.exhausted:
            return f"YouTube says today's {describe(bucket)} are spent"
        used = used_of(view, bucket)
        if used + COSTS[method] > self.limit(bucket):
            return f"today's budget of {self.limit(bucket)} {describe(bucket)} is spent"
        return None

    def paced(self, interval: float, view: QuotaView, now: float, units: int = 1) -> float:
        """``interval`` between calls of ``units`` each, stretched so the units last.

        What is left of the units bucket is spread evenly over the time to the reset;
        a longer interval than asked is returned only when the asked one would run
        out before midnight Pacific. Searches are not counted: they have their own
        bucket.
        """
        left = 0 if Bucket.UNITS in view.exhausted else self.daily_quota - view.spent
        until_reset = max(1.0, next_reset(now) - now)
        if left < units:
            return max(interval, until_reset)
        return max(interval, until_reset * units / left)

    def report(self, view: QuotaView, now: float) -> dict[str, Any]:
        """Each bucket for organizers: used, limit, left, and until when it is spent.

        ``spent`` is ``""`` while calls may go on, else why they may not (YouTube
        said so, with a 403 or a 429, or the event's budget is used up);
        ``spent_until`` is then the reset.
        """
        reset = iso(next_reset(now))
        buckets: dict[str, Any] = {}
        for bucket in Bucket:
            used, limit = used_of(view, bucket), self.limit(bucket)
            if bucket in view.exhausted:
                why = "YouTube says it is spent"
            elif used >= limit:
                why = "the event's budget is used up"
            else:
                why = ""
            buckets[bucket.value] = {
                "used": used,
                "limit": limit,
                "left": 0 if why else limit - used,
                "spent": why,
                "spent_until": reset if why else None,
            }
        return {"day": view.day, "resets_at": reset, **buckets}


def used_of(view: QuotaView, bucket: Bucket) -> int:
    """What the view counts against ``bucket``: units, or search calls."""
    return view.spent if bucket is Bucket.UNITS else view.searches


def describe(bucket: Bucket) -> str:
    """What ``bucket`` counts, in words: "API units" or "searches"."""
    return "API units" if bucket is Bucket.UNITS else "searches"


def describe_pacing(asked: float, paced: float) -> str:
    """The note shown when pacing stretched an interval, empty otherwise."""
    if paced <= asked * 1.01 or math.isinf(paced):
        return ""
    return f"polling slowed to every {paced:.0f} s (not {asked:.0f} s) to stay within the quota"
