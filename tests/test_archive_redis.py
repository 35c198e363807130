"""The archiver as a real process on a real Redis: kill -9 at any moment loses nothing and
writes nothing twice; an archive that cannot be written holds everything unacknowledged.

A private ``redis-server`` (tests/support/outage_server.py), ``companion worker archive`` as a
subprocess, and publishers as subprocesses that publish through ``RedisBus`` the way
captioners do (finals and partials, two channels). The truth to compare with is what
the Redis streams hold at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis

from companion.bus.redis_link import RedisKeys, decode_entry
from companion.transcripts.files import ArchiveFiles
from tests.support.archive_config import config_text
from tests.support.paths import REPO
from tests.support.redis_server import RedisServer
from tests.support.waiting import until_sync

TIMEOUT = 40.0

PUBLISHER = """
import asyncio, sys, time
from companion.bus.redis import RedisBus
from companion.captions import CaptionEvent

async def main(url, namespace, prefix, count, rate):
    bus = RedisBus(url, namespace=namespace)
    await bus.start()
    for i in range(count):
        channel = ("ko", "en")[i % 2]
        final = i % 3 != 2
        await bus.publish(CaptionEvent(channel, 0, final, f"{prefix} {i}", channel,
                                       0.0, 1.0, 1.0, i, final, at=time.time()))
        await asyncio.sleep(1 / rate)
    await bus.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
"""


class Proc:
    """A subprocess with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO
        )

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._out.close()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._out.close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


class Setup:
    def __init__(self, tmp_path: Path, outage_server: RedisServer) -> None:
        self.tmp = tmp_path
        self.url = outage_server.url
        text = config_text(tmp_path / "archive")
        self.config = tmp_path / "event.toml"
        self.config.write_text(text)
        self.event_id = text.split('id = "', 1)[1].split('"', 1)[0]
        self.files = ArchiveFiles(tmp_path / "archive", self.event_id)
        self.env = {**os.environ, "REDIS_URL": self.url, "PYTHONUNBUFFERED": "1"}
        self.env.pop("COMPANION_ARCHIVE_DIR", None)
        self.client = redis.Redis.from_url(self.url, decode_responses=True)
        self.procs: list[Proc] = []

    def archiver(self) -> Proc:
        args = [
            sys.executable,
            "-m",
            "cli",
            "-v",
            "worker",
            "archive",
            "--config",
            str(self.config),
        ]
        proc = Proc(args, self.env, self.tmp / "archiver.log")
        self.procs.append(proc)
        return proc

    def publisher(self, prefix: str, count: int, rate: float) -> Proc:
        args = [
            sys.executable,
            "-c",
            PUBLISHER,
            self.url,
            self.event_id,
            prefix,
            str(count),
            str(rate),
        ]
        proc = Proc(args, self.env, self.tmp / f"publisher-{prefix}.log")
        self.procs.append(proc)
        return proc

    def finals_in_redis(self) -> set[tuple[str, int]]:
        keys = RedisKeys(self.event_id)
        out = set()
        for channel in ("ko", "en"):
            for entry_id, fields in self.client.xrange(keys.stream(channel)):
                event = decode_entry(entry_id, fields)
                if event.final:
                    out.add((channel, event.seq))
        return out

    def archived(self) -> list[tuple[str, int]]:
        """Every caption line on disk (duplicates would show twice)."""
        out = []
        for path in self.files.caption_files():
            for line in path.read_bytes().splitlines():
                data = json.loads(line)
                out.append((data["channel"], data["seq"]))
        return out

    def group(self, channel: str) -> dict[str, Any]:
        groups = self.client.xinfo_groups(RedisKeys(self.event_id).stream(channel))
        return next(g for g in groups if g["name"] == "archiver")

    def health(self) -> dict[str, Any]:
        raw = self.client.hget(RedisKeys(self.event_id).state, "archiver:health")
        return dict(json.loads(raw)["value"]) if raw else {}

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.client.close()


