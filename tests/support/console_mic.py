"""Playing an interpreter's console microphone against a real service, for end-to-end tests.

``send_microphone`` logs in on ``/ws/booth-audio`` and sends PCM in 100 ms frames at
real time, as ``web/console-mic.js`` does; ``console_scenario`` does that while a viewer
of the booth's channel collects final captions until one holds the word awaited.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.paths import data

FRAME_BYTES = 3200  # 100 ms of 16 kHz s16le


def silent_wav(path: Path, seconds: float = 2.0) -> str:
    """A WAV of silence (a floor that says nothing); its path."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(2 * int(16000 * seconds)))
    return str(path)


def recording_pcm(name: str = "jfk.flac") -> bytes:
    """A recording of ``../shared/data`` as 16 kHz mono s16le, as a console sends it."""
    from workers.captioner.audio import decode_file

    audio = decode_file(data(name))
    pcm: bytes = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return pcm


async def send_microphone(url: str, token: str, pcm: bytes) -> list[dict[str, Any]]:
    """Be the console: log in, send ``pcm`` at real time; what the server said back."""
    import websockets

    said: list[dict[str, Any]] = []
    async with websockets.connect(url.replace("http", "ws", 1) + "/ws/booth-audio") as ws:
        await ws.send(json.dumps({"type": "login", "token": token}))
        said.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        assert said[0]["type"] == "ready", said
        began = time.monotonic()
        for n, start in enumerate(range(0, len(pcm), FRAME_BYTES)):
            await asyncio.sleep(max(0.0, began + n * 0.1 - time.monotonic()))
            await ws.send(pcm[start : start + FRAME_BYTES])
        await ws.send(json.dumps({"type": "ping"}))
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "pong":
            said.append(message)
    return said


async def console_scenario(
    url: str, token: str, pcm: bytes, channel: str, word: str, timeout: float = 150.0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A viewer of ``channel`` while the console sends ``pcm``: the final captions it got
    (until one holds ``word``) and what the microphone's socket was told."""
    import websockets

    finals: list[dict[str, Any]] = []
    async with websockets.connect(url.replace("http", "ws", 1) + "/ws/viewer") as viewer:
        await viewer.send(json.dumps({"type": "hello", "v": 1, "channel": channel}))
        while json.loads(await asyncio.wait_for(viewer.recv(), 10))["type"] != "welcome":
            pass
        sender = asyncio.create_task(send_microphone(url, token, pcm))
        async with asyncio.timeout(timeout):
            while not any(word in m["text"].lower() for m in finals):
                message = json.loads(await viewer.recv())
                if message["type"] == "caption" and message["final"]:
                    finals.append(message)
        said = await sender
    return finals, said
