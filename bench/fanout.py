"""``companion bench fanout``: how fast the service fans one caption out to N viewers.

The service (``create_app`` with a ``MemoryBus``) runs in this process, on its own
event loop in a background thread; the viewers run in ``processes`` client processes
(multiprocessing, spawn), each with one asyncio loop. Most viewers are *light*: a
websocket spoken over a bare asyncio protocol (handshake, pong, frame boundaries) that
counts the caption frames by their prefix without decoding them. In each client
process ``sample`` viewers, spread evenly through the connection order, are *probes*:
aiohttp websocket clients that JSON-decode every caption and record its receipt time
minus the publish wall time carried in its text.
One Python process parsing 9,000 messages per caption would measure the client, not
the server (see "Measuring fan-out on this machine" in the design).

With ``redis_url`` the service's bus is Redis (a namespace of its own, deleted after),
the scaled-out path: each viewer's join reads the channel's backlog from Redis (``BACKLOG``
finals are published first, and every viewer gets them before the live captions).
With ``crowd`` every viewer of every client process connects at once, on one signal,
instead of ``CONNECTS_AT_ONCE`` at a time: a crowd joining within a second; the report
gives how long the joins took.

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
import base64
import json
import multiprocessing
import os
import resource
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import aiohttp
from aiohttp import web

from bench.scoring import percentile
from companion.bus.base import Bus
from companion.bus.memory import MemoryBus
from companion.bus.redis import RedisBus
from companion.bus.redis_link import connect
from companion.captions import CaptionEvent
from service.app import create_app
from service.keys import FANOUT
from service.settings import ServiceSettings

CHANNEL = "en"
CAPTION_PREFIX = '{"type":"caption"'
CAPTION_BYTES = CAPTION_PREFIX.encode()
NOFILE_WANTED = 20_000
CONNECTS_AT_ONCE = 64  # per client process, so the listen backlog never overflows
GRACE_SECONDS = 15.0  # after the last publish, for the last captions to arrive
BACKLOG = 20  # finals published before the viewers join (with Redis): each join reads them


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


class _LightViewer(asyncio.Protocol):
    """A light viewer: a websocket spoken over a bare asyncio protocol, frames counted.

    It does the opening handshake itself, answers pings and counts the text frames
    that start with the caption prefix, without decoding them: the cost per message
    is a few slices, so the client processes leave the cores to the server.
    """

    def __init__(
        self, host: str, path: str, captions: int, result: ClientResult, ready: asyncio.Future[bool]
    ) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self._captions = captions
        self._result = result
        self._ready = ready
        self._buffer = bytearray()
        self._upgraded = False
        self._seen = 0
        self._transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = ready.get_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ready.done():
            self._ready.set_result(False)
        elif self._seen < self._captions:
            self._result.closed_early += 1
        if not self.done.done():
            self.done.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._close()
                return
            del buffer[: end + 4]
            self._upgraded = True
            self._send(0x1, json.dumps({"type": "hello", "channel": CHANNEL}).encode())
            self._ready.set_result(True)
        self._frames()

    def _frames(self) -> None:
        buffer = self._buffer
        start = 0
        size = len(buffer)
        while size - start >= 2:
            opcode = buffer[start] & 0x0F
            length = buffer[start + 1] & 0x7F
            head = 2
            if length == 126:
                if size - start < 4:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 4], "big")
                head = 4
            elif length == 127:
                if size - start < 10:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 10], "big")
                head = 10
            if size - start < head + length:
                break
            payload = start + head
            if opcode == 0x1:
                if buffer.startswith(CAPTION_BYTES, payload):
                    self._caption()
            elif opcode == 0x9:
                self._send(0xA, bytes(buffer[payload : payload + length]))
            elif opcode == 0x8:
                self._close()
                return
            start = payload + length
        del buffer[:start]

    def _caption(self) -> None:
        self._seen += 1
        self._result.captions += 1
        self._result.last_receipt = max(self._result.last_receipt, time.time())
        if self._seen >= self._captions:
            self._close()

    def _send(self, opcode: int, payload: bytes) -> None:
        """Write one masked client frame (small payloads only)."""
        assert self._transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


async def _light_viewer(
    host: str,
    port: int,
    path: str,
    captions: int,
    gate: asyncio.Semaphore,
    joined: asyncio.Queue[bool],
    result: ClientResult,
) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    try:
        async with gate:
            _, viewer = await loop.create_connection(
                lambda: _LightViewer(host, path, captions, result, ready), host, port
            )
            upgraded = await ready
    except OSError:
        upgraded = False
    if not upgraded:
        result.failed += 1
        joined.put_nowait(False)
        return
    result.connected += 1
    joined.put_nowait(True)
    await viewer.done


async def _probe_viewer(
    session: aiohttp.ClientSession,
    url: str,
    captions: int,
    gate: asyncio.Semaphore,
    joined: asyncio.Queue[bool],
    result: ClientResult,
    backlog: int = 0,
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
            text = json.loads(msg.data)["text"]
            result.captions += 1
            if not text.startswith("probe "):  # the backlog, before the live captions
                continue
            seen += 1
            result.last_receipt = max(result.last_receipt, now)
            sent = float(text.split()[1])
            result.latencies_ms.append((now - sent) * 1000.0)
    finally:
        await ws.close()


def _is_probe(index: int, count: int, sample: int) -> bool:
    """Whether viewer ``index`` of ``count`` is one of the ``sample`` probes, spread evenly."""
    if sample <= 0:
        return False
    stride = max(1, count // sample)
    return index % stride == 0 and index // stride < sample


async def _clients(
    url: str,
    count: int,
    sample: int,
    captions: int,
    index: int,
    out: Queue[Any],
    done: Event,
    backlog: int = 0,
    go: Event | None = None,
) -> ClientResult:
    result = ClientResult()
    gate = asyncio.Semaphore(count if go is not None else CONNECTS_AT_ONCE)
    if go is not None:  # a crowd: every viewer at once, when the signal comes
        out.put(("ready", index))
        await asyncio.to_thread(go.wait)
    joined: asyncio.Queue[bool] = asyncio.Queue()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        tasks = [
            asyncio.create_task(
                _probe_viewer(session, url, captions, gate, joined, result, backlog)
                if _is_probe(i, count, sample)
                else _light_viewer(host, port, parts.path, captions + backlog, gate, joined, result)
            )
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
    url: str,
    count: int,
    sample: int,
    captions: int,
    index: int,
    out: Queue[Any],
    done: Event,
    backlog: int = 0,
    go: Event | None = None,
) -> None:
    """One client process: ``count`` viewers on one loop; puts its ``ClientResult`` on ``out``."""
    raise_nofile_limit()
    result = asyncio.run(_clients(url, count, sample, captions, index, out, done, backlog, go))
    out.put(("result", index, result))


# ---------------------------------------------------------------------- the server
class ServerThread:
    """The service on 127.0.0.1, on its own event loop in a background thread."""

    def __init__(self, settings: ServiceSettings, redis_url: str | None = None) -> None:
        self.namespace = f"fanout-{uuid.uuid4().hex[:12]}"
        self.bus: Bus = RedisBus(redis_url, namespace=self.namespace) if redis_url else MemoryBus()
        self.redis_url = redis_url
        self.offset = 0  # captions published before the probes (the backlog)
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

    async def backlog(self, count: int) -> None:
        """Publish ``count`` finals before anyone joins: the backlog each join reads."""
        for n in range(count):
            await self.bus.publish(
                CaptionEvent(CHANNEL, 0, True, f"backlog {n}", "en", 0.0, 0.0, 0.0, n)
            )
        hub = self.app[FANOUT].hubs[CHANNEL]
        while hub.last_seq < count:
            await asyncio.sleep(0.01)
        self.offset = count

    async def publish(self, seq: int) -> tuple[float, float]:
        """Publish one final caption; the seconds until fanned out and until sent."""
        hub = self.app[FANOUT].hubs[CHANNEL]
        started = time.perf_counter()
        text = f"probe {time.time():.6f} {seq}"
        event = CaptionEvent(CHANNEL, 0, True, text, "en", 0.0, 0.0, 0.0, seq)
        await self.bus.publish(event)
        while hub.last_seq < seq + self.offset:
            await asyncio.sleep(0)
        fanned = time.perf_counter()
        for viewer in list(hub.viewers):
            await viewer.drained()
        return fanned - started, time.perf_counter() - started

    def stop(self) -> None:
        try:
            self.call(self._runner.cleanup())
            if self.redis_url:  # the namespace's keys go with the run
                self.call(_delete_namespace(self.redis_url, self.namespace))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def get(self, path: str) -> bytes:
        # (a crowd of handshakes can keep the server's loop busy for a while)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=120) as r:
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


async def _delete_namespace(url: str, namespace: str) -> None:
    client = connect(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# ------------------------------------------------------------------- the benchmark
def run_fanout(
    viewers: int,
    rate: float = 2.0,
    seconds: float = 20.0,
    processes: int = 4,
    port: int = 0,
    sample: int = 200,
    connect_timeout: float | None = None,
    redis_url: str | None = None,
    crowd: bool = False,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (see the module docstring)."""
    raise_nofile_limit()
    captions = max(1, round(rate * seconds))
    backlog = BACKLOG if redis_url else 0
    settings = ServiceSettings(
        channels=(CHANNEL,),
        port=port,
        backlog_finals=backlog,
        queue_limit=max(256, captions + 16),
        # every viewer comes from this machine's one address
        max_sockets=max(20_000, viewers + 100),
        max_sockets_per_address=max(1000, viewers + 100),
    )
    server = ServerThread(settings, redis_url)
    server.start()
    if backlog:
        server.call(server.backlog(backlog))
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    done = ctx.Event()
    go = ctx.Event() if crowd else None
    shares = [
        viewers // processes + (1 if i < viewers % processes else 0) for i in range(processes)
    ]
    url = f"http://127.0.0.1:{server.port}/ws/viewer"
    procs = [
        ctx.Process(
            target=client_process, args=(url, n, sample, captions, i, out, done, backlog, go)
        )
        for i, n in enumerate(shares)
        if n > 0
    ]
    try:
        time.sleep(0.2)  # let the server's RSS settle after start-up
        rss_before = rss_kib()
        for proc in procs:
            proc.start()
        crowd_began = None
        if go is not None:  # every process ready to connect: then all at once
            for _ in procs:
                _expect(out, "ready")
            crowd_began = time.monotonic()
            go.set()
        connected, failed = _wait_joined(server, out, len(procs), viewers, connect_timeout)
        joined_in = round(time.monotonic() - crowd_began, 2) if crowd_began else None
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
        "bus": "redis" if redis_url else "memory",
        "crowd": crowd,
        "crowd_joined_seconds": joined_in,
        "viewers_requested": viewers,
        "viewers_connected": connected,
        "viewers_failed_to_connect": failed,
        "backlog_per_viewer": backlog,
        "captions_published": captions,
        "messages_expected": connected * (captions + backlog),
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
