"""The viewer page's transcript in a real browser: one line per utterance.

A long utterance's final caption comes in parts (cut at its pauses; every part but
the last says ``end_of_utterance: false``). The page joins the parts into the line
they continue, so the transcript reads as the speaker spoke, not as the decoder cut.
The service runs in process on the in-memory bus; the test publishes the captions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.config import parse_config
from service.app import create_app
from service.auth import Tokens
from service.settings import ServiceSettings
from tests.support.browser import ThreadedServer, chromium, keep_on_loopback
from tests.support.caption_events import final_caption

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def caption(seq: int, text: str, utterance: int, end: bool) -> CaptionEvent:
    said = [(w, seq + i * 0.1, seq + i * 0.1 + 0.1) for i, w in enumerate(text.split())]
    return final_caption(seq, text, said, float(seq), utterance, end_of_utterance=end)


def test_the_parts_of_one_utterance_are_one_line(browser: Browser, tmp_path: Path) -> None:
    config = parse_config(
        f'[archive]\ndirectory = "{tmp_path}"\n[[channels]]\nid = "en"\nlanguage = "en"\n',
        str(tmp_path / "event.toml"),
        env={},
    )
    bus = MemoryBus()
    app = create_app(
        ServiceSettings(channels=("en",)), bus, tokens=Tokens(organizer="o" * 20), config=config
    )
    server = ThreadedServer(app)
    context = browser.new_context(locale="en-US", bypass_csp=True)  # CSP: test_browser_csp
    keep_on_loopback(context)
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.port}/?lang=en")
        page.wait_for_function("document.querySelector('#conn').dataset.state === 'connected'")
        said = [
            caption(1, "It was the best of times,", 1, False),
            caption(2, "it was the worst of times,", 1, False),
            caption(3, "it was the age of wisdom.", 1, True),
            caption(4, "Good morning.", 2, True),
        ]
        for event in said:
            asyncio.run_coroutine_threadsafe(bus.publish(event), server.loop).result(5)
        page.wait_for_function(
            "[...document.querySelectorAll('#transcript-list li .text')]"
            ".some(e => e.textContent === 'Good morning.')",
            timeout=20_000,
        )
        lines = page.eval_on_selector_all(
            "#transcript-list li[data-seq]",
            "els => els.map(e => e.querySelector('.text').textContent)",
        )
        assert lines == [
            "It was the best of times, it was the worst of times, it was the age of wisdom.",
            "Good morning.",
        ]
    finally:
        context.close()
        server.close()
