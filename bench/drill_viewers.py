"""The fault drill's viewers: websocket clients that reconnect and resume, as a page does.

Each viewer says ``hello`` to its replica and records every caption's seq and every
``gap`` message (``drill_count.ViewerLog``). When its socket closes (its replica was
killed) or cannot open, it tries the other replica next, alternating with a short
jittered backoff, and says ``hello`` with ``resume`` = the seq of the last caption it
saw (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence

import aiohttp

from bench.drill_count import ViewerLog

RETRY_MIN, RETRY_MAX = 0.2, 2.0


async def follow(
    urls: Sequence[str],
    first: int,
    channel: str,
    log: ViewerLog,
    subscribed: asyncio.Event,
    session: aiohttp.ClientSession,
) -> None:
    """Follow ``channel`` from ``urls[first]`` on, until cancelled."""
    turn = first
    delay = RETRY_MIN
    while True:
        url = urls[turn % len(urls)]
        turn += 1  # next time, the other replica
        try:
            async with session.ws_connect(url, heartbeat=10.0) as ws:
                log.connects += 1
                delay = RETRY_MIN
                hello = {"type": "hello", "v": 1, "channel": channel, "resume": log.last}
                await ws.send_str(json.dumps(hello))
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        _receive(json.loads(msg.data), log, subscribed)
                log.closes.append(ws.close_code)
        except (aiohttp.ClientError, OSError, TimeoutError):
            log.refused += 1
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, RETRY_MAX)


def _receive(message: dict[str, object], log: ViewerLog, subscribed: asyncio.Event) -> None:
    kind = message.get("type")
    if kind == "caption":
        seq = int(str(message["seq"]))
        log.seqs.append(seq)
        if message.get("final"):
            log.finals.append(seq)
    elif kind == "gap":
        log.gaps.append((int(str(message["from"])), int(str(message["to"]))))
    elif kind == "subscribed":
        subscribed.set()
