"""The quota ledger, kept in the bus so that every service process shares one count.

Four counters per Pacific day (``quota.py`` says which day and which bucket), each a
bus counter that expires two days after its last change::

    youtube:quota:<day>              units spent today (every method but search.list)
    youtube:search:<day>             search.list calls made today
    youtube:units-exhausted:<day>    above 0 once YouTube said the units are spent
    youtube:search-exhausted:<day>   above 0 once YouTube said the searches are spent

A call is charged to its bucket *before* it is made (YouTube counts failed calls
too), so two processes cannot both take the last of a bucket: one that overshoots
gives its charge back and does not call. The counters then match the calls made. At
midnight Pacific the day, and so every key, changes: nothing needs resetting.
"""

from __future__ import annotations

from companion.bus.base import Bus
from companion.errors import QuotaRefused  # importable from here as before
from service.youtube.quota import (
    BUCKETS,
    COSTS,
    Bucket,
    QuotaPolicy,
    QuotaView,
    describe,
    pacific_day,
)

TTL_SECONDS = 2 * 86_400.0
COUNTERS = {Bucket.UNITS: "quota", Bucket.SEARCH: "search"}
EXHAUSTED = {Bucket.UNITS: "units-exhausted", Bucket.SEARCH: "search-exhausted"}


class SharedLedger:
    """Charges calls against the day's shared counters."""

    def __init__(self, bus: Bus, policy: QuotaPolicy, prefix: str = "youtube") -> None:
        self._bus = bus
        self.policy = policy
        self._prefix = prefix

    def _key(self, kind: str, day: str) -> str:
        return f"{self._prefix}:{kind}:{day}"

    async def _add(self, kind: str, day: str, amount: int) -> int:
        return await self._bus.add_to_counter(self._key(kind, day), amount, TTL_SECONDS)

    async def view(self, now: float) -> QuotaView:
        """The day's counters; ``BusUnavailableError`` if the bus cannot say."""
        day = pacific_day(now)
        exhausted = frozenset(
            [bucket for bucket, kind in EXHAUSTED.items() if await self._add(kind, day, 0) > 0]
        )
        return QuotaView(
            day=day,
            spent=await self._add(COUNTERS[Bucket.UNITS], day, 0),
            searches=await self._add(COUNTERS[Bucket.SEARCH], day, 0),
            exhausted=exhausted,
        )

    async def charge(self, method: str, now: float) -> QuotaView:
        """Take the cost of one ``method`` call from its bucket, before making it.

        Raises ``QuotaRefused`` (having charged nothing) when the policy says no.
        """
        view = await self.view(now)
        reason = self.policy.refusal(view, method)
        if reason is not None:
            raise QuotaRefused(reason)
        bucket, cost = BUCKETS[method], COSTS[method]
        used = await self._add(COUNTERS[bucket], view.day, cost)
        if used > self.policy.limit(bucket):  # another process took the last of it
            await self._add(COUNTERS[bucket], view.day, -cost)
            limit = self.policy.limit(bucket)
            raise QuotaRefused(f"today's budget of {limit} {describe(bucket)} is spent")
        if bucket is Bucket.UNITS:
            return QuotaView(view.day, used, view.searches, view.exhausted)
        return QuotaView(view.day, view.spent, used, view.exhausted)

    async def mark_exhausted(self, bucket: Bucket, now: float) -> None:
        """Record that YouTube said ``bucket`` is spent: every process stops drawing
        from it until the reset (the other bucket goes on)."""
        await self._add(EXHAUSTED[bucket], pacific_day(now), 1)
