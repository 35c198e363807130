"""End to end with interpretation: `companion serve --demo` with a floor and a booth.

The floor plays jfk.flac (English) while the floor is configured to start in Korean;
booth-ko plays ko_walk.wav (Korean "interpretation"). The floor captioner detects
English per utterance, publishes the floor's language, and the channels follow:
"en" carries the floor's own captions and "ko" the booth's. Real Whisper, a real
process, real websocket viewers.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO, data
from tests.support.serve_process import serve_process

pytestmark = [pytest.mark.model, pytest.mark.slow]  # `companion serve` subprocesses


@pytest.fixture
def service(tmp_path: Path, base_model_dir: str, model_cache: Path) -> Iterator[str]:
    config = (
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[floor]\nsource = "{data("jfk.flac")}"\nlanguage = "ko"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        f'[[booths]]\nid = "booth-ko"\nchannel = "ko"\nsource = "{data("ko_walk.wav")}"\n'
        'interpreters = [{ id = "park" }, { id = "choi" }]\n'
        '[[booths]]\nid = "booth-en"\nchannel = "en"\n'
        'interpreters = [{ id = "kim" }, { id = "lee" }]\n'
    )
    with serve_process(tmp_path, config, model_cache, ("--demo",)) as url:
        yield url


async def finals(url: str, channel: str, want: int, timeout: float = 90.0) -> list[dict[str, Any]]:
    """The first ``want`` final captions of ``channel``."""
    import websockets

    got: list[dict[str, Any]] = []
    async with websockets.connect(url.replace("http", "ws") + "/ws/viewer") as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "channel": channel}))
        async with asyncio.timeout(timeout):
            while len(got) < want:
                message = json.loads(await ws.recv())
                if message["type"] == "caption" and message["final"]:
                    got.append(message)
    return got


def test_channels_carry_the_floor_or_the_booth_by_the_floor_language(service: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await asyncio.gather(finals(service, "en", 4), finals(service, "ko", 2))

    english, korean = asyncio.run(scenario())
    assert {m["source"] for m in english} == {"floor"}
    assert {m["lang"] for m in english} == {"en"}
    assert "americans" in " ".join(m["text"] for m in english).lower()
    assert {m["source"] for m in korean} == {"booth-ko"}
    assert {m["lang"] for m in korean} == {"ko"}
    with urllib.request.urlopen(service + "/api/state", timeout=5) as r:
        state = json.loads(r.read())["state"]
    assert state["floor"]["lang"] == "en" and state["floor"]["by"] == "detected"
    assert state["channel:en"]["carries"] == "floor"
    assert state["channel:ko"]["carries"] == "booth-ko"
    assert state["booth:booth-ko"]["live"] == "park"  # the demo put the first one on air


def write_floor(path: Path, parts: list[str], gap: float = 1.5) -> None:
    """A floor recording: ``parts`` of ../shared/data one after another, ``gap`` s apart."""
    import wave

    import numpy as np

    from workers.captioner.audio import SAMPLE_RATE, decode_file

    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([x for part in parts for x in (decode_file(data(part)), silence)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.fixture
def switching(tmp_path: Path, base_model_dir: str, model_cache: Path) -> Iterator[str]:
    floor = tmp_path / "floor.wav"
    write_floor(floor, ["ko_walk.wav", "jfk.flac", "ko_walk.wav"])
    config = (
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[floor]\nsource = "{floor}"\nlanguage = "ko"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        f'[[booths]]\nid = "booth-en"\nchannel = "en"\nsource = "{data("en_quilter.wav")}"\n'
        'interpreters = [{ id = "kim" }, { id = "lee" }]\n'
        '[[booths]]\nid = "booth-ko"\nchannel = "ko"\n'
        'interpreters = [{ id = "park" }, { id = "choi" }]\n'
    )
    with serve_process(tmp_path, config, model_cache, ("--demo",)) as url:
        yield url


async def sources_until(url: str, channel: str, pattern: list[str], timeout: float) -> list[str]:
    """The ``source`` of each final of ``channel``, runs merged, until ``pattern`` ends them."""
    import websockets

    runs: list[str] = []
    async with websockets.connect(url.replace("http", "ws") + "/ws/viewer") as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "channel": channel}))
        async with asyncio.timeout(timeout):
            while runs[-len(pattern) :] != pattern:
                message = json.loads(await ws.recv())
                final = message["type"] == "caption" and message["final"]
                if final and (not runs or runs[-1] != message["source"]):
                    runs.append(message["source"])
    return runs


def test_the_en_channel_switches_from_the_booth_to_the_floor_and_back(switching: str) -> None:
    # Korean floor: "en" carries booth-en; then jfk.flac: the floor itself; then Korean
    # again: booth-en once more. The runs of sources the en viewer sees say so.
    pattern = ["booth-en", "floor", "booth-en"]
    runs = asyncio.run(sources_until(switching, "en", pattern, timeout=120.0))
    assert runs[-3:] == pattern and set(runs) <= {"booth-en", "floor"}
