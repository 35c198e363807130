"""The test caption's I/O: the channel's lease and numbering on the bus, and one POST.

Everything it decides is in ``trial`` (pure); the module docstring there says why the
test takes the channel's next ``seq`` under the channel's lease. The ingestion URL is
a secret: it is never logged, and no error here carries it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import aiohttp
from yarl import URL

from companion.bus.base import Bus
from companion.errors import TrialRefused
from workers.poster.poster import RELEASE, TIMEOUT, claim_key, poster_key
from workers.poster.trial import (
    TrialReport,
    next_seq,
    no_answer,
    read_reply,
    trial_body,
    used_report,
)

LEASE_MARGIN = 5.0  # seconds the lease outlives the post's timeout


async def send(
    url: str, seq: int, body: str, *, timeout: float, clock: Callable[[], float]
) -> tuple[int, str, float, float] | str:
    """One POST: (status, reply, sent, answered), or why no answer came (no URL in it)."""
    target = URL(url).update_query(seq=str(seq))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            sent = clock()
            async with session.post(
                target, data=body.encode("utf-8"), headers={"Content-Type": "text/plain"}
            ) as response:
                reply = (await response.read()).decode("utf-8", "replace")
                return response.status, reply, sent, clock()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"no answer from the endpoint ({type(exc).__name__})"


async def post_test_caption(
    bus: Bus,
    channel: str,
    url: str,
    text: str,
    *,
    timeout: float = TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> TrialReport:
    """Post one test cue for ``channel`` under its next ``seq`` and report the answer.

    Raises ``TrialRefused`` when a poster holds the channel or a post is pending.
    """
    owner = f"test-caption-{uuid.uuid4().hex[:8]}"
    if not await bus.claim(claim_key(channel), owner, timeout + LEASE_MARGIN):
        raise TrialRefused(
            f"a poster is posting channel {channel} now, and it numbers the channel's posts: "
            "its report (dashboard, /api/admin/youtube) shows the clock skew and round trip; "
            "stop it to post a test caption"
        )
    try:
        report = (await bus.get_state()).get(poster_key(channel))
        seq = next_seq(report)
        last_event = 0
        if not report:
            latest = await bus.recent_finals(channel, 1)
            last_event = latest[-1].seq if latest else 0
        # written before it is sent: whatever happens, the next poster numbers after it
        await bus.set_state(
            poster_key(channel), used_report(report, channel, seq, last_event, clock())
        )
        answer = await send(url, seq, trial_body(text, clock()), timeout=timeout, clock=clock)
    finally:
        await bus.claim(claim_key(channel), owner, RELEASE)
    if isinstance(answer, str):
        return no_answer(channel, seq, answer)
    return read_reply(channel, seq, *answer)
