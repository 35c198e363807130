"""End to end over Redis: services, a separate captioner and a Redis restart, as processes.

Every Redis here is a private ``redis-server`` on a free port (never 6379), without
persistence, and every event id is unique, so each test starts from an empty namespace.
Readiness is polled (Redis PING, the service's ``/readyz``), never slept for.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.paths import REPO, data
from tests.support.redis_server import RedisServer, free_port

# scripts/test installs redis-server; without it these tests fail, they are not skipped.
# `companion serve` and worker subprocesses with the real model, over a real Redis
pytestmark = [pytest.mark.model, pytest.mark.redis, pytest.mark.slow]

QUIET = 6.0  # a viewer stops once this long passes without a caption
FIRST_CAPTION_TIMEOUT = 120.0  # the captioner loads the model first
READY_TIMEOUT = 90.0

Message = dict[str, Any]


class Process:
    """A ``companion`` command running as a real process, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "-v", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


Start = Callable[[str, list[str]], Process]


def write_config(directory: Path) -> tuple[Path, str]:
    """A config with one channel, ``en`` (jfk.flac), and an event id of its own; and the id."""
    event_id = f"test-{uuid.uuid4().hex}"
    config = directory / "event.toml"
    config.write_text(
        f'[event]\nid = "{event_id}"\n'
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[[channels]]\nid = "en"\nlanguage = "en"\nsource = "{data("jfk.flac")}"\n'
    )
    return config, event_id


@contextmanager
def launcher(directory: Path, redis: RedisServer, model_cache: Path) -> Iterator[Start]:
    """Starts ``companion`` processes on ``redis``; stops them all and closes their logs."""
    env = {**os.environ, "COMPANION_CACHE_DIR": str(model_cache), "REDIS_URL": redis.url}
    env.pop("COMPANION_CONFIG", None)
    started: list[Process] = []

    def run(name: str, args: list[str]) -> Process:
        process = Process(name, args, env, directory / f"{name}.log")
        started.append(process)
        return process

    try:
        yield run
    finally:
        for process in reversed(started):
            process.stop()


def http_status(url: str) -> int:
    """The HTTP status of a GET, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)
    except OSError:
        return 0


def http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def wait_ready(base: str, process: Process) -> None:
    """Poll ``/readyz`` until it answers 200; fail with the log if the process dies first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while http_status(base + "/readyz") != 200:
        if not process.running or time.monotonic() > deadline:
            pytest.fail(f"{process.name} did not become ready:\n{process.output()[-3000:]}")
        time.sleep(0.1)


def serve(start: Start, name: str, config: Path, *extra: str) -> tuple[str, Process]:
    """Start ``companion serve`` on a free port, wait until ready; its base URL."""
    port = free_port()
    process = start(name, ["serve", "--config", str(config), "--port", str(port), *extra])
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, process)
    return base, process


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/viewer"


def bus_metrics(base: str) -> dict[str, float]:
    """The bus figures (``companion_bus_*``) of a service's ``/metrics``."""
    figures: dict[str, float] = {}
    for line in http_text(base + "/metrics").splitlines():
        if line.startswith("companion_bus_"):
            name, value = line.rsplit(" ", 1)
            figures[name.removeprefix("companion_bus_")] = float(value)
    return figures


def finals_of(messages: list[Message]) -> list[tuple[int, str]]:
    return [(int(m["seq"]), str(m["text"])) for m in messages if m["final"]]


async def collect(
    url: str,
    subscribed: asyncio.Event,
    on_caption: Callable[[Message], None] = lambda m: None,
    done: asyncio.Event | None = None,
) -> list[Message]:
    """Caption messages until ``QUIET`` seconds pass without one (and ``done`` is set)."""
    import websockets

    got: list[Message] = []
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "channel": "en"}))
        deadline = asyncio.get_running_loop().time() + FIRST_CAPTION_TIMEOUT + 120
        while asyncio.get_running_loop().time() < deadline:
            try:
                raw = await asyncio.wait_for(
                    ws.recv(), timeout=QUIET if got else FIRST_CAPTION_TIMEOUT
                )
            except TimeoutError:
                if done is None or done.is_set():
                    return got
                continue
            message = json.loads(raw)
            if message["type"] == "subscribed":
                subscribed.set()
            elif message["type"] == "caption":
                got.append(message)
                on_caption(message)
    return got