@pytest.fixture
def setup(tmp_path: Path, outage_server: RedisServer) -> Iterator[Setup]:
    s = Setup(tmp_path, outage_server)
    yield s
    s.close()


@pytest.mark.redis
@pytest.mark.slow  # archiver subprocesses, killed and restarted
def test_kill_9_at_any_moment_loses_and_duplicates_nothing(setup: Setup) -> None:
    rng = random.Random(7)
    archiver = setup.archiver()

    def kill_while_working() -> Proc:
        """Kill -9 the archiver a random moment after it has written something; restart it."""
        start = len(setup.archived())
        until_sync(
            lambda: len(setup.archived()) >= start + 10, "the archiver to write", timeout=TIMEOUT
        )
        time.sleep(rng.uniform(0.0, 0.3))
        archiver.kill9()
        return setup.archiver()

    first = setup.publisher("first", 4000, 250.0)
    for _ in range(4):
        archiver = kill_while_working()
    assert first.proc.poll() is None
    first.kill9()  # a captioner dies mid-stream, and another takes over
    second = setup.publisher("second", 600, 300.0)
    archiver = kill_while_working()
    assert second.wait(TIMEOUT) == 0

    expected = setup.finals_in_redis()
    assert len(expected) >= 400 + 40  # the second's 400 finals, and the first's until killed
    until_sync(
        lambda: set(setup.archived()) == expected,
        "every final in Redis to be archived",
        timeout=TIMEOUT,
    )
    archived = setup.archived()
    assert len(archived) == len(set(archived)), "a caption was written twice"
    until_sync(
        lambda: setup.group("ko")["pending"] == 0 == setup.group("en")["pending"],
        "acks",
        timeout=TIMEOUT,
    )
    assert setup.health()["status"] == "writing"
    texts = {c.text.split()[0] for c in setup.files.read_captions()}
    assert texts == {"first", "second"}


@pytest.mark.redis
@pytest.mark.slow  # an archiver subprocess
def test_an_unwritable_archive_stops_acknowledging_until_it_is_back(setup: Setup) -> None:
    setup.archiver()
    assert setup.publisher("before", 30, 200.0).wait(TIMEOUT) == 0
    until_sync(lambda: len(setup.archived()) == 20, "the first finals", timeout=TIMEOUT)
    event_dir = setup.files.event_dir
    aside = event_dir.with_name("aside")
    event_dir.rename(aside)
    event_dir.write_text("the disk is gone")
    assert setup.publisher("during", 30, 200.0).wait(TIMEOUT) == 0

    def held() -> bool:
        health = setup.health()
        return health.get("status") == "failing" and (
            setup.group("ko")["pending"] + setup.group("en")["pending"] > 0
        )

    until_sync(held, "the archiver to hold the captions unacknowledged", timeout=TIMEOUT)
    time.sleep(1.0)
    assert setup.health()["status"] == "failing" and "NotADirectoryError" in setup.health()["error"]
    assert setup.group("ko")["pending"] + setup.group("en")["pending"] > 0
    assert "ARCHIVE CANNOT WRITE" in (setup.tmp / "archiver.log").read_text()

    event_dir.unlink()
    aside.rename(event_dir)
    expected = setup.finals_in_redis()
    assert len(expected) == 40
    until_sync(lambda: set(setup.archived()) == expected, "the held finals", timeout=TIMEOUT)
    until_sync(
        lambda: setup.group("ko")["pending"] == 0 == setup.group("en")["pending"],
        "acks",
        timeout=TIMEOUT,
    )
    until_sync(
        lambda: setup.health().get("status") == "writing",
        "the health to say writing",
        timeout=TIMEOUT,
    )
    assert len(setup.archived()) == 40


def test_the_worker_needs_redis(tmp_path: Path) -> None:
    config = tmp_path / "event.toml"
    config.write_text(config_text(tmp_path / "archive"))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "cli", "worker", "archive", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2 and "REDIS_URL is not set" in result.stderr
