"""``companion bench mic``: the console microphone's way to the captioner, timed per frame.

Each 100 ms frame is timed from the moment the console sends it on ``/ws/booth-audio``
to the moment the booth captioner's ``PushSource.chunks()`` yields it, in two set-ups:

* ``in_process``, as ``companion serve`` runs it: the service, the captioner's relay
  (``companion.push.relay``) and the thread that reads the push source in one process,
  the in-memory bus between the socket and the relay;
* ``through_redis``, as ``companion serve --no-workers`` and ``companion worker caption
  --booth`` run it: the service in this process, the captioner's side (a ``RedisBus``
  of its own, the relay, the push source and its reading thread) in a child process,
  Redis in between.

The console is played in this process: frames of 1,600 samples sent at real time,
each carrying its number in its first two samples, so the reader knows which frame
it got. Both ends read ``time.monotonic()``, one clock for all the processes of a
Linux machine. Both set-ups include the loopback websocket, the socket's checks and
the hand-off to the reading thread, so the difference of their percentiles is what
Redis adds. The first ``WARMUP`` frames are not counted (a follower starts at the live
edge once it is connected). Redis is a private ``redis-server`` run as production runs
it (append-only, ``appendfsync always``: deploy/compose.yaml), unless a URL is given.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from bench.drill_parts import GLOSSARY, RedisProcess
from bench.scoring import percentile
from companion.bus.base import Bus
from companion.bus.memory import MemoryBus
from companion.bus.redis import RedisBus
from companion.config import parse_config
from companion.push import PushSource, relay
from service.app import create_app
from service.auth import Tokens
from service.settings import ServiceSettings

BOOTH = "booth-en"
TOKEN = "bench-mic-token-0123456789"
SAMPLES = 1600  # 100 ms at 16 kHz
WARMUP = 20  # frames sent before the ones counted
DRAIN_SECONDS = 1.0  # after the last frame, for the stragglers
TARGET_ADDED_P95_MS = 150.0
CONFIG = """
[captioner]
glossary = "{glossary}"
[floor]
source = "floor.wav"
[archive]
directory = "{archive}"
[[channels]]
id = "en"
language = "en"
[[booths]]
id = "booth-en"
channel = "en"
source = "console"
interpreters = [{{ id = "kim" }}]
"""

Heard = list[tuple[int, float]]  # (frame number, when chunks() yielded it)


def frame(n: int) -> bytes:
    """Frame ``n``: its number in the first two samples, then a steady non-zero level."""
    samples = np.full(SAMPLES, 1000, dtype="<i2")
    samples[0], samples[1] = n % 32768, n // 32768
    return samples.tobytes()


def read_numbers(push: PushSource, heard: Heard) -> None:
    """The captioner's thread: each frame number ``chunks()`` yields, with the time."""
    for chunk in push.chunks():
        now = time.monotonic()
        if not chunk.any() or len(chunk) % SAMPLES:  # silence kept the clock going
            continue
        frames = np.round(chunk * 32768).astype(np.int64).reshape(-1, SAMPLES)
        heard.extend((int(n), now) for n in frames[:, 0] + frames[:, 1] * 32768)


class CaptionerSide:
    """A push source fed by the relay and read by a thread, as the booth's captioner's."""

    def __init__(self, bus: Bus) -> None:
        self.push = PushSource(BOOTH)
        self.heard: Heard = []
        self.reader = threading.Thread(target=read_numbers, args=(self.push, self.heard))
        self.reader.start()
        self.relaying = asyncio.create_task(relay(bus, BOOTH, self.push))

    async def stop(self) -> Heard:
        self.relaying.cancel()
        await asyncio.gather(self.relaying, return_exceptions=True)
        self.push.close()
        await asyncio.to_thread(self.reader.join)
        return self.heard


def captioner_process(url: str, namespace: str, conn: Connection) -> None:
    """The child of ``through_redis``: a worker's side, until the parent says stop."""

    async def run() -> None:
        bus = RedisBus(url, namespace=namespace)
        await bus.start()
        side = CaptionerSide(bus)
        conn.send("ready")
        await asyncio.to_thread(conn.recv)
        heard = await side.stop()
        await bus.close()
        conn.send(heard)

    asyncio.run(run())