def test_two_services_relay_the_same_captions_from_a_separate_worker(
    tmp_path: Path, outage_server: RedisServer, base_model_dir: str, model_cache: Path
) -> None:
    event_config, _ = write_config(tmp_path)
    with launcher(tmp_path, outage_server, model_cache) as start:
        relay(start, event_config)


def relay(start: Start, event_config: Path) -> None:
    one, _ = serve(start, "serve-1", event_config, "--no-workers")
    two, _ = serve(start, "serve-2", event_config, "--no-workers")

    async def scenario() -> tuple[list[Message], list[Message], Process]:
        ready = [asyncio.Event(), asyncio.Event()]
        viewers = [
            asyncio.create_task(collect(ws_url(base), ev))
            for base, ev in zip((one, two), ready, strict=True)
        ]
        async with asyncio.timeout(30):
            await asyncio.gather(*(ev.wait() for ev in ready))
        worker = start(
            "worker", ["worker", "caption", "--channel", "en", "--config", str(event_config)]
        )
        first, second = await asyncio.gather(*viewers)
        return first, second, worker

    started = time.monotonic()
    first, second, worker = asyncio.run(scenario())
    print(f"\ncaptions relayed in {time.monotonic() - started:.1f} s")
    print(f"service 1: {len(first)} captions, finals {finals_of(first)}")
    print(f"service 2: {len(second)} captions, finals {finals_of(second)}")
    assert finals_of(first), f"no final caption:\n{worker.output()[-3000:]}"
    assert finals_of(first) == finals_of(second)
    seqs = [int(m["seq"]) for m in first]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert any(not m["final"] for m in first), "service 1 relayed no partial"
    assert any(not m["final"] for m in second), "service 2 relayed no partial"
    text = " ".join(t for _, t in finals_of(first)).lower()
    assert "fellow americans" in text


@dataclass
class RestartRun:
    """What one replay through a Redis kill and restart showed."""

    seen: list[tuple[str, Message]] = field(default_factory=list)  # (phase, caption)
    outage: list[tuple[float, int, dict[str, float]]] = field(default_factory=list)
    ready_again_after: float = -1.0  # seconds from the restart to /readyz 200
    running_during_outage: bool = False
    running_at_end: bool = False
    ready_at_end: int = 0
    log: str = ""
    stream: list[Message] = field(default_factory=list)  # the new Redis stream, at the end
    resumed_after: float = -1.0  # seconds from the restart to the viewer's next caption

    def captions(self, phase: str) -> list[Message]:
        return [m for p, m in self.seen if p == phase]


@pytest.fixture(scope="module")
def restart_run(
    tmp_path_factory: pytest.TempPathFactory, base_model_dir: str, model_cache: Path
) -> Iterator[RestartRun]:
    """``companion serve`` (with its captioner) and a viewer; Redis killed after a final.

    Redis is down ~3 s (``/readyz`` and the bus figures polled meanwhile), then a new,
    empty redis-server starts on the same port; the viewer reads until the captioner has
    finished the recording and the viewer holds the new stream's last caption.
    """
    import redis

    directory = tmp_path_factory.mktemp("redis-restart")
    event_config, event_id = write_config(directory)
    outage_server = RedisServer()
    outage_server.start()
    run = RestartRun()
    try:
        with launcher(directory, outage_server, model_cache) as start:
            base, service = serve(start, "serve", event_config)
            stream = f"{event_id}:captions:en"
            asyncio.run(_restart_scenario(base, service, outage_server, stream, run))
            run.running_at_end = service.running
            run.ready_at_end = http_status(base + "/readyz")
            metrics = bus_metrics(base)
            with urllib.request.urlopen(base + "/api/state", timeout=5) as response:
                state = json.loads(response.read())
            with redis.Redis.from_url(outage_server.url, decode_responses=True) as client:
                entries = client.xrange(stream)
            run.stream = [
                {**json.loads(f["data"]), "seq": int(i.split("-")[0])} for i, f in entries
            ]
        run.log = service.output()
    finally:
        outage_server.stop()
    print("\nduring the outage (t, /readyz, bus figures from /metrics):")
    for row in run.outage:
        print("  ", row)
    print(f"/readyz 200 again {run.ready_again_after:.1f} s after the restart")
    print(f"the viewer's next caption {run.resumed_after:.1f} s after the restart")
    print("bus figures at the end:", metrics)
    print("captioner state:", state["state"].get("captioner:en"))
    for phase in ("before", "down", "after"):
        print(f"viewer finals {phase}:", finals_of(run.captions(phase)))
    print("viewer captions (phase, seq, final):", [(p, m["seq"], m["final"]) for p, m in run.seen])
    print("new Redis stream finals:", finals_of(run.stream))
    yield run


