"""End to end: a booth captioned from its interpreter's console microphone, in one process.

`companion serve --demo` with a silent floor (Korean) and booth-en whose source is
``console``; the demo puts kim on air. The test plays the console: it sends jfk.flac
as 16 kHz int16 PCM in 100 ms frames at real time to /ws/booth-audio, and a viewer
of the "en" channel gets the booth's final captions. Real Whisper, a real process, the
in-memory bus between the socket and the captioner. Over Redis, with the captioner in
a process of its own: ``tests/test_redis_console_mic.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.console_mic import console_scenario, recording_pcm, silent_wav
from tests.support.paths import REPO
from tests.support.serve_process import serve_process

pytestmark = [pytest.mark.model, pytest.mark.slow]  # `companion serve` subprocesses

KIM = "kim-console-token-0123456789"


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
    pcm = recording_pcm("jfk.flac")
    env = {"COMPANION_TOKEN_KIM": KIM}
    with serve_process(tmp_path, config, model_cache, ("--demo",), env=env) as url:
        finals, said = asyncio.run(console_scenario(url, KIM, pcm, "en", "country"))
    assert {m["source"] for m in finals} == {"booth-en"}
    assert {m["lang"] for m in finals} == {"en"}
    assert "country" in " ".join(m["text"] for m in finals).lower()
    levels = [m for m in said if m["type"] == "level"]
    assert levels and all(m["live"] for m in levels)
    assert max(m["rms"] for m in levels) > 0.01
    assert not [m for m in said if m["type"] == "error"]