async def play_console(base: str, frames: int) -> dict[int, float]:
    """Kim goes live and sends ``frames`` frames at real time; when each was sent."""
    sent: dict[int, float] = {}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            base + "/api/booths/actions", json={"action": "go_live"}, headers=headers
        ) as response:
            response.raise_for_status()
        async with session.ws_connect(base + "/ws/booth-audio") as ws:
            await ws.send_json({"type": "login", "token": TOKEN})
            ready = await ws.receive_json(timeout=10)
            if ready.get("type") != "ready":
                raise RuntimeError(f"the microphone socket refused: {ready}")
            began = time.monotonic()
            for n in range(frames):
                await asyncio.sleep(max(0.0, began + n * 0.1 - time.monotonic()))
                sent[n] = time.monotonic()
                await ws.send_bytes(frame(n))
            await ws.send_json({"type": "ping"})
            while (reply := await ws.receive_json(timeout=10))["type"] != "pong":
                if reply["type"] == "error":
                    raise RuntimeError(f"the microphone socket said: {reply}")
    return sent


async def run_leg(
    scratch: Path, bus: Bus, frames: int, child: tuple[str, str] | None
) -> dict[str, Any]:
    """The service on ``bus``, the captioner's side in process, or in a child process on
    ``child`` (a Redis URL and namespace); the console sends ``frames`` frames; the figures."""
    text = CONFIG.format(archive=scratch, glossary=GLOSSARY)
    config = parse_config(text, "bench.toml", env={}, base_dir=str(scratch))
    settings = ServiceSettings.from_config(config, "127.0.0.1", 0)
    tokens = Tokens(interpreters={"kim": TOKEN})
    runner = web.AppRunner(create_app(settings, bus, tokens=tokens, config=config, env={}))
    await runner.setup()  # starts the bus; cleanup closes it
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        if child is None:
            side = CaptionerSide(bus)
            sent = await play_console(base, frames)
            await asyncio.sleep(DRAIN_SECONDS)
            heard = await side.stop()
        else:
            heard, sent = await _with_child(base, frames, *child)
        dropped = bus.health().audio_dropped
    finally:
        await runner.cleanup()
    return figures(sent, heard) | {"bus_audio_dropped": dropped}


async def _with_child(
    base: str, frames: int, url: str, namespace: str
) -> tuple[Heard, dict[int, float]]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=captioner_process, args=(url, namespace, theirs))
    child.start()
    try:
        if not await asyncio.to_thread(ours.poll, 60):
            raise RuntimeError("the captioner's process did not start")
        ours.recv()
        sent = await play_console(base, frames)
        await asyncio.sleep(DRAIN_SECONDS)
        ours.send("stop")
        heard: Heard = await asyncio.to_thread(ours.recv)
    finally:
        await asyncio.to_thread(child.join, 30)
        if child.is_alive():
            child.kill()
    return heard, sent


def figures(sent: dict[int, float], heard: Heard) -> dict[str, Any]:
    """Per counted frame, sent → yielded in ms: how many, how many lost, percentiles."""
    first_heard: dict[int, float] = {}
    for n, at in heard:
        first_heard.setdefault(n, at)
    counted = [n for n in sent if n >= WARMUP]
    delays = [(first_heard[n] - sent[n]) * 1000 for n in counted if n in first_heard]
    return {
        "frames": len(counted),
        "lost": len(counted) - len(delays),
        "p50_ms": percentile(delays, 0.5),
        "p95_ms": percentile(delays, 0.95),
        "p99_ms": percentile(delays, 0.99),
        "max_ms": round(max(delays), 3) if delays else None,
    }


async def run_mic(seconds: float, redis_url: str | None = None) -> dict[str, Any]:
    """Both set-ups for ``seconds`` of frames each; the report."""
    frames = WARMUP + round(seconds * 10)
    with tempfile.TemporaryDirectory(prefix="bench-mic-") as scratch:
        in_process = await run_leg(Path(scratch), MemoryBus(), frames, None)
        redis_server = None
        if redis_url is None:
            redis_server = RedisProcess(Path(scratch) / "redis", Path(scratch) / "redis.log")
            await asyncio.to_thread(redis_server.start)
            redis_url = redis_server.url
        try:
            namespace = f"bench-mic-{uuid.uuid4().hex[:8]}"
            bus = RedisBus(redis_url, namespace=namespace)
            through_redis = await run_leg(Path(scratch), bus, frames, (redis_url, namespace))
        finally:
            if redis_server is not None:
                redis_server.kill()
    added = {
        q: _minus(through_redis[f"{q}_ms"], in_process[f"{q}_ms"])
        for q in ("p50", "p95", "p99", "max")
    }
    return {
        "seconds_per_set_up": seconds,
        "frame_ms": 100,
        "redis": "given URL" if redis_server is None else "private, appendonly, fsync always",
        "in_process": in_process,
        "through_redis": through_redis,
        "added_by_redis_ms": added,
        "target_added_p95_ms": TARGET_ADDED_P95_MS,
        "target_met": added["p95"] is not None and added["p95"] <= TARGET_ADDED_P95_MS,
    }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)
