"""The fault drill's parts: its own Redis, the companion processes it supervises, and a
caption ingestion endpoint that answers as YouTube's does (``bench/drill.py`` runs them).

* ``RedisProcess``: a ``redis-server`` on a free port with append-only persistence in a
  directory of its own, as production should run it; killed and started again on the
  same port and directory, it reloads its AOF.
* ``Child``: one ``companion`` command as a real process in a process group of its own,
  its output in a log file: SIGKILLed by the drill, started again with the same arguments.
* ``Ingest``: records every POST the poster makes (its ``seq`` and cues) and answers 200
  with a timestamp, as YouTube's caption ingestion does; a post whose ``seq`` it has
  accepted before is a retry, answered 200 and recorded as one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aiohttp import web

from workers.poster.format import timestamp

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RECORDING = REPO / "config" / "demo" / "jfk.flac"
GLOSSARY = REPO / "config" / "glossary.csv"
STOP_SECONDS = 20.0  # a child told to stop (SIGTERM) gets this long before SIGKILL
REDIS_START_SECONDS = 30.0
CUE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\n([^\n]*)\n")
KEPT_ENV = ("COMPANION_CACHE_DIR",)  # the model cache; every other COMPANION_ variable is dropped


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` without the ``COMPANION_`` variables that would change the drill's event
    (a source, an archive directory, a config), plus ``extra``."""
    env = {k: v for k, v in base.items() if not k.startswith("COMPANION_") or k in KEPT_ENV}
    env.pop("REDIS_URL", None)
    return {**env, **extra}


def event_config_text(event_id: str, recording: Path, archive: Path, model: str) -> str:
    """The drill's event: one channel ``en`` captioning ``recording``, archived under
    ``archive``, posting its captions to YouTube (with no delay)."""
    return (
        f'[event]\nid = "{event_id}"\n'
        f'[whisper]\nmodel = "{model}"\n'
        f'[captioner]\nglossary = "{GLOSSARY}"\n'
        f'[archive]\ndirectory = "{archive}"\n'
        f'[[channels]]\nid = "en"\nlanguage = "en"\nsource = "{recording}"\n'
        "youtube = { post_captions = true, caption_delay = 0.0 }\n"
    )


def answers_ping(port: int) -> bool:
    """Whether the redis-server on ``port`` of this machine answers PING with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """A private redis-server as production should run it: ``appendonly yes``,
    ``appendfsync always`` (docs/security.md, "Faults")."""

    def __init__(self, directory: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start it (again, on the same port and directory) and wait for PONG."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.directory),
                    "--appendonly", "yes",
                    "--appendfsync", "always",
                    "--save", "",
                    "--daemonize", "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + REDIS_START_SECONDS
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: see {self.log_path}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, and wait for it to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def answers(self) -> bool:
        """Whether it answers PING (loading its AOF, it answers ``-LOADING``: not yet)."""
        return answers_ping(self.port)


class Child:
    """One ``companion`` command as a process group of its own, restartable."""

    def __init__(self, kind: str, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.kind = kind
        self.args = args
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== start {self.starts + 1}: {' '.join(self.args)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "-v", *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole, never by Ctrl-C
        )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group, and wait for the process."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_SECONDS``."""
        stop_all([self])

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tracebacks(self) -> int:
        """How many tracebacks its log holds (every start of it)."""
        try:
            return self.log_path.read_text(errors="replace").count("Traceback (most recent")
        except OSError:
            return 0


def stop_all(children: Sequence[Child], grace: float = STOP_SECONDS) -> None:
    """SIGTERM every child's process group at once, wait up to ``grace`` seconds in all,
    then SIGKILL what is left. Blocking, so that no cancellation can cut it short."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        if child.proc is not None:
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                child.kill()
        child.close_log()


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it is gone already
        os.killpg(pid, signum)  # start_new_session: its group id is its pid


@dataclass(frozen=True)
class Received:
    """One POST to the ingestion endpoint: its ``seq``, its cues and when it came."""

    seq: int
    cues: tuple[tuple[str, str], ...]  # (timestamp, text); a heartbeat's text is ""
    at: float  # monotonic
    retry: bool  # a seq accepted before: YouTube takes it as a retry


@dataclass
class Ingest:
    """YouTube's caption ingestion, as far as the poster can tell: what it was sent."""

    received: list[Received] = field(default_factory=list)
    _accepted: set[int] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/closedcaption", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            seq = int(request.query["seq"])
        except (KeyError, ValueError):
            return web.Response(status=400, text="seq")
        body = (await request.read()).decode("utf-8")
        cues = tuple(CUE.findall(body))
        self.received.append(Received(seq, cues, time.monotonic(), seq in self._accepted))
        self._accepted.add(seq)
        return web.Response(text=timestamp(time.time()))

    def after(self, t: float) -> list[Received]:
        """The posts received after monotonic time ``t``."""
        return [r for r in self.received if r.at > t]
