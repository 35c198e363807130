"""``companion bench fanout``: how fast the service fans one caption out to N viewers.

The service (``create_app`` with a ``MemoryBus``) runs in this process, on its own
event loop in a background thread; the viewers run in ``processes`` client processes
(multiprocessing, spawn), each with one asyncio loop and one aiohttp session. Most
viewers are *light*: they read frames and count the captions by their prefix. In each
client process the first ``sample`` viewers are *probes*: they JSON-decode every
caption and record its receipt time minus the publish wall time carried in its text.
One Python process parsing 9,000 messages per caption would measure the client, not
the server (see "Measuring fan-out on this machine" in the design).

Beside what viewers saw, the server's own time per caption is measured on its loop,
without touching service code: *fan-out* is publish until the channel's hub has
encoded the event and offered it to every viewer queue (this includes waiting for the
loop to reach the hub's task); *send* is publish until every viewer's sender has handed
it to its socket (``Viewer.drained``). When the server cannot keep up, a send also
waits for the captions queued after it, so its time is then an upper bound; the report
counts those captions.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import aiohttp
from aiohttp import web

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.metrics import percentile
from service.app import FANOUT, create_app
from service.settings import ServiceSettings

CHANNEL = "en"
CAPTION_PREFIX = '{"type":"caption"'
NOFILE_WANTED = 20_000
CONNECTS_AT_ONCE = 64  # per client process, so the listen backlog never overflows
GRACE_SECONDS = 15.0  # after the last publish, for the last captions to arrive


def raise_nofile_limit(wanted: int = NOFILE_WANTED) -> int:
    """Raise this process's open-files limit to its hard limit (at most ``wanted``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(soft, target)


def rss_kib() -> int:
    """This process's resident set size in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------- the viewers
@dataclass
class ClientResult:
    """What one client process's viewers saw."""

    connected: int = 0
    failed: int = 0
    captions: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    closed_early: int = 0
    last_receipt: float = 0.0


async def _viewer(
    session: aiohttp.ClientSession,
    url: str,
    probe: bool,
    captions: int,
    gate: asyncio.Semaphore,
    joined: asyncio.Queue[bool],
    result: ClientResult,
) -> None:
    try:
        async with gate:
            ws = await session.ws_connect(url, autoclose=True, max_msg_size=0)
            await ws.send_str(json.dumps({"type": "hello", "channel": CHANNEL}))
    except (aiohttp.ClientError, OSError):
        result.failed += 1
        joined.put_nowait(False)
        return
    result.connected += 1
    joined.put_nowait(True)
    seen = 0
    try:
        while seen < captions:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                result.closed_early += 1
                return
            if not msg.data.startswith(CAPTION_PREFIX):
                continue
            now = time.time()
            seen += 1
            result.captions += 1
            result.last_receipt = max(result.last_receipt, now)
            if probe:
                sent = float(json.loads(msg.data)["text"].split()[1])
                result.latencies_ms.append((now - sent) * 1000.0)
    finally:
        await ws.close()


