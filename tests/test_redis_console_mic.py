"""End to end over Redis: the console microphone reaches a captioner in another process.

A real Redis, `companion serve --no-workers` (a replica that runs no captioner) and
`companion worker caption --booth booth-en` (the booth's source is ``console``), each a
process of its own. Kim goes live on the replica's API; the test plays kim's console,
sending jfk.flac as 16 kHz int16 PCM in 100 ms frames at real time to the replica's
/ws/booth-audio; the replica puts each frame on the booth's Redis stream, the worker
relays it into its captioner, whose captions come back through Redis to a viewer of
the "en" channel on the replica. Real Whisper, real processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.support.console_mic import console_scenario, recording_pcm, silent_wav
from tests.support.paths import REPO
from tests.support.redis_server import RedisServer
from tests.support.serve_process import serve_process
from tests.support.waiting import until_sync

# scripts/test installs redis-server; without it these tests fail, they are not skipped.
pytestmark = [pytest.mark.model, pytest.mark.redis, pytest.mark.slow]

KIM = "kim-console-token-0123456789"
WORKER_READY = 120.0  # the worker loads the model before its captioner reports


@contextmanager
def worker(config: Path, redis_url: str, model_cache: Path, log: Path) -> Iterator[None]:
    """`companion worker caption --booth booth-en` until the block ends (log in ``log``)."""
    env = {**os.environ, "COMPANION_CACHE_DIR": str(model_cache), "REDIS_URL": redis_url}
    args = ["worker", "caption", "--booth", "booth-en", "--config", str(config)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "-v", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def go_live(url: str) -> None:
    request = urllib.request.Request(
        url + "/api/booths/actions",
        data=json.dumps({"action": "go_live"}).encode(),
        headers={"Authorization": f"Bearer {KIM}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def captioner_alive(client: redis.Redis, event_id: str) -> bool:
    """The booth's captioner has reported (it follows the booth's audio from then on)."""
    doc = client.hget(f"{event_id}:state", "captioner:booth-en")
    return bool(doc) and bool(json.loads(doc)["value"].get("alive"))


def test_a_worker_elsewhere_captions_the_console_microphone(
    tmp_path: Path, base_model_dir: str, model_cache: Path
) -> None:
    event_id = f"mic-{uuid.uuid4().hex[:12]}"
    config_text = (
        f'[event]\nid = "{event_id}"\n'
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[floor]\nsource = "{silent_wav(tmp_path / "floor.wav")}"\nlanguage = "ko"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        '[[booths]]\nid = "booth-en"\nchannel = "en"\nsource = "console"\n'
        'interpreters = [{ id = "kim" }, { id = "lee" }]\n'
    )
    pcm = recording_pcm("jfk.flac")
    env = {"COMPANION_TOKEN_KIM": KIM}
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            with serve_process(
                tmp_path, config_text, model_cache, ("--no-workers",), env, redis_url=server.url
            ) as url:
                go_live(url)
                log = tmp_path / "worker.log"
                with worker(tmp_path / "event.toml", server.url, model_cache, log):
                    until_sync(
                        lambda: captioner_alive(client, event_id),
                        "the booth's captioner in the worker",
                        timeout=WORKER_READY,
                    )
                    finals, said = asyncio.run(console_scenario(url, KIM, pcm, "en", "country"))
                    frames_in_redis = client.xlen(f"{event_id}:audio:booth-en")
        finally:
            client.close()
    assert {m["source"] for m in finals} == {"booth-en"}, log.read_text()[-3000:]
    assert {m["lang"] for m in finals} == {"en"}
    assert "country" in " ".join(m["text"] for m in finals).lower()
    assert 0 < frames_in_redis <= 50  # the stream held a few seconds, no more
    levels = [m for m in said if m["type"] == "level"]
    assert levels and all(m["live"] for m in levels)
    assert not [m for m in said if m["type"] == "error"]
