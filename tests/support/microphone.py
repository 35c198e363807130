"""Hearing a booth's microphone on the bus, as its captioner does (``Bus.follow_audio``).

A follower starts at the live edge, so a test must know it has started before it
sends: ``hearing`` publishes an empty probe frame (a real frame is never empty) every
``PROBE_EVERY`` seconds until the follower hears one, then yields what it hears from
then on, probes left out. One probe at a time, so none is still on its way after.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from companion.aio import running
from companion.bus.base import Bus
from tests.support.waiting import until

PROBE_EVERY = 0.5  # seconds: a probe is heard long before the next is sent


@asynccontextmanager
async def hearing(bus: Bus, booth: str, timeout: float = 10.0) -> AsyncIterator[list[bytes]]:
    """The frames of ``booth`` the bus carries while the block runs, in order."""
    frames: list[bytes] = []
    listening = asyncio.Event()

    async def follow() -> None:
        async for pcm in bus.follow_audio(booth):
            if pcm:
                frames.append(pcm)
            else:
                listening.set()

    sent = -math.inf

    def probe() -> bool:
        nonlocal sent
        if listening.is_set():
            return True
        if time.monotonic() - sent >= PROBE_EVERY:
            bus.publish_audio(booth, b"")
            sent = time.monotonic()
        return False

    async with running(follow(), name=f"hearing-{booth}"):
        await until(probe, f"the bus's audio of {booth} to be followed", timeout, every=0.02)
        yield frames
