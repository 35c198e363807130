"""A real `companion serve` process for end-to-end tests, ready when it is yielded."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

__all__ = ["free_port", "serve_process"]


@contextlib.contextmanager
def serve_process(
    directory: Path,
    config_text: str,
    model_cache: Path,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    ready_within: float = 60.0,
    redis_url: str | None = None,
) -> Iterator[str]:
    """Run `companion serve` on ``config_text`` until the block ends; yields its http URL.

    The in-memory bus (REDIS_URL removed), or the Redis at ``redis_url``; its output goes
    to ``directory/serve.log``, whose tail a failure to become ready shows.
    """
    config = directory / "event.toml"
    config.write_text(config_text, encoding="utf-8")
    port = free_port()
    full_env = {**os.environ, "COMPANION_CACHE_DIR": str(model_cache), **(env or {})}
    full_env.pop("REDIS_URL", None)
    if redis_url is not None:
        full_env["REDIS_URL"] = redis_url
    log_path = directory / "serve.log"
    command = [sys.executable, "-m", "cli", "serve", "--config", str(config)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port), *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + ready_within
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                out = log_path.read_text(errors="replace")
                pytest.fail(f"service did not become ready: {out[-2000:]}")
            time.sleep(0.1)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False
