"""The running poster's side of a test caption asked over the bus.

An organizer's request (``companion/caption_trial.py`` has the documents and why) is
looked for every ``CHECK_EVERY`` seconds by ``watch``, a task beside the poster's
posting, so it is seen while a post is in flight and while the poster is idle. When
one is open, ``watch`` wakes the posting loop, which sends it as its next post:
``take`` reads the request again (it may have been withdrawn, or gone stale while a
post was being retried), ``sending`` writes down the number it got before it is sent,
and ``answered`` writes YouTube's answer and lets the request's lease go.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from companion.bus.base import Bus
from companion.caption_trial import (
    CHECK_EVERY,
    TrialRequest,
    TrialResult,
    expired,
    expired_result,
    open_request,
    request_key,
    result_key,
    sending_result,
)
from companion.errors import BusUnavailableError
from workers.poster.trial import TrialReport, answered_result

log = logging.getLogger(__name__)

RELEASE = 0.001  # a lease renewed for a millisecond: let go


class TrialDesk:
    """Test caption requests for one channel's poster."""

    def __init__(self, bus: Bus, channel: str, clock: Callable[[], float]) -> None:
        self.bus = bus
        self.channel = channel
        self._clock = clock
        self.due = False  # a request is open: the posting loop should ``take`` it

    async def _open(self) -> TrialRequest | None:
        """The channel's open request, if it is still in time; one that is not is
        answered ``expired`` here, unsent."""
        state = await self.bus.get_state()
        request = open_request(
            state.get(request_key(self.channel)), state.get(result_key(self.channel)), self.channel
        )
        if request is None:
            return None
        now = self._clock()
        if expired(request, now):
            log.warning(
                "poster %s: a test caption asked by %s came too late; not sent",
                self.channel,
                request.by,
            )
            await self._write(expired_result(request, now), request)
            return None
        return request

    async def watch(self, wake: Callable[[], None], every: float = CHECK_EVERY) -> None:
        """Look for an open request every ``every`` seconds; ``wake`` the posting loop
        when there is one (it keeps looking: the loop may be busy with a post)."""
        while True:
            try:
                if not self.due and await self._open() is not None:
                    self.due = True
                    wake()
            except BusUnavailableError as error:
                log.warning("poster %s: cannot read test caption requests: %s", self.channel, error)
            await asyncio.sleep(every)

    async def take(self) -> TrialRequest | None:
        """The request to send now, read again; None when it went meanwhile."""
        self.due = False
        return await self._open()

    async def sending(self, request: TrialRequest, seq: int) -> None:
        """Write down, before it is sent, that the request goes out as post ``seq``."""
        await self.bus.set_state(
            result_key(self.channel), sending_result(request, seq, self._clock()).as_doc()
        )

    async def answered(self, request: TrialRequest, report: TrialReport) -> None:
        """Write YouTube's answer to the test post and let the request's lease go."""
        await self._write(answered_result(request, report, self._clock()), request)

    async def _write(self, result: TrialResult, request: TrialRequest) -> None:
        await self.bus.set_state(result_key(self.channel), result.as_doc())
        try:
            await self.bus.claim(request_key(self.channel), request.id, RELEASE)
        except BusUnavailableError:  # the request's lease lapses on its own (a minute)
            log.info("poster %s: cannot let the test caption request go now", self.channel)
