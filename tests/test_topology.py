"""deploy/compose.yaml run as plain processes, a replay through it end to end.

This machine has no container engine: tests/test_compose.py checks the file against
the CLI and the docs, this test runs it. It reads the file and starts what each of its
services runs, mapped onto this machine (``topology``), every profile on:

* a service built from the repository's image runs its ``command`` as
  ``python -m cli <command>``, on loopback and a free port where it has ``--host`` and
  ``--port``. Its ``environment`` is mapped (``REDIS_URL``: the test's Redis;
  ``COMPANION_ARCHIVE_DIR``: one directory of the test's, shared as the ``archive``
  volume is) and its ``env_file`` is the test's own (``companion_env``, in the names
  of deploy/companion.env.example): the event config, the sources (recordings, played
  once at speed 1), the tokens and each channel's caption ingestion URL, a fake
  YouTube endpoint (``bench.drill_parts.Ingest``);
* ``redis`` (an image) is tests/support/redis_server.py with the compose command's
  arguments (append-only, ``appendfsync always``; ``--dir``: the test's directory);
* ``nginx`` (an image) is tests/support/nginx.py: the shipped nginx.conf with
  deploy/compose/upstream.conf's replicas at their loopback ports.

A service, a companion command or a variable with no mapping here fails the test, so
the file cannot grow a part this test does not run.

The event (``CONFIG``): the floor speaks English, jfk.flac; booth-ko interprets into
Korean (ko_walk.wav twice) with ko-1 live; booth-en (en_quilter.wav) has en-1 live but
its channel carries the floor, as the floor speaks its language. Compose starts
everything at once; here the captioners start last, once both replicas answer, the
interpreters are live (through nginx) and a viewer per channel is subscribed on each
replica and through nginx (the fault drill's viewers, ``bench/drill_viewers.py``), so
that every viewer is there from the first caption. When the captioners' recordings end
(they exit, status 0), what each stage got is held against the truth, the channels'
streams in Redis (``bench/drill_probes.py``, ``bench/drill_count.py``): every viewer
has every final of its channel in order, once, on one socket; the archive holds each
once (its files, and the export each replica serves); each poster posted each once;
en carries only the floor and ko only booth-ko; both replicas' /healthz and /readyz
answered 200 all along, their /readyz saw every captioner the file runs alive, and the
file's own health-check line passes against each.

Not covered: the images (the Dockerfile, the official redis and nginx images, nginx's
shell start line), TLS, the compose network and its names, restart policies, the
health checks' timings, the volumes' ownership.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from bench.drill_count import ViewerLog, expected_posts, post_figures
from bench.drill_parts import Child, Ingest, child_env, free_port, stop_all
from bench.drill_probes import Probes
from bench.drill_viewers import follow
from companion.bus.redis import RedisBus
from companion.captions import CaptionEvent
from companion.transcripts.files import ArchiveFiles
from companion.transcripts.programme import UNSCHEDULED
from tests.support.compose_file import DEPLOY, argv, services
from tests.support.nginx import CONF, nginx_in_front
from tests.support.paths import REPO, data
from tests.support.redis_server import RedisServer
from tests.support.waiting import until
from workers.poster.format import postable

STARTED_WITHIN = 90.0  # the replicas, the archiver and the posters, on 2 busy cores
REPLAYED_WITHIN = 180.0  # three captioners load the model and decode at once
DRAINED_WITHIN = 60.0
HEALTH_EVERY = 0.5

CONFIG = """\
[event]
id = "{event_id}"
[captioner]
glossary = "{glossary}"
[floor]
languages = ["ko", "en"]
language = "en"
[[channels]]
id = "ko"
language = "ko"
[[channels]]
id = "en"
language = "en"
[[booths]]
id = "booth-en"
channel = "en"
interpreters = [{{ id = "en-1" }}, {{ id = "en-2" }}]
[[booths]]
id = "booth-ko"
channel = "ko"
interpreters = [{{ id = "ko-1" }}, {{ id = "ko-2" }}]
"""
IMAGES = {"redis", "nginx"}  # the services not built from the repository: stand-ins here
ROLES = ("replica", "caption", "archive", "post")  # the companion commands mapped here
CARRIES = {"en": "floor", "ko": "booth-ko"}  # each channel's source, as the event runs
LIVE = ("ko-1", "en-1")  # go live before the captioners start


# ---------------------------------------------------------------- the mapping


@dataclass
class Topology:
    """What the compose file's services become on this machine."""

    redis_options: list[str]
    upstreams: list[str]  # nginx's upstream.conf: replica services, in its order
    companions: dict[str, list[str]]  # service -> its `companion` arguments, mapped
    environment: dict[str, dict[str, str]]  # service -> its environment, mapped
    volumes: dict[str, list[str]]  # service -> its volumes, as the file gives them
    ports: dict[str, int] = field(default_factory=dict)  # replica service -> its port

    def role(self, service: str) -> str:
        return role(self.companions[service])


