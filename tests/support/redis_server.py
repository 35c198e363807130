"""A private redis-server for tests: a free port, readiness by PING, kill and restart.

By default it keeps nothing on disk (a throwaway store); ``options`` are more
``redis-server`` arguments, given after the defaults so that they win (the compose
file's ``--appendonly yes --appendfsync always --dir …``, in tests/test_topology.py).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import IO

from bench.drill_parts import answers_ping, free_port

TIMEOUT = 20.0


class RedisServer:
    """One private redis-server that a test may kill and start again on the same port."""

    def __init__(self, options: Sequence[str] = ()) -> None:
        self.options = list(options)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None  # what redis-server says, for a failure

    def start(self) -> None:
        if self._output is not None:
            self._output.close()
        self._output = output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                *self.options,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + TIMEOUT
        while not answers_ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                output.seek(0)
                said = output.read().decode(errors="replace").strip()[-1500:]
                self.stop()
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start: {said or 'it said nothing'}"
                )
            time.sleep(0.02)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self._output is not None:
            self._output.close()
            self._output = None