async def _clients(
    url: str, count: int, sample: int, captions: int, index: int, out: Queue[Any], done: Event
) -> ClientResult:
    result = ClientResult()
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    joined: asyncio.Queue[bool] = asyncio.Queue()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(_viewer(session, url, i < sample, captions, gate, joined, result))
            for i in range(count)
        ]
        for _ in range(count):
            await joined.get()
        out.put(("joined", index, result.connected, result.failed))
        while not done.is_set() and not all(task.done() for task in tasks):
            await asyncio.sleep(0.1)
        _, pending = await asyncio.wait(tasks, timeout=GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


def client_process(
    url: str, count: int, sample: int, captions: int, index: int, out: Queue[Any], done: Event
) -> None:
    """One client process: ``count`` viewers on one loop; puts its ``ClientResult`` on ``out``."""
    raise_nofile_limit()
    result = asyncio.run(_clients(url, count, sample, captions, index, out, done))
    out.put(("result", index, result))


# ---------------------------------------------------------------------- the server
class ServerThread:
    """The service on 127.0.0.1, on its own event loop in a background thread."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.bus = MemoryBus()
        self.app = create_app(settings, self.bus)
        self.loop = asyncio.new_event_loop()
        self._settings = settings
        self._runner = web.AppRunner(self.app, handle_signals=False)
        self._thread = threading.Thread(target=self.loop.run_forever, name="fanout-server")
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.stop()
            raise

    def call(self, coro: Any) -> Any:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port, backlog=4096)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def publish(self, seq: int) -> tuple[float, float]:
        """Publish one final caption; the seconds until fanned out and until sent."""
        hub = self.app[FANOUT].hubs[CHANNEL]
        started = time.perf_counter()
        text = f"probe {time.time():.6f} {seq}"
        event = CaptionEvent(CHANNEL, 0, True, text, "en", 0.0, 0.0, 0.0, seq)
        await self.bus.publish(event)
        while hub.last_seq < seq:
            await asyncio.sleep(0)
        fanned = time.perf_counter()
        for viewer in list(hub.viewers):
            await viewer.drained()
        return fanned - started, time.perf_counter() - started

    def stop(self) -> None:
        try:
            self.call(self._runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            body: bytes = r.read()
            return body

    def listeners(self) -> int:
        return int(json.loads(self.get("/api/state"))["listeners"].get(CHANNEL, 0))

    def dropped(self) -> int:
        total = 0.0
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith("companion_slow_viewers_dropped_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


# ------------------------------------------------------------------- the benchmark
def run_fanout(
    viewers: int,
    rate: float = 2.0,
    seconds: float = 20.0,
    processes: int = 4,
    port: int = 0,
    sample: int = 200,
    connect_timeout: float | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (see the module docstring)."""
    raise_nofile_limit()
    captions = max(1, round(rate * seconds))
    settings = ServiceSettings(
        channels=(CHANNEL,), port=port, backlog_finals=0, queue_limit=max(256, captions + 16)
    )
    server = ServerThread(settings)
    server.start()
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    done = ctx.Event()
    shares = [
        viewers // processes + (1 if i < viewers % processes else 0) for i in range(processes)
    ]
    url = f"http://127.0.0.1:{server.port}/ws/viewer"
    procs = [
        ctx.Process(target=client_process, args=(url, n, sample, captions, i, out, done))
        for i, n in enumerate(shares)
        if n > 0
    ]
    try:
        time.sleep(0.2)  # let the server's RSS settle after start-up
        rss_before = rss_kib()
        for proc in procs:
            proc.start()
        connected, failed = _wait_joined(server, out, len(procs), viewers, connect_timeout)
        rss_after = rss_kib()
        first_publish, timings = _publish(server, captions, rate)
        done.set()
        results = [_expect(out, "result")[2] for _ in procs]
        dropped = server.dropped()
    finally:
        done.set()
        for proc in procs:
            proc.join(timeout=GRACE_SECONDS + 10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        out.close()
        out.join_thread()
        server.stop()
    per_viewer = round((rss_after - rss_before) / connected, 2) if connected else None
    return {
        "viewers_requested": viewers,
        "viewers_connected": connected,
        "viewers_failed_to_connect": failed,
        "captions_published": captions,
        "messages_expected": connected * captions,
        **_report(rate, captions, sample, first_publish, timings, results),
        "viewers_dropped": dropped,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "server_kib_per_viewer": per_viewer,
    }


def _expect(out: Queue[Any], kind: str, timeout: float = 120.0) -> tuple[Any, ...]:
    item: tuple[Any, ...] = out.get(timeout=timeout)
    if item[0] != kind:
        raise RuntimeError(f"a client process sent {item[0]!r}, expected {kind!r}")
    return item


def _wait_joined(
    server: ServerThread, out: Queue[Any], procs: int, viewers: int, timeout: float | None
) -> tuple[int, int]:
    """Wait until every client process has tried its viewers and the hub lists them."""
    deadline = time.monotonic() + (timeout or 60.0 + viewers / 50)
    joined = [
        _expect(out, "joined", timeout=max(1.0, deadline - time.monotonic())) for _ in range(procs)
    ]
    connected = sum(item[2] for item in joined)
    failed = sum(item[3] for item in joined)
    while server.listeners() < connected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return server.listeners(), failed


def _publish(
    server: ServerThread, captions: int, rate: float
) -> tuple[float, list[tuple[float, float]]]:
    """Publish ``captions`` at ``rate``; the first one's wall time and each one's timings."""
    start = time.monotonic() + 0.5
    first_publish = time.time() + 0.5
    futures = []
    for seq in range(1, captions + 1):
        time.sleep(max(0.0, start + (seq - 1) / rate - time.monotonic()))
        futures.append(asyncio.run_coroutine_threadsafe(server.publish(seq), server.loop))
    return first_publish, [future.result(timeout=120) for future in futures]


def _report(
    rate: float,
    captions: int,
    sample: int,
    first_publish: float,
    timings: list[tuple[float, float]],
    results: list[ClientResult],
) -> dict[str, Any]:
    latencies = [ms for r in results for ms in r.latencies_ms]
    delivered = sum(r.captions for r in results)
    probes = sum(min(sample, r.connected) for r in results)
    last_receipt = max((r.last_receipt for r in results), default=0.0)
    span = max(last_receipt - first_publish, 1e-3)
    fanout_ms = [fanned * 1000.0 for fanned, _ in timings]
    send_ms = [sent * 1000.0 for _, sent in timings]
    return {
        "latency_sample": f"{probes} probe viewers decode every caption; the rest count frames",
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p99": percentile(latencies, 0.99),
        "latency_ms_max": percentile(latencies, 1.0),
        "messages_delivered": delivered,
        "messages_per_second": round(delivered / span, 1),
        "viewers_closed_early": sum(r.closed_early for r in results),
        "server_fanout_ms_p50": percentile(fanout_ms, 0.5),
        "server_fanout_ms_p99": percentile(fanout_ms, 0.99),
        "server_send_ms_p50": percentile(send_ms, 0.5),
        "server_send_ms_p99": percentile(send_ms, 0.99),
        # A send that outlasts the publish interval also waits for the next captions
        # (``drained`` waits for the whole queue): its time is an upper bound.
        "captions_sent_after_next_publish": sum(ms > 1000.0 / rate for ms in send_ms),
    }
