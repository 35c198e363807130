"""``companion bench drill``: kill every kind of process in turn, and count what it cost.

On this machine the drill starts a Redis of its own with append-only persistence, two
service replicas (``serve --no-workers``), a captioner replaying a recording live in a
loop, the archiver, a poster against an ingestion endpoint of its own
(``drill_parts.Ingest``) and ``viewers`` websocket viewers, half on each replica, that
reconnect with ``resume`` (``drill_viewers``). Then, acting as the supervisor (a
restart policy), it SIGKILLs each kind in turn (``KINDS``), Redis last, starts it again
at once, and times how long until it does its job again:

* a replica: its ``/readyz`` answers 200;
* the captioner: its first caption (partial or final) is in the stream (its next final
  is timed too);
* the archiver: it says ``writing`` in its health document (its next final archived
  is timed too);
* the poster: it holds the channel again (its report is active, under a new instance;
  the endpoint's next post is timed too);
* Redis (started again ``redis_down`` seconds after the kill, as a restart policy
  with a delay would: meanwhile the others buffer and retry): it answers PING, having
  reloaded its AOF, and both replicas are ready again; timed from its start.

Between two kills everything runs ``seconds_between`` seconds. At the end the captioner
is stopped, the rest drain, and ``drill_count`` holds each stage against the truth: the
channel's stream in Redis. A child that exits on its own is started again and counted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench import drill_count
from bench.drill_parts import (
    DEFAULT_RECORDING,
    Child,
    Ingest,
    RedisProcess,
    child_env,
    event_config_text,
    free_port,
    stop_all,
)
from bench.drill_probes import Check, Probes, timed
from bench.drill_viewers import follow
from companion.bus.redis import RedisBus
from companion.transcripts.files import ArchiveFiles
from workers.poster import caption_url_env
from workers.poster.format import postable

CHANNEL = "en"
KINDS = ("replica-1", "replica-2", "captioner", "archiver", "poster", "redis")
READY_TIMEOUT = 120.0  # the first start: the captioner loads its model
BACK_TIMEOUT = 120.0  # past this a process is reported as not back
DRAIN_TIMEOUT = 60.0
SUPERVISE_EVERY = 0.2

Progress = Callable[[str], None]


def run_drill(
    viewers: int = 50,
    seconds_between: float = 12.0,
    recording: Path | None = None,
    keep: bool = False,
    model: str = "base",
    redis_down: float = 2.0,
    progress: Progress = lambda line: None,
) -> dict[str, Any]:
    """Run the drill in a temporary directory (kept with ``keep``); the report."""
    directory = Path(tempfile.mkdtemp(prefix="companion-drill-"))
    try:
        drill = Drill(directory, recording or DEFAULT_RECORDING, model, redis_down, progress)
        report = asyncio.run(drill.run(viewers, seconds_between))
        report["directory"] = str(directory) if keep else None
        return report
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


class Drill:
    """The processes, the endpoint and the viewers of one drill."""

    def __init__(
        self, directory: Path, recording: Path, model: str, redis_down: float, progress: Progress
    ) -> None:
        self.directory = directory
        self.redis_down = redis_down
        self.event_id = f"drill-{uuid.uuid4().hex[:10]}"
        self.config = directory / "event.toml"
        self.config.write_text(
            event_config_text(self.event_id, recording.resolve(), directory / "archive", model)
        )
        self.archive = ArchiveFiles(directory / "archive", self.event_id)
        self.redis = RedisProcess(directory / "redis", directory / "redis.log")
        self.ingest = Ingest()
        self.children: dict[str, Child] = {}
        self.ports = (free_port(), free_port())
        self.exited: Counter[str] = Counter()
        self.stopping: set[str] = set()  # told to stop: not to be started again
        self.say = progress
        self.logs: list[drill_count.ViewerLog] = []

    async def run(self, viewers: int, seconds_between: float) -> dict[str, Any]:
        """Start everything, run the faults, count; stop every child whatever happens."""
        runner = web.AppRunner(self.ingest.app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ingest_url = f"http://127.0.0.1:{runner.addresses[0][1]}/closedcaption"
            await asyncio.to_thread(self.redis.start)
            env = {"REDIS_URL": self.redis.url, caption_url_env(CHANNEL): ingest_url}
            self._make_children(child_env(os.environ, env))
            bus = RedisBus(self.redis.url, namespace=self.event_id)
            await bus.start()
            try:
                async with aiohttp.ClientSession() as session:
                    probes = Probes(bus, session, self.archive, self.ports, CHANNEL)
                    return await self._drill(probes, session, viewers, seconds_between)
            finally:
                await bus.close()
        finally:
            self.stopping.update(self.children)
            stop_all(list(self.children.values()))  # blocking: Ctrl-C cannot cut it short
            self.redis.kill()
            await runner.cleanup()

    def _make_children(self, env: dict[str, str]) -> None:
        config = ["--config", str(self.config)]
        args = {
            "replica-1": ["serve", "--no-workers", "--port", str(self.ports[0]), *config],
            "replica-2": ["serve", "--no-workers", "--port", str(self.ports[1]), *config],
            "archiver": ["worker", "archive", *config],
            "poster": ["worker", "post", "--channel", CHANNEL, *config],
            "captioner": ["worker", "caption", "--channel", CHANNEL, "--loop", *config],
        }
        for kind, argv in args.items():
            self.children[kind] = Child(kind, argv, env, self.directory / f"{kind}.log")

    async def _drill(
        self, probes: Probes, session: aiohttp.ClientSession, viewers: int, between: float
    ) -> dict[str, Any]:
        self.say(f"drill {self.event_id} in {self.directory}")
        for kind in ("replica-1", "replica-2", "archiver", "poster"):
            self.children[kind].start()
        await self._until(probes.both_ready, "the replicas")
        await self._until(lambda: probes.archiver_writing(0.0), "the archiver")
        await self._until(lambda: probes.poster_active(""), "the poster")
        urls = [f"http://127.0.0.1:{port}/ws/viewer" for port in self.ports]
        self.logs = [drill_count.ViewerLog() for _ in range(viewers)]
        joined = [asyncio.Event() for _ in range(viewers)]
        tasks = [
            asyncio.create_task(follow(urls, i % 2, CHANNEL, log, ev, session))
            for i, (log, ev) in enumerate(zip(self.logs, joined, strict=True))
        ]
        tasks.append(asyncio.create_task(self._supervise()))
        try:
            await self._until(lambda: all(e.is_set() for e in joined), f"{viewers} viewers")
            self.children["captioner"].start()
            await self._until(lambda: probes.final_after(0), "the captioner's first final")
            self.say(f"all up; {between:g} s of steady running between kills")
            await asyncio.sleep(between)
            back: dict[str, dict[str, Any]] = {}
            for kind in KINDS:
                self.say(f"SIGKILL {kind}")
                back[kind] = await (
                    self._redis_fault(probes) if kind == "redis" else self._fault(kind, probes)
                )
                self.say(f"{kind}: {back[kind]}")
                await asyncio.sleep(between)
            self.stopping.add("captioner")
            await asyncio.to_thread(self.children["captioner"].stop)
            drained = await self._drain(probes)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return await self._report(probes, back, drained)

    async def _supervise(self) -> None:
        """The restart policy: a child that exits on its own is started again, counted."""
        while True:
            for kind, child in self.children.items():
                if child.starts and not child.running and kind not in self.stopping:
                    status = child.proc.returncode if child.proc else None
                    self.exited[kind] += 1
                    self.say(f"{kind} exited on its own (status {status}); starting it again")
                    child.start()
            await asyncio.sleep(SUPERVISE_EVERY)

    # -- one fault ----------------------------------------------------------------

    async def _fault(self, kind: str, probes: Probes) -> dict[str, Any]:
        """SIGKILL one companion process, start it again at once, time its return."""
        child = self.children[kind]
        before_seq = await probes.last_seq()
        before_archived = len(probes.archived())
        old_poster = await probes.poster_instance()
        wall = time.time()
        child.kill()
        child.start()  # at once: no await between, so the supervisor never sees it down
        t0 = time.monotonic()

        async def since(check: Check) -> float | None:
            return await timed(t0, check, BACK_TIMEOUT)

        if kind.startswith("replica"):
            return {"back_s": await since(lambda: probes.ready(int(kind[-1]) - 1))}
        if kind == "captioner":
            return {
                "back_s": await since(lambda: probes.event_after(before_seq)),
                "next_final_s": await since(lambda: probes.final_after(before_seq)),
            }
        if kind == "archiver":
            return {
                "back_s": await since(lambda: probes.archiver_writing(wall)),
                "next_archived_s": await since(lambda: len(probes.archived()) > before_archived),
            }
        return {
            "back_s": await since(lambda: probes.poster_active(old_poster)),
            "next_post_s": await since(lambda: bool(self.ingest.after(t0))),
        }

    async def _redis_fault(self, probes: Probes) -> dict[str, Any]:
        """SIGKILL Redis, start it again after ``redis_down`` s on the same port and
        directory (it reloads its AOF); time PING and both replicas' readiness."""
        before = await probes.stream()
        self.redis.kill()
        await asyncio.sleep(self.redis_down)  # a restart policy's delay: the others buffer
        t0 = time.monotonic()
        await asyncio.to_thread(self.redis.start)
        answered = round(time.monotonic() - t0, 2)
        both = await timed(t0, probes.both_ready, BACK_TIMEOUT)
        after = await probes.stream()
        return {
            "down_s": self.redis_down,
            "back_s": both,
            "ping_s": answered,
            "stream_kept_by_aof": {e.seq for e in before} <= {e.seq for e in after},
        }

    # -- the end ------------------------------------------------------------------

    async def _drain(self, probes: Probes) -> bool:
        """Wait until the viewers, the archive and the poster have the last final."""
        events = await probes.stream()
        last = events[-1].seq if events else 0
        finals = {e.seq for e in events if e.final}
        last_postable = max((e.seq for e in events if postable(e)), default=0)

        async def done() -> bool:
            doc = await probes.report(f"poster:{CHANNEL}")
            posted = int(doc.get("last_event", 0)) >= last_postable and not doc.get("pending")
            archived = finals <= set(probes.archived())
            return posted and archived and all((log.last or 0) >= last for log in self.logs)

        return await timed(time.monotonic(), done, DRAIN_TIMEOUT) is not None

    async def _report(
        self, probes: Probes, back: dict[str, dict[str, Any]], drained: bool
    ) -> dict[str, Any]:
        events = await probes.stream()
        finals = [e.seq for e in events if e.final]
        expected = drill_count.expected_posts(events)
        posts = [(r.seq, r.cues) for r in self.ingest.received]
        report: dict[str, Any] = {
            "event": self.event_id,
            "stream": drill_count.stream_figures(events),
            "archive": drill_count.archive_figures(finals, probes.archived()),
            "posted": drill_count.post_figures(expected, posts),
            "viewers": drill_count.viewer_figures(finals, self.logs),
            "back": back,
            "exited": dict(self.exited),
            "drained": drained,
            "tracebacks": {k: c.tracebacks() for k, c in self.children.items()},
        }
        reasons = drill_count.verdict(report)
        if not drained:
            reasons.append(f"not everything drained within {DRAIN_TIMEOUT:g} s")
        report["target_met"] = not reasons
        report["reasons"] = reasons
        return report

    async def _until(self, check: Check, what: str) -> None:
        if await timed(time.monotonic(), check, READY_TIMEOUT) is None:
            logs = ", ".join(str(c.log_path) for c in self.children.values())
            raise RuntimeError(f"{what} did not start within {READY_TIMEOUT:g} s (logs: {logs})")