def role(args: list[str]) -> str:
    """What a companion service is, by its command: the test knows what to ask of these."""
    if args[:1] == ["serve"] and "--no-workers" in args:
        return "replica"
    for kind in ("caption", "archive", "post"):
        if args[:2] == ["worker", kind]:
            return kind
    raise AssertionError(f"no mapping for `companion {' '.join(args)}`")


def topology(found: dict[str, dict[str, Any]], directory: Path) -> Topology:
    """The services ``found`` in the file, mapped (the ports not chosen yet: ``place``)."""
    images = {name for name, s in found.items() if "build" not in s}
    assert images == IMAGES, f"no mapping for the services from an image {images - IMAGES}"
    assert argv(found["redis"])[0] == "redis-server"
    redis_options = argv(found["redis"])[1:]
    (directory / "redis").mkdir(exist_ok=True)
    redis_options[redis_options.index("--dir") + 1] = str(directory / "redis")
    nginx_mounts = {
        Path(v.split(":")[1]).name: DEPLOY / v.split(":")[0] for v in found["nginx"]["volumes"]
    }
    assert nginx_mounts["nginx.conf"].resolve() == CONF.resolve()
    upstream = nginx_mounts["upstream.conf"].read_text(encoding="utf-8")
    upstreams = re.findall(r"^server\s+([\w.-]+):\d+;", upstream, re.M)
    companions, environment, volumes = {}, {}, {}
    for name, service in found.items():
        if name in images:
            continue
        line = argv(service)
        assert line[0] == "companion", name
        companions[name] = line[1:]
        role(line[1:])  # fails for a command with no mapping
        assert service.get("env_file") == "companion.env", name
        unknown = set(service.get("environment") or {}) - {"REDIS_URL", "COMPANION_ARCHIVE_DIR"}
        assert not unknown, f"{name}: no mapping for {unknown}"
        assert urlsplit(service["environment"]["REDIS_URL"]).hostname == "redis", name
        environment[name] = dict(service["environment"])
        volumes[name] = list(service.get("volumes") or [])
    return Topology(redis_options, upstreams, companions, environment, volumes)


def place(top: Topology, redis_port: int, directory: Path) -> None:
    """Loopback and a free port for each replica; the environment onto this machine:
    Redis's address (its database kept), a container's directory where it lies here."""
    for name, args in top.companions.items():
        if role(args) == "replica":
            top.ports[name] = free_port()
            args[args.index("--host") + 1] = "127.0.0.1"
            args[args.index("--port") + 1] = str(top.ports[name])
        env = top.environment[name]
        redis = urlsplit(env["REDIS_URL"])._replace(netloc=f"127.0.0.1:{redis_port}")
        env["REDIS_URL"] = redis.geturl()
        if "COMPANION_ARCHIVE_DIR" in env:
            inside = env["COMPANION_ARCHIVE_DIR"]
            env["COMPANION_ARCHIVE_DIR"] = str(here(name, top.volumes[name], inside, directory))


def here(service: str, volumes: list[str], inside: str, directory: Path) -> Path:
    """Where ``inside`` (a path in ``service``'s container) lies here: in its named
    volume's directory when one is mounted over it (shared, as the volume is), else in
    a directory of that container's own."""
    for volume in volumes:
        source, target = volume.split(":")[:2]
        if inside == target or inside.startswith(target.rstrip("/") + "/"):
            assert not source.startswith((".", "/")), f"{service}: no mapping for {volume}"
            return directory / "volumes" / source / Path(inside).relative_to(target)
    return directory / "containers" / service / inside.lstrip("/")


