"""Fuzzing the live viewer socket: thousands of random and malformed messages.

The server must stay up, answer each fuzzing connection with errors and policy
closes only, and keep feeding a well-behaved viewer on the same channel.
"""

from __future__ import annotations

import json
import random

import aiohttp
from aiohttp import WSMsgType

from tests.support.caption_events import caption
from tests.support.service import running

SHAPES = [
    lambda r: "",
    lambda r: "{",
    lambda r: "null",
    lambda r: "[]",
    lambda r: json.dumps({"type": r.choice(["hello", "subscribe", "ping", "x", 3, None])}),
    lambda r: json.dumps(
        {
            "type": "hello",
            "v": r.choice([0, 1, 2, "1", None]),
            "channel": r.choice(["en", "ko", "", "zz", 5, None]),
            "resume": r.choice([None, -1, 0, 3, 10**12, "7", 1.5, []]),
        }
    ),
    lambda r: json.dumps({"type": "subscribe", "channel": "ko", "resume": r.randint(-5, 50)}),
    lambda r: (
        "".join(chr(r.randint(0, 0x10FFFF)) for _ in range(r.randint(1, 40)))
        .encode("utf-8", "replace")
        .decode("utf-8", "replace")
    ),
    lambda r: "x" * r.choice([10, 4000, 5000, 70000]),
]


async def test_thousands_of_bad_messages_leave_good_viewers_served() -> None:
    rng = random.Random(20261128)
    async with running() as (client, bus, _app):
        good = await client.ws_connect("/ws/viewer")
        await good.send_str(json.dumps({"type": "hello", "v": 1, "channel": "en"}))
        sent = closes = 0
        fuzzer: aiohttp.ClientWebSocketResponse | None = None
        while sent < 3000:
            if fuzzer is None or fuzzer.closed:
                fuzzer = await client.ws_connect("/ws/viewer", max_msg_size=0)
            shape = rng.choice(SHAPES)
            try:
                if rng.random() < 0.05:
                    await fuzzer.send_bytes(rng.randbytes(rng.randint(1, 64)))
                else:
                    await fuzzer.send_str(shape(rng))
            except (ConnectionResetError, aiohttp.ClientConnectionError):
                fuzzer = None
                continue
            sent += 1
            if sent % 50 == 0:  # read what came back: only protocol messages and closes
                while True:
                    try:
                        msg = await fuzzer.receive(timeout=0.2)
                    except TimeoutError:
                        break
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                        assert fuzzer.close_code in (1000, 1008, 1009, 4000, None)
                        closes += 1
                        fuzzer = await client.ws_connect("/ws/viewer", max_msg_size=0)
                        break
                    if msg.type == WSMsgType.ERROR:
                        fuzzer = await client.ws_connect("/ws/viewer", max_msg_size=0)
                        break
                    assert json.loads(msg.data)["type"] in (
                        "welcome",
                        "subscribed",
                        "caption",
                        "state",
                        "error",
                        "pong",
                    )
        if fuzzer is not None:
            await fuzzer.close()
        assert closes > 0, "the fuzzer was never closed for its bad messages"

        await bus.publish(caption("en", True, "still here"))
        texts = []
        while "still here" not in texts:
            msg = await good.receive(timeout=5)
            data = json.loads(msg.data)
            if data["type"] == "caption":
                texts.append(data["text"])
        async with client.get("/healthz") as response:
            assert response.status == 200
        await good.close()
