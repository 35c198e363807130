"""``companion bench cdn``: viewers polling the segment feed through nginx, and what
reaches the service behind it.

The service (``create_app`` on a ``MemoryBus``) runs in this process on a loop of its
own (``fanout.ServerThread``), with a middleware that counts the requests reaching it
(the *origin*). Debian's nginx runs the shipped ``deploy/nginx/nginx.conf`` in front
of it (``bench/nginx.py``). A final caption is published every ``1 / rate`` seconds,
its text carrying its publish time. ``viewers`` viewers, spread over ``processes``
client processes (one asyncio loop and one keep-alive connection pool each), do what
the page does in segment mode: every ``poll`` seconds (each from its own random
phase) fetch ``latest.json`` through nginx and then every segment after the last one
they read (``seg/<n>.json``) and the finals ``latest.json`` lists after the newest
segment, and note, for each caption they see first, how long
after its publication that was: the *availability latency*.

The report: requests per second the viewers made (and how many polls per viewer per
second that is: on two cores the load generator runs out before nginx does, so the
report says what was sustained), requests per second that reached the origin, per
kind, availability latency p50/p99, and CPU seconds per second of nginx, of this
process (the service and the publisher) and of the clients. The claim to check:
origin requests stay flat (about 2 per channel per second) whatever the number of
viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.fanout import CHANNEL, ServerThread, raise_nofile_limit
from bench.nginx import nginx_in_front
from bench.scoring import percentile
from companion.captions import CaptionEvent
from service.settings import ServiceSettings

CLK_TCK = os.sysconf("SC_CLK_TCK")
WARM_UP = 3.0  # seconds of polling before the figures are counted
PREFIX = "cdn "


# ------------------------------------------------------------------- the viewers
@dataclass
class ClientResult:
    """What one client process's viewers did during the counted window."""

    requests: int = 0
    errors: int = 0
    polls: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


def seen_first(captions: Iterable[dict[str, Any]], seen: set[int]) -> list[float]:
    """The bench's captions not ``seen`` before (now they are): ms since each was
    published (the time its text carries)."""
    now = time.time()
    latencies = []
    for caption in captions:
        if caption["seq"] in seen or not caption["text"].startswith(PREFIX):
            continue
        seen.add(caption["seq"])
        latencies.append((now - float(caption["text"].split()[1])) * 1000.0)
    return latencies


async def _viewer(
    session: aiohttp.ClientSession,
    base: str,
    poll: float,
    counting: Callable[[], bool],
    stopping: Callable[[], bool],
    result: ClientResult,
) -> None:
    await asyncio.sleep(random.uniform(0.0, poll))  # viewers do not poll in step
    last: int | None = None
    seen: set[int] = set()
    while not stopping():
        began = time.monotonic()
        counted = counting()
        try:
            async with session.get(f"{base}/latest.json") as response:
                latest = await response.json() if response.status == 200 else None
            if counted:
                result.requests += 1
                result.polls += 1
            if latest is not None:
                first_look = last is None  # what it finds then is backlog, not timed
                newest = int(latest["segment"])
                first = newest if last is None else last + 1
                for n in range(max(first, newest - 5), newest + 1):
                    async with session.get(f"{base}/seg/{n}.json") as response:
                        doc = await response.json() if response.status == 200 else None
                    if counted:
                        result.requests += 1
                    if doc is None:
                        continue
                    timed = seen_first(doc["captions"], seen)
                    if counted and not first_look:
                        result.latencies_ms += timed
                last = newest
                timed = seen_first(latest.get("finals", ()), seen)  # after the newest segment
                if counted and not first_look:
                    result.latencies_ms += timed
        except (aiohttp.ClientError, TimeoutError, ValueError):
            if counted:
                result.errors += 1
        await asyncio.sleep(max(0.0, poll - (time.monotonic() - began)))


async def _clients(
    base: str, count: int, poll: float, out: Queue[Any], count_from: Event, stop: Event
) -> ClientResult:
    result = ClientResult()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        out.put(("ready",))
        cpu_at_start: list[float] = []

        def counting() -> bool:
            if count_from.is_set() and not cpu_at_start:
                cpu_at_start.append(_own_cpu())
            return count_from.is_set()

        viewers = [
            asyncio.create_task(_viewer(session, base, poll, counting, stop.is_set, result))
            for _ in range(count)
        ]
        await asyncio.gather(*viewers)
        result.cpu_seconds = _own_cpu() - (cpu_at_start[0] if cpu_at_start else 0.0)
    return result