def example_names() -> set[str]:
    """The variables deploy/companion.env.example names (commented ones too)."""
    text = (DEPLOY / "companion.env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))


def companion_env(
    config: Path, booth_ko: Path, tokens: dict[str, str], ingest: dict[str, str]
) -> dict[str, str]:
    """The test's deploy/companion.env."""
    env = {
        "COMPANION_CONFIG": str(config),
        "COMPANION_ORGANIZER_TOKEN": tokens["organizer"],
        "COMPANION_SOURCE_FLOOR": data("jfk.flac"),
        "COMPANION_SOURCE_BOOTH_EN": data("en_quilter.wav"),
        "COMPANION_SOURCE_BOOTH_KO": str(booth_ko),
    }
    for interpreter in ("en-1", "en-2", "ko-1", "ko-2"):
        env["COMPANION_TOKEN_" + interpreter.upper().replace("-", "_")] = tokens[interpreter]
    for channel, url in ingest.items():
        env[f"COMPANION_CAPTION_URL_{channel.upper()}"] = url
    assert set(env) <= example_names(), set(env) - example_names()
    return env


def write_booth_ko(path: Path) -> None:
    """ko_walk.wav twice, 1.5 s apart: two Korean finals at least, in 9 s."""
    import numpy as np

    from bench.compose import write_wav
    from workers.captioner.audio import SAMPLE_RATE, decode_file

    walk = decode_file(data("ko_walk.wav"))
    gap = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)
    write_wav(path, np.concatenate([walk, gap, walk]))


# ---------------------------------------------------------------- the run


