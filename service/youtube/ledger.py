"""The quota ledger, kept in the bus so that every service process shares one count.

Three counters per Pacific day (``quota.py`` says which day), each a bus counter
that expires two days after its last change::

    youtube:quota:<day>       units spent today, by every process
    youtube:search:<day>      search.list calls made today
    youtube:exhausted:<day>   above 0 once YouTube has said quotaExceeded today

A call is charged *before* it is made (YouTube counts failed calls too), so two
processes cannot both take the last units: one that overshoots gives its charge
back and does not call. The counters then match the calls made. At midnight
Pacific the day, and so every key, changes: nothing needs resetting.
"""

from __future__ import annotations

from companion.bus.base import Bus
from companion.errors import QuotaRefused  # importable from here as before
from service.youtube.quota import COSTS, QuotaPolicy, QuotaView, pacific_day

TTL_SECONDS = 2 * 86_400.0


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
        return QuotaView(
            day=day,
            spent=await self._add("quota", day, 0),
            searches=await self._add("search", day, 0),
            exhausted=await self._add("exhausted", day, 0) > 0,
        )

    async def charge(self, method: str, now: float) -> QuotaView:
        """Take the cost of one ``method`` call from today's budget, before making it.

        Raises ``QuotaRefused`` (having charged nothing) when the policy says no.
        """
        view = await self.view(now)
        reason = self.policy.refusal(view, method)
        if reason is not None:
            raise QuotaRefused(reason)
        cost = COSTS[method]
        spent = await self._add("quota", view.day, cost)
        if spent > self.policy.daily_quota:  # another process took the last units
            await self._add("quota", view.day, -cost)
            raise QuotaRefused(f"today's budget of {self.policy.daily_quota} units is spent")
        searches = view.searches
        if method == "search.list":
            searches = await self._add("search", view.day, 1)
        return QuotaView(view.day, spent, searches, view.exhausted)

    async def mark_exhausted(self, now: float) -> None:
        """Record that YouTube said quotaExceeded: every process stops until the reset."""
        await self._add("exhausted", pacific_day(now), 1)
