"""The console's "Send my microphone" (web/console-mic.js) in a real browser.

Debian's chromium with its fake microphone (a 400 Hz pulse train, beeping once a
second) against the service in process, the page under its Content-Security-Policy:
the button captures it, downsamples it to 16 kHz, and the booth's push source (fed
from the bus, as the captioner's is) gets 100 ms frames of int16 PCM that still beat
at 400 Hz, through the AudioWorklet and through the ScriptProcessor fallback.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser

from companion.bus.memory import MemoryBus
from companion.config import parse_config
from companion.push import PushSource, relay
from service.app import create_app
from service.auth import Tokens
from service.keys import BOOTH_AUDIO, BUS
from service.settings import ServiceSettings
from tests.support.browser import ThreadedServer, chromium
from tests.support.waiting import until_sync

pytestmark = pytest.mark.browser

CONFIG = """
[floor]
source = "floor.wav"
[[channels]]
id = "en"
language = "en"
[[booths]]
id = "booth-en"
channel = "en"
source = "console"
interpreters = [{ id = "kim" }, { id = "lee" }]
"""
KIM = "kim-browser-mic-0123456789"


@pytest.fixture
def service() -> Iterator[ThreadedServer]:
    config = parse_config(CONFIG, "test.toml", env={}, base_dir=str(Path(__file__).parent))
    tokens = Tokens(interpreters={"kim": KIM})
    server = ThreadedServer(
        create_app(ServiceSettings(channels=("en",)), MemoryBus(), tokens=tokens, config=config)
    )
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # A fake microphone (a 400 Hz beep), granted without asking.
    with chromium(
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"
    ) as browser:
        yield browser


def go_live(url: str) -> None:
    request = urllib.request.Request(
        url + "/api/booths/actions",
        data=json.dumps({"action": "go_live"}).encode(),
        headers={"Authorization": f"Bearer {KIM}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("node", ["worklet", "script-processor"])
def test_the_button_sends_the_microphone_as_16khz_pcm(
    service: ThreadedServer, browser: Browser, node: str
) -> None:
    url = f"http://127.0.0.1:{service.port}"
    go_live(url)
    app = service.runner.app
    push = PushSource("booth-en")  # the booth's captioner's, fed as it would be
    relaying = asyncio.run_coroutine_threadsafe(relay(app[BUS], "booth-en", push), service.loop)
    # Under the page's own Content-Security-Policy: the worklet is a file of the page's
    # origin (web/console-mic-worklet.js); one made from a blob: URL was refused.
    context = browser.new_context(permissions=["microphone"])
    try:
        if node == "script-processor":
            context.add_init_script(
                "Object.defineProperty(BaseAudioContext.prototype, 'audioWorklet',"
                " { get: () => undefined });"
            )
        context.add_init_script(f"sessionStorage.setItem('console-token', '{KIM}')")
        page = context.new_page()
        page.goto(url + "/console")
        page.wait_for_selector("#desk:not([hidden])")
        assert page.locator('script[src="console-mic.js"]').count() == 1  # the page loads it
        mic = page.locator("#mic")
        assert mic.get_attribute("aria-pressed") == "false"
        mic.click()
        assert mic.get_attribute("aria-pressed") == "true"
        until_sync(lambda: push.fed >= 25, "2.5 s of microphone frames", timeout=30)
        until_sync(
            lambda: page.eval_on_selector("#mic-level", "m => m.value") > 0, "the level", timeout=60
        )
        assert page.text_content("#mic-status") == "Sending your microphone."
        mic.click()
        assert mic.get_attribute("aria-pressed") == "false"
        until_sync(lambda: not app[BOOTH_AUDIO].sockets, "the socket to close", timeout=10)
    finally:
        context.close()
        relaying.cancel()
    assert push.dropped == 0
    pcm = np.round(next(push.chunks()) * 32768).astype(np.int32)
    assert len(pcm) % 1600 == 0  # whole 100 ms frames
    rising = np.flatnonzero((pcm[1:] > 8000) & (pcm[:-1] <= 8000))
    assert len(rising) > 20, "no beep reached the server"
    periods = np.diff(rising)
    assert np.median(periods[periods < 100]) == pytest.approx(16000 / 400, abs=1)