async def _restart_scenario(
    base: str, service: Process, outage_server: RedisServer, stream: str, run: RestartRun
) -> None:
    phase = ["before"]
    subscribed, first_final, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    up_at = 0.0

    def on_caption(message: Message) -> None:
        run.seen.append((phase[0], message))
        if message["final"]:
            first_final.set()
        if phase[0] == "after" and run.resumed_after < 0:
            run.resumed_after = round(loop.time() - up_at, 2)

    viewer = asyncio.create_task(collect(ws_url(base), subscribed, on_caption, done))
    async with asyncio.timeout(FIRST_CAPTION_TIMEOUT):
        await first_final.wait()
    await asyncio.to_thread(outage_server.stop)
    phase[0] = "down"
    down_at = loop.time()
    while loop.time() - down_at < 3.0:
        status = await asyncio.to_thread(http_status, base + "/readyz")
        figures = await asyncio.to_thread(bus_metrics, base)
        run.outage.append((round(loop.time() - down_at, 2), status, figures))
        await asyncio.sleep(0.2)
    run.running_during_outage = service.running
    await asyncio.to_thread(outage_server.start)
    phase[0] = "after"
    up_at = loop.time()
    while await asyncio.to_thread(http_status, base + "/readyz") != 200:
        if loop.time() - up_at > 30 or not service.running:
            break
        await asyncio.sleep(0.1)
    else:
        run.ready_again_after = round(loop.time() - up_at, 2)
    # The viewer reads until the captioner has finished the recording (the new stream
    # stops growing) and it holds the stream's last caption, or a while has passed.
    tip = await _settled_tip(outage_server.url, stream)
    deadline = loop.time() + 20.0
    while loop.time() < deadline and max((int(m["seq"]) for _, m in run.seen), default=0) < tip:
        await asyncio.sleep(0.05)
    done.set()
    await viewer


async def _settled_tip(url: str, stream: str) -> int:
    """The seq of the stream's last entry once it has not changed for ``QUIET`` seconds."""
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        tip, since = -1, loop.time()
        deadline = since + 60.0
        while loop.time() - since < QUIET and loop.time() < deadline:
            last = await client.xrevrange(stream, count=1)
            seq = int(last[0][0].split("-")[0]) if last else 0
            if seq != tip:
                tip, since = seq, loop.time()
            await asyncio.sleep(0.2)
        return tip
    finally:
        await client.aclose()


def test_a_redis_restart_during_a_replay_is_survived(restart_run: RestartRun) -> None:
    run = restart_run
    assert run.running_during_outage and run.running_at_end, f"the service exited:\n{run.log}"
    assert "captioner en stopped" not in run.log, "the captioner stopped"
    assert any(status == 503 for _, status, _ in run.outage), "/readyz stayed 200 while down"
    assert run.ready_again_after >= 0, "/readyz did not come back to 200 after the restart"
    assert run.ready_at_end == 200
    assert finals_of(run.captions("before")), "no final before the outage"
    assert finals_of(run.captions("after")), "no final after Redis came back"


def test_a_redis_restart_loses_no_caption_for_a_connected_viewer(restart_run: RestartRun) -> None:
    after = [(m["seq"], m["final"], m["text"]) for m in restart_run.captions("after")]
    stream = [(m["seq"], m["final"], m["text"]) for m in restart_run.stream]
    assert after == stream, "captions published after the restart did not all reach the viewer"