@contextlib.asynccontextmanager
async def endpoint(ingest: Ingest, channel: str) -> AsyncIterator[str]:
    """``ingest`` on a free loopback port; its URL, shaped as YouTube gives one."""
    runner = web.AppRunner(ingest.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/closedcaption?cid=test-{channel}"
    finally:
        await runner.cleanup()


async def answers(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a GET; 0 and {} when nothing answers."""
    try:
        async with session.get(url) as response:
            return response.status, await response.json()
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return 0, {}


@dataclass
class Health:
    """What the replicas' /healthz and /readyz answered, sampled all along."""

    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    alive: dict[str, set[str]] = field(default_factory=dict)  # replica -> captioners seen alive

    async def sample(self, session: aiohttp.ClientSession, bases: dict[str, str]) -> None:
        while True:
            for name, base in bases.items():
                for path in ("/healthz", "/readyz"):
                    status, body = await answers(session, base + path)
                    self.statuses[name, path, status] += 1
                    seen = self.alive.setdefault(name, set())
                    seen |= {c for c, s in body.get("captioners", {}).items() if s == "alive"}
            await asyncio.sleep(HEALTH_EVERY)


def healthcheck(service: str, port: int) -> int:
    """The exit status of the compose file's health check of ``service``, run here
    against ``port``: the python line the container runs."""
    found = services()[service]
    test = found["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], test
    internal = argv(found)[argv(found).index("--port") + 1]
    line = [arg.replace(f"127.0.0.1:{internal}/", f"127.0.0.1:{port}/") for arg in test[2:]]
    assert line != test[2:], f"{service}'s health check does not ask port {internal}"
    return subprocess.run([sys.executable, *line], timeout=10, check=False).returncode


@dataclass
class Outcome:
    """What each stage got, read at the end (the processes still up)."""

    streams: dict[str, list[CaptionEvent]]  # the truth: each channel's stream in Redis
    archived: dict[str, list[int]]  # the seq of every caption line in the archive files
    exports: dict[tuple[str, str], list[int]]  # (channel, replica) -> the export's seqs
    exits: dict[str, int | None]  # the captioners' exit statuses
    exited: list[str]  # other services that exited on their own
    checks: dict[str, int]  # replica -> the file's health check's exit status
    took: float = 0.0


class Run:
    """The processes, endpoints and viewers of one run of the topology."""

    def __init__(self, directory: Path, model_cache: Path) -> None:
        self.directory = directory
        self.top = topology(services(), directory)
        self.redis = RedisServer(self.top.redis_options)
        place(self.top, self.redis.port, directory)
        self.roles = {r: [n for n in self.top.companions if self.top.role(n) == r] for r in ROLES}
        archiver = self.top.environment[self.roles["archive"][0]]
        self.archive = Path(archiver["COMPANION_ARCHIVE_DIR"])  # what the archiver writes
        self.redis_url = archiver["REDIS_URL"]
        self.bases = {n: f"http://127.0.0.1:{p}" for n, p in self.top.ports.items()}
        self.event_id = f"topology-{uuid.uuid4().hex[:10]}"
        self.config = directory / "event.toml"
        glossary = REPO / "config" / "glossary.csv"
        self.config.write_text(CONFIG.format(event_id=self.event_id, glossary=glossary))
        write_booth_ko(directory / "booth-ko.wav")
        self.tokens = {w: uuid.uuid4().hex for w in ("organizer", "en-1", "en-2", "ko-1", "ko-2")}
        self.model_cache = model_cache
        self.ingests = {channel: Ingest() for channel in CARRIES}
        self.children: dict[str, Child] = {}
        self.viewers: dict[tuple[str, str], ViewerLog] = {}  # (channel, where) -> its log
        self.health = Health()

    async def play(self) -> Outcome:
        """Start everything, replay, drain, read each stage; stop everything whatever happens."""
        began = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            urls = {
                c: await stack.enter_async_context(endpoint(i, c)) for c, i in self.ingests.items()
            }
            stack.enter_context(self.redis)  # with the file's arguments
            stack.callback(lambda: stop_all(list(self.children.values())))  # blocking
            self.start_children(urls)
            upstreams = [f"127.0.0.1:{self.top.ports[name]}" for name in self.top.upstreams]
            nginx = stack.enter_context(nginx_in_front(self.directory, upstreams))
            bus = RedisBus(self.redis_url, namespace=self.event_id)
            await bus.start()
            stack.push_async_callback(bus.close)
            session = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            )
            tasks: list[asyncio.Task[None]] = []
            stack.push_async_callback(cancel, tasks)
            first, second = self.top.ports.values()
            files = ArchiveFiles(self.archive, self.event_id)
            probes = {c: Probes(bus, session, files, (first, second), c) for c in CARRIES}

            async def started() -> bool:
                ready = [
                    (await answers(session, b + "/readyz"))[0] == 200 for b in self.bases.values()
                ]
                active = [await p.poster_active("") for p in probes.values()]
                return all(ready + active) and await probes["en"].archiver_writing(0.0)

            await until(started, "the replicas, the archiver and the posters", STARTED_WITHIN, 0.2)
            tasks.append(asyncio.create_task(self.health.sample(session, self.bases)))
            await self.go_live(session, nginx.url)  # the consoles go through nginx
            subscribed = self.watch(session, nginx.url, tasks)
            await until(lambda: all(e.is_set() for e in subscribed), "the viewers", 30.0)
            for name in self.roles["caption"]:
                self.children[name].start()
            await until(self.replayed, "the recordings to end", REPLAYED_WITHIN, every=0.5)
            await until(lambda: self.drained(probes), "every stage to drain", DRAINED_WITHIN, 0.2)
            return Outcome(
                streams={c: await p.stream() for c, p in probes.items()},
                archived={c: p.archived() for c, p in probes.items()},
                exports={
                    (c, n): await self.export(session, base, c)
                    for c in CARRIES
                    for n, base in self.bases.items()
                },
                exits={n: exit_status(self.children[n]) for n in self.roles["caption"]},
                exited=[
                    n
                    for n, c in self.children.items()
                    if n not in self.roles["caption"] and not c.running
                ],
                checks={
                    n: await asyncio.to_thread(healthcheck, n, port)
                    for n, port in self.top.ports.items()
                },
                took=time.monotonic() - began,
            )

    def start_children(self, urls: dict[str, str]) -> None:
        """Every companion service as a process; the captioners' not started yet."""
        env_file = companion_env(self.config, self.directory / "booth-ko.wav", self.tokens, urls)
        image = {"COMPANION_CACHE_DIR": str(self.model_cache)}  # the Dockerfile's ENV
        for name, args in self.top.companions.items():
            env = child_env(os.environ, {**image, **env_file, **self.top.environment[name]})
            self.children[name] = Child(name, args, env, self.directory / f"{name}.log")
            if name not in self.roles["caption"]:
                self.children[name].start()

    async def go_live(self, session: aiohttp.ClientSession, via: str) -> None:
        for interpreter in LIVE:
            headers = {"Authorization": f"Bearer {self.tokens[interpreter]}"}
            body = {"action": "go_live"}
            async with session.post(f"{via}/api/booths/actions", json=body, headers=headers) as r:
                assert r.status == 200, await r.text()

    def watch(
        self, session: aiohttp.ClientSession, nginx: str, tasks: list[asyncio.Task[None]]
    ) -> list[asyncio.Event]:
        """A viewer of each channel on each replica and one through nginx; each one's
        ``subscribed`` event."""
        subscribed = []
        for channel in CARRIES:
            for where, base in {**self.bases, "nginx": nginx}.items():
                log = self.viewers[channel, where] = ViewerLog()
                subscribed.append(asyncio.Event())
                url = base.replace("http", "ws", 1) + "/ws/viewer"
                viewer = follow([url], 0, channel, log, subscribed[-1], session)
                tasks.append(asyncio.create_task(viewer))
        return subscribed

    def replayed(self) -> bool:
        return not any(self.children[n].running for n in self.roles["caption"])

    async def drained(self, probes: dict[str, Probes]) -> bool:
        """Every channel's last final with every viewer, archived, and posted."""
        for channel, probe in probes.items():
            events = await probe.stream()
            finals = [e.seq for e in events if e.final]
            if not set(finals) <= set(probe.archived()):
                return False
            if any(log.finals[-1:] != finals[-1:] for log in self.logs(channel).values()):
                return False
            doc = await probe.report(f"poster:{channel}")
            last = max((e.seq for e in events if postable(e)), default=0)
            if int(doc.get("last_event", 0)) < last or doc.get("pending"):
                return False
        return True

    def logs(self, channel: str) -> dict[str, ViewerLog]:
        """The viewers of ``channel``, by where they watch."""
        return {where: log for (c, where), log in self.viewers.items() if c == channel}

    async def export(self, session: aiohttp.ClientSession, base: str, lang: str) -> list[int]:
        """The seqs of the service's JSON transcript of ``lang`` (an organizer's download)."""
        headers = {"Authorization": f"Bearer {self.tokens['organizer']}"}
        url = f"{base}/api/transcripts/{UNSCHEDULED}/{lang}.json"
        async with session.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        return [int(c["seq"]) for c in body["captions"]]

    def posts(self, channel: str, events: list[CaptionEvent]) -> dict[str, Any]:
        """``drill_count.post_figures`` of what ``channel``'s endpoint received."""
        received = [(r.seq, r.cues) for r in self.ingests[channel].received]
        return post_figures(expected_posts(events), received)


def exit_status(child: Child) -> int | None:
    return child.proc.returncode if child.proc is not None else None


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------- the tests


def test_every_service_of_the_file_is_mapped(tmp_path: Path) -> None:
    top = topology(services(), tmp_path)
    assert set(top.companions) | IMAGES == set(services())
    roles = Counter(top.role(name) for name in top.companions)
    assert roles == {"replica": 2, "caption": 3, "archive": 1, "post": 2}, roles
    assert sorted(top.upstreams) == sorted(n for n in top.companions if top.role(n) == "replica")
    assert top.redis_options[:4] == ["--appendonly", "yes", "--appendfsync", "always"]
    place(top, 1, tmp_path)
    for name, port in top.ports.items():
        args = top.companions[name]
        assert args[args.index("--port") + 1] == str(port)
        assert args[args.index("--host") + 1] == "127.0.0.1"
    assert {env["REDIS_URL"] for env in top.environment.values()} == {"redis://127.0.0.1:1/0"}
    # the archive volume: one directory for the archiver and the replicas
    archives = {n: e.get("COMPANION_ARCHIVE_DIR") for n, e in top.environment.items()}
    shared = {archives[n] for n in top.companions if top.role(n) in ("replica", "archive")}
    assert shared == {str(tmp_path / "volumes" / "archive")}, archives


@pytest.mark.parametrize(
    "change",
    [
        {"metrics": {"image": "prom/prometheus"}},  # a service from an image
        {"exporter": {"build": {}, "command": ["worker", "export"]}},  # a companion command
        {"archiver": {"build": {}, "command": ["worker", "archive"], "env_file": "companion.env",
                      "environment": {"REDIS_URL": "redis://redis:6379/0", "COMPANION_X": "1"}}},
    ],
)  # fmt: skip
def test_a_service_or_variable_without_a_mapping_fails(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    with pytest.raises(AssertionError, match="no mapping"):
        topology({**services(), **change}, tmp_path)


@pytest.mark.redis
@pytest.mark.model  # three captioners load the base model
@pytest.mark.nginx
@pytest.mark.slow  # ten processes
async def test_a_replay_reaches_every_viewer_the_archive_and_youtube_once(
    tmp_path: Path, base_model_dir: str, model_cache: Path
) -> None:
    run = Run(tmp_path, model_cache)
    out = await run.play()
    tracebacks = {n: c.tracebacks() for n, c in run.children.items()}
    print(summary(run, out, tracebacks))

    assert set(out.exits.values()) == {0}, out.exits  # each recording played to its end
    assert out.exited == []  # nothing else exited on its own
    assert tracebacks == dict.fromkeys(run.children, 0), tracebacks
    assert set(out.checks.values()) == {0}, out.checks
    assert (tmp_path / "redis" / "appendonlydir").is_dir()  # the file's --appendonly yes
    for channel, events in out.streams.items():
        finals = [e for e in events if e.final]
        seqs = [e.seq for e in finals]
        assert len(finals) >= 2, channel
        assert {e.source for e in finals} == {CARRIES[channel]}, (channel, finals)
        for where, log in run.logs(channel).items():
            assert log.finals == seqs, (channel, where)  # every final, in order
            assert log.seqs == sorted(set(log.seqs)) and not log.gaps, (channel, where)
            assert log.connects == 1, (channel, where)  # on one socket all along
        assert Counter(out.archived[channel]) == Counter(seqs), channel  # each final once
        for replica in run.bases:
            assert sorted(out.exports[channel, replica]) == sorted(seqs), (channel, replica)
        posted = run.posts(channel, events)
        assert posted["lost"] == [] and posted["duplicates"] == posted["not_in_stream"] == 0
        assert posted["finals_posted"] == len([e for e in finals if postable(e)]), posted
    for replica in run.bases:
        answered = {s for (n, _path, s) in run.health.statuses if n == replica}
        assert answered == {200}, run.health.statuses
        assert run.health.alive[replica] >= captioner_ids(run.top), run.health.alive


def captioner_ids(top: Topology) -> set[str]:
    """The captioners the file runs, as /readyz names them: ``floor`` or a booth id."""
    ids = set()
    for args in top.companions.values():
        if role(args) == "caption":
            ids.add("floor" if "--floor" in args else args[args.index("--booth") + 1])
    return ids


def summary(run: Run, out: Outcome, tracebacks: dict[str, int]) -> str:
    """The run in a few lines, for the record."""
    lines = [f"deploy/compose.yaml as processes: {', '.join(services())}; {out.took:.0f} s"]
    for channel, events in out.streams.items():
        finals = [e for e in events if e.final]
        sources = ", ".join(sorted({e.source for e in finals}))
        logs = run.logs(channel)
        viewers = ", ".join(f"{where} {len(log.finals)}" for where, log in logs.items())
        twice = sum(len(log.seqs) - len(set(log.seqs)) for log in logs.values())
        archived = Counter(out.archived[channel])
        exported = ", ".join(f"{n} {len(out.exports[channel, n])}" for n in run.bases)
        posted = run.posts(channel, events)
        lines.append(
            f"  {channel}: {len(finals)} finals published ({sources}) | viewers: {viewers}"
            f" (duplicates {twice}) | archived {len(archived)} (duplicates"
            f" {sum(n - 1 for n in archived.values())}) | export: {exported} | posted"
            f" {posted['finals_posted']} in {posted['posts']} posts (duplicates"
            f" {posted['duplicates']}, retries {posted['retries']})"
        )
    for replica in run.bases:
        statuses = run.health.statuses
        answered = ", ".join(
            f"{p} {s} x{k}" for (n, p, s), k in sorted(statuses.items()) if n == replica
        )
        alive = ", ".join(sorted(run.health.alive.get(replica, ())))
        lines.append(
            f"  {replica}: {answered}; captioners seen alive: {alive}; the file's health"
            f" check: exit {out.checks.get(replica)}"
        )
    lines.append(
        f"  captioners exited {sorted(set(out.exits.values()), key=str)}; tracebacks in the"
        f" logs: {sum(tracebacks.values())}"
    )
    return "\n".join(lines)