def client_process(
    base: str, count: int, poll: float, out: Queue[Any], count_from: Event, stop: Event
) -> None:
    """One client process: ``count`` viewers on one loop; puts its result on ``out``."""
    raise_nofile_limit()
    out.put(("result", asyncio.run(_clients(base, count, poll, out, count_from, stop))))


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -------------------------------------------------------------------- the origin
class OriginCounter:
    """Requests that reached the service, by kind (``latest``, ``seg``, ``vtt``, …)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/live/"):
            leaf = path.rsplit("/", 1)[-1]
            kind = leaf.split(".")[0] if leaf.startswith(("latest", "captions")) else "segment"
            self.counts[kind] += 1
        return await handler(request)


def _tree_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and its children (nginx's master and workers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return total


async def _publisher(server: ServerThread, rate: float, stop: asyncio.Event) -> None:
    seq = 0
    while not stop.is_set():
        seq += 1
        text = f"{PREFIX}{time.time():.6f} {seq}"
        await server.bus.publish(CaptionEvent(CHANNEL, 0, True, text, "en", 0.0, 0.0, 0.0, seq))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 / rate)


# ------------------------------------------------------------------ the benchmark
def run_cdn(
    viewers: int,
    seconds: float = 20.0,
    poll: float = 1.0,
    rate: float = 1.0,
    processes: int = 2,
    segment_seconds: float = 2.0,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (see the module docstring)."""
    raise_nofile_limit()
    settings = ServiceSettings(channels=(CHANNEL,), port=0, segment_seconds=segment_seconds)
    server = ServerThread(settings)
    origin = OriginCounter()
    server.app.middlewares.append(origin.middleware)
    server.start()
    stop_publishing = asyncio.Event()
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    count_from, stop = ctx.Event(), ctx.Event()
    shares = [
        viewers // processes + (1 if i < viewers % processes else 0) for i in range(processes)
    ]
    publishing = asyncio.run_coroutine_threadsafe(
        _publisher(server, rate, stop_publishing), server.loop
    )
    procs: list[Any] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="companion-cdn-") as directory,
            nginx_in_front(Path(directory), [f"127.0.0.1:{server.port}"]) as nginx,
        ):
            base = f"{nginx.url}/live/{CHANNEL}"
            time.sleep(2 * segment_seconds)  # a first segment stored
            procs = [
                ctx.Process(target=client_process, args=(base, n, poll, out, count_from, stop))
                for n in shares
                if n > 0
            ]
            for proc in procs:
                proc.start()
            for _ in procs:
                if out.get(timeout=120)[0] != "ready":
                    raise RuntimeError("a client process did not start")
            time.sleep(WARM_UP + poll)  # every viewer has polled: the steady state
            origin_before = Counter(origin.counts)
            nginx_cpu, own_cpu = _tree_cpu(nginx.pid), _own_cpu()
            began = time.monotonic()
            count_from.set()
            time.sleep(seconds)
            stop.set()
            span = time.monotonic() - began
            origin_during = Counter(origin.counts)
            origin_during.subtract(origin_before)
            nginx_cpu, own_cpu = _tree_cpu(nginx.pid) - nginx_cpu, _own_cpu() - own_cpu
            results: list[ClientResult] = [out.get(timeout=120)[1] for _ in procs]
    finally:
        stop.set()
        server.loop.call_soon_threadsafe(stop_publishing.set)
        publishing.result(timeout=10)
        for proc in procs:
            proc.join(timeout=20)
            if proc.is_alive():
                proc.kill()
        server.stop()
    latencies = [ms for r in results for ms in r.latencies_ms]
    requests = sum(r.requests for r in results)
    polls = sum(r.polls for r in results)
    return {
        "viewers": viewers,
        "client_processes": len(procs),
        "poll_seconds": poll,
        "segment_seconds": segment_seconds,
        "captions_per_second": rate,
        "seconds_counted": round(span, 1),
        "viewer_requests_per_second": round(requests / span, 1),
        "viewer_polls_per_second_each": round(polls / span / viewers, 3),
        "viewer_errors": sum(r.errors for r in results),
        "origin_requests_per_second": round(sum(origin_during.values()) / span, 2),
        "origin_requests_by_kind": dict(origin_during),
        "availability_ms_p50": percentile(latencies, 0.5),
        "availability_ms_p99": percentile(latencies, 0.99),
        "availability_ms_max": percentile(latencies, 1.0),
        "availability_samples": len(latencies),
        "cpu_per_second": {
            "nginx": round(nginx_cpu / span, 2),
            "service_and_publisher": round(own_cpu / span, 2),
            "clients": round(sum(r.cpu_seconds for r in results) / span, 2),
        },
    }
