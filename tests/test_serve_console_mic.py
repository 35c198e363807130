"""End to end: a booth captioned from its interpreter's console microphone.

`companion serve --demo` with a silent floor (Korean) and booth-en whose source is
``console``; the demo puts kim on air. The test plays the console: it sends jfk.flac
as 16 kHz int16 PCM in 100 ms frames at real time to /ws/booth-audio, and a viewer
of the "en" channel gets the booth's final captions. Real Whisper, a real process.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.paths import REPO, data
from tests.support.serve_process import serve_process

pytestmark = [pytest.mark.model, pytest.mark.slow]  # `companion serve` subprocesses

KIM = "kim-console-token-0123456789"


def silent_wav(path: Path, seconds: float = 2.0) -> str:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(2 * int(16000 * seconds)))
    return str(path)


def jfk_pcm() -> bytes:
    from workers.captioner.audio import decode_file

    audio = decode_file(data("jfk.flac"))
    pcm: bytes = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return pcm


async def send_microphone(url: str, pcm: bytes) -> list[dict[str, Any]]:
    """Be kim's console: log in, send ``pcm`` at real time; what the server said back."""
    import websockets

    frame = 3200  # 100 ms
    said: list[dict[str, Any]] = []
    async with websockets.connect(url.replace("http", "ws") + "/ws/booth-audio") as ws:
        await ws.send(json.dumps({"type": "login", "token": KIM}))
        said.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        assert said[0]["type"] == "ready", said
        began = time.monotonic()
        for n, start in enumerate(range(0, len(pcm), frame)):
            await asyncio.sleep(max(0.0, began + n * 0.1 - time.monotonic()))
            await ws.send(pcm[start : start + frame])
        await ws.send(json.dumps({"type": "ping"}))
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "pong":
            said.append(message)
    return said


async def console_scenario(url: str, pcm: bytes) -> tuple[list[dict[str, Any]], list[Any]]:
    import websockets

    finals: list[dict[str, Any]] = []
    async with websockets.connect(url.replace("http", "ws") + "/ws/viewer") as viewer:
        await viewer.send(json.dumps({"type": "hello", "v": 1, "channel": "en"}))
        while json.loads(await asyncio.wait_for(viewer.recv(), 10))["type"] != "welcome":
            pass
        sender = asyncio.create_task(send_microphone(url, pcm))
        async with asyncio.timeout(150):
            while not any("country" in m["text"].lower() for m in finals):
                message = json.loads(await viewer.recv())
                if message["type"] == "caption" and message["final"]:
                    finals.append(message)
        said = await sender
    return finals, said


def test_the_console_microphone_is_captioned_on_the_booths_channel(
    tmp_path: Path, base_model_dir: str, model_cache: Path
) -> None:
    config = (
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[floor]\nsource = "{silent_wav(tmp_path / "floor.wav")}"\nlanguage = "ko"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        '[[booths]]\nid = "booth-en"\nchannel = "en"\nsource = "console"\n'
        'interpreters = [{ id = "kim" }, { id = "lee" }]\n'
    )
    pcm = jfk_pcm()
    env = {"COMPANION_TOKEN_KIM": KIM}
    with serve_process(tmp_path, config, model_cache, ("--demo",), env=env) as url:
        finals, said = asyncio.run(console_scenario(url, pcm))
    assert {m["source"] for m in finals} == {"booth-en"}
    assert {m["lang"] for m in finals} == {"en"}
    assert "country" in " ".join(m["text"] for m in finals).lower()
    levels = [m for m in said if m["type"] == "level"]
    assert levels and all(m["live"] for m in levels)
    assert max(m["rms"] for m in levels) > 0.01
    assert not [m for m in said if m["type"] == "error"]
