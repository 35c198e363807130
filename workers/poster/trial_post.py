"""The test caption's I/O: the channel's lease and numbering on the bus, and one POST.

Everything it decides is in ``trial`` (pure); the module docstring there says why the
test takes the channel's next ``seq`` under the channel's lease. ``send_test_caption`` is
the command's way: it posts itself while no poster holds the channel, and otherwise
asks that poster over the bus (``companion/caption_trial_ask.py``) to send it as its
next post. The ingestion URL is a secret: it is never logged, and no error here
carries it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import aiohttp
from yarl import URL

from companion.bus.base import Bus
from companion.caption_trial import TrialResult
from companion.caption_trial_ask import WAIT, ask_poster
from companion.errors import TrialRefused
from workers.poster.poster import RELEASE, TIMEOUT, claim_key, poster_key
from workers.poster.trial import (
    DEFAULT_TEXT,
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
            "ask it for the test caption (send_test_caption)"
        )
    return await _post_held(bus, channel, url, text, owner, timeout=timeout, clock=clock)


async def send_test_caption(
    bus: Bus,
    channel: str,
    url: str,
    text: str | None,
    *,
    by: str,
    wait: float = WAIT,
    timeout: float = TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> TrialReport | TrialResult:
    """A test caption for ``channel``: posted here under its next ``seq`` while no poster
    holds the channel (a ``TrialReport``), else sent by that poster as its next post
    (its ``TrialResult``). Raises ``TrialRefused`` (a post is pending) or
    ``CaptionTrialError`` (the poster did not answer, or another test is on its way)."""
    owner = f"test-caption-{uuid.uuid4().hex[:8]}"
    if await bus.claim(claim_key(channel), owner, timeout + LEASE_MARGIN):
        line = text or DEFAULT_TEXT
        return await _post_held(bus, channel, url, line, owner, timeout=timeout, clock=clock)
    return await ask_poster(bus, channel, text, by, wait=wait, clock=clock)


async def _post_held(
    bus: Bus,
    channel: str,
    url: str,
    text: str,
    owner: str,
    *,
    timeout: float,
    clock: Callable[[], float],
) -> TrialReport:
    """The direct post, under the channel's lease (``owner`` holds it; let go here)."""
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
