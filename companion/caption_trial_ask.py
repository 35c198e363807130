"""Asking a channel's running poster for a test caption, over the bus, and waiting.

The documents and their rules are in ``caption_trial`` (pure); this is the asking
side's I/O, shared by the service's organizer route and ``companion youtube
test-caption`` (while a poster holds the channel).

``ask_poster`` refuses at once when the channel's poster report says none is running,
or when another request is open (the request lease, ``Bus.claim``, is atomic across
processes). Otherwise it writes the request and polls for its answer for up to
``wait`` seconds. A poster takes a request within about ``CHECK_EVERY`` s, then sends
it after the post in flight; so when nothing has answered by then, no poster is
there (killed, or stopped), and the request is withdrawn. A request the poster has
taken but YouTube has not answered yet comes back as ``sending``: its answer lands in
the result document later (``/api/admin/youtube`` shows it), and the lease stays
taken until then (the poster lets it go), so no second request overtakes it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from companion.bus.base import Bus
from companion.caption_trial import (
    MAX_AGE,
    TrialRequest,
    TrialResult,
    new_request,
    pending_message,
    poster_key,
    poster_running,
    request_key,
    result_for,
    result_key,
)
from companion.errors import CaptionTrialError

WAIT = 15.0  # seconds the asker waits for the poster's answer
POLL = 0.1  # seconds between two looks at the result
LEASE = MAX_AGE + 5.0  # the request lease outlives a request the poster may still take
RELEASE = 0.001  # a lease renewed for a millisecond: let go


async def ask_poster(
    bus: Bus,
    channel: str,
    text: str | None,
    by: str,
    *,
    wait: float = WAIT,
    poll: float = POLL,
    clock: Callable[[], float] = time.time,
) -> TrialResult:
    """Ask ``channel``'s poster to send a test caption as its next post; its answer.

    Raises ``CaptionTrialError``: ``no_poster`` when none is running or none took the
    request within ``wait`` seconds, ``pending`` when another request is open. The
    result is final (accepted, refused, no answer, expired) or ``sending`` (taken,
    YouTube's answer not in yet).
    """
    state = await bus.get_state()
    if not poster_running(state.get(poster_key(channel))):
        raise CaptionTrialError(
            "no_poster",
            f"no poster is running for channel {channel}: a test caption goes out as the "
            "poster's next post (start it, or post directly with companion youtube "
            "test-caption while none runs)",
        )
    request = new_request(channel, text, by, clock(), uuid.uuid4().hex)
    lease = request_key(channel)
    if not await _take(bus, channel, request.id):
        state = await bus.get_state()
        raise CaptionTrialError("pending", pending_message(state.get(lease), channel, clock()))
    result: TrialResult | None = None
    try:
        await bus.set_state(lease, request.as_doc())
        deadline = time.monotonic() + wait
        while True:
            result = result_for((await bus.get_state()).get(result_key(channel)), request.id)
            if (result is not None and result.final) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(poll)
        if result is None:
            await bus.delete_state(lease)  # withdrawn: a poster starting later ignores it
            result = result_for((await bus.get_state()).get(result_key(channel)), request.id)
        if result is None:
            raise CaptionTrialError(
                "no_poster",
                f"no poster answered for channel {channel} within {wait:.0f} s: none is "
                "running (its report may be out of date), or it is stuck; see its report",
            )
        return result
    finally:
        if result is None or result.final:  # else the poster lets it go once answered
            await bus.claim(lease, request.id, RELEASE)


async def _take(bus: Bus, channel: str, owner: str) -> bool:
    """Take the channel's request lease. One whose request is answered is being let go
    (a release is a renewal for ``RELEASE`` s): it is tried again once that has passed."""
    lease = request_key(channel)
    if await bus.claim(lease, owner, LEASE):
        return True
    state = await bus.get_state()
    held = TrialRequest.from_doc(state.get(lease), channel)
    answered = held is not None and result_for(state.get(result_key(channel)), held.id)
    if not (answered and answered.final):
        return False
    await asyncio.sleep(RELEASE * 10)
    return await bus.claim(lease, owner, LEASE)
