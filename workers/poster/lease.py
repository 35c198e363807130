"""One poster per channel: the channel's lease on the bus.

Each poster holds the lease ``poster:<channel>`` (``Bus.claim``, atomic across
processes) while it posts. It renews it with every report (``renew``, which the
poster's report writing calls) and every third of ``ttl`` whether it posts or not
(``keep``), and lets it go when it stops (``release``). A second poster (or the same
one restarted after a crash) stands by (``wait_for_turn``) and takes over once the
first lets go or its lease lapses, ``ttl`` seconds after its last renewal (it was
killed, or lost the bus). ``companion youtube test-caption`` takes the same lease to
post while no poster runs (``trial_post``).
"""

from __future__ import annotations

import asyncio
import logging

from companion.bus.base import Bus
from companion.caption_trial import poster_key
from companion.errors import BusUnavailableError

log = logging.getLogger(__name__)

CLAIM_TTL = 5.0  # how long a killed poster's lease keeps its restart (or a standby) waiting
STANDBY_CHECK = 1.0
RELEASE = 0.001  # a claim renewed for a millisecond: let go


def claim_key(channel: str) -> str:
    """The bus lease that makes one poster per channel."""
    return f"poster:{channel}"


class Lease:
    """One poster's hold on its channel."""

    def __init__(
        self,
        bus: Bus,
        channel: str,
        owner: str,
        ttl: float = CLAIM_TTL,
        standby_check: float = STANDBY_CHECK,
    ) -> None:
        self.bus = bus
        self.channel = channel
        self.owner = owner
        self.ttl = ttl
        self.standby_check = standby_check

    async def renew(self) -> bool:
        """Take or keep the lease; whether this poster holds it. Raises
        ``BusUnavailableError`` when the bus cannot tell."""
        return await self.bus.claim(claim_key(self.channel), self.owner, self.ttl)

    async def release(self) -> None:
        await self.bus.claim(claim_key(self.channel), self.owner, RELEASE)

    async def wait_for_turn(self) -> None:
        """Stand by until this poster holds the channel's lease.

        The claim is atomic on the bus, so two posters starting at once cannot both
        post; the one that holds it renews it, and one that is killed loses it ``ttl``
        seconds after its last renewal.
        """
        said = False
        while True:
            try:
                if await self.renew():
                    return
                if not said:
                    doc = (await self.bus.get_state()).get(poster_key(self.channel)) or {}
                    log.warning(
                        "poster %s: another poster (%s) is active; standing by",
                        self.channel,
                        doc.get("instance", "?"),
                    )
                    said = True
            except BusUnavailableError as error:
                log.warning("poster %s: cannot claim the channel: %s", self.channel, error)
            await asyncio.sleep(self.standby_check)

    async def keep(self) -> None:
        """Renew the lease every third of its life, posting or idle, so that it outlives
        a killed poster by ``ttl`` seconds and not by its heartbeats. A refusal (another
        poster holds the channel) stops the renewals; the poster's next report then
        finds it lost before anything more is sent."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                held = await self.renew()
            except BusUnavailableError:
                continue  # cannot tell while the bus is down: keep the channel
            if not held:
                log.error("poster %s: another poster holds the channel now", self.channel)
                return
