"""The viewer page on the segment feed, in a real browser (docs/pages.md, docs/segments.md).

``service.delivery = "segments"``: the page polls ``/live/<channel>/latest.json`` and
reads each new ``seg/<n>.json``; every final shows once, in order (carried copies and
all), the partial shows, and a language switch follows the other channel. ``"auto"``
with the websocket blocked (the upgrade refused, as by a proxy, or a socket that never
says welcome) falls back to the segments by itself, and with the websocket working stays
on it. The service runs in process on the in-memory bus with half-second segments; the
test publishes the captions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from playwright.sync_api import Browser, Page, WebSocketRoute

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.config import parse_config
from service.app import create_app
from service.auth import Tokens
from service.settings import ServiceSettings
from tests.support.browser import ThreadedServer, chromium, keep_on_loopback

pytestmark = pytest.mark.browser

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TRANSCRIPT = "[...document.querySelectorAll('#transcript-list li[data-seq] .text')]"
CONNECTED = "document.querySelector('#conn').dataset.state === 'connected'"
ON_SEGMENTS = f"{CONNECTED} && document.querySelector('#conn').dataset.delivery === 'segments'"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@web.middleware
async def refuse_upgrades(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A proxy that does not pass websocket upgrades on."""
    if request.path == "/ws/viewer":
        raise web.HTTPForbidden(text="no websockets here\n")
    return await handler(request)


@dataclass
class Served:
    server: ThreadedServer
    bus: MemoryBus

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def say(self, channel: str, text: str, final: bool = True) -> None:
        """Publish a caption (the bus numbers it): a whole utterance if final."""
        self.utterances = getattr(self, "utterances", 0) + 1
        event = CaptionEvent(
            channel, 0, final, text, channel, 0.0, 1.0, 1.0, self.utterances, final
        )
        asyncio.run_coroutine_threadsafe(self.bus.publish(event), self.server.loop).result(5)


@contextlib.contextmanager
def serve(tmp_path: Path, delivery: str, block_upgrades: bool = False) -> Iterator[Served]:
    config = parse_config(
        f'[archive]\ndirectory = "{tmp_path}"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\nname = "English"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\nname = "한국어"\n',
        str(tmp_path / "event.toml"),
        env={},
    )
    bus = MemoryBus()
    settings = ServiceSettings(channels=("en", "ko"), delivery=delivery, segment_seconds=0.5)
    app = create_app(settings, bus, tokens=Tokens(organizer="o" * 20), config=config)
    if block_upgrades:
        app.middlewares.append(refuse_upgrades)
    server = ThreadedServer(app)
    try:
        yield Served(server, bus)
    finally:
        server.close()


def open_page(browser: Browser, url: str, block_socket: bool = False) -> tuple[Page, list[str]]:
    """The viewer page on ``url``, and the websockets it opens (as they open)."""
    context = browser.new_context(locale="en-US", bypass_csp=True)  # CSP: test_browser_csp
    keep_on_loopback(context)
    if block_socket:  # a socket that opens and then hears nothing: no welcome, ever

        def silent(ws: WebSocketRoute) -> None:
            pass

        context.route_web_socket("**/ws/viewer", silent)
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(url)
    return page, sockets


def transcript(page: Page) -> list[str]:
    return page.evaluate(f"{TRANSCRIPT}.map(e => e.textContent)")


def wait_for_line(page: Page, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function(f"{TRANSCRIPT}.some(e => e.textContent === {text!r})", timeout=timeout)


def test_segments_mode_shows_each_final_once_in_order(browser: Browser, tmp_path: Path) -> None:
    with serve(tmp_path, "segments") as served:
        served.say("en", "Before the page opened.")
        served.say("ko", "페이지를 열기 전입니다.")
        time.sleep(1.2)  # stored in a segment
        page, sockets = open_page(browser, f"{served.url}/?lang=en")
        try:
            page.wait_for_function(ON_SEGMENTS, timeout=20_000)
            wait_for_line(page, "Before the page opened.")  # the recent finals, on joining
            served.say("en", "and now the", final=False)
            page.wait_for_function(
                "[...document.querySelectorAll('#track-primary .line.partial')]"
                ".some(e => e.textContent === 'and now the')",
                timeout=20_000,
            )
            said = [f"Sentence number {i}." for i in range(1, 9)]
            for i, text in enumerate(said):
                served.say("en", text)
                time.sleep(0.15 if i % 2 else 0.6)  # some windows with two, some with one
            wait_for_line(page, said[-1])
            time.sleep(1.5)  # more segments carry the last finals again: still once each
            assert transcript(page) == ["Before the page opened.", *said]
            shown = page.eval_on_selector_all(
                "#track-primary .line.final", "els => els.map(e => e.textContent)"
            )
            assert shown == said[-2:]  # the caption box: the last two lines, as on the socket

            page.select_option("#channel", "ko")
            wait_for_line(page, "페이지를 열기 전입니다.")
            served.say("en", "English, not shown.")
            served.say("ko", "한국어 자막입니다.")
            wait_for_line(page, "한국어 자막입니다.")
            time.sleep(1.0)
            assert transcript(page) == ["페이지를 열기 전입니다.", "한국어 자막입니다."]
            assert sockets == []  # no websocket at all
        finally:
            page.context.close()


def test_auto_falls_back_to_segments_when_the_upgrade_is_refused(
    browser: Browser, tmp_path: Path
) -> None:
    with serve(tmp_path, "auto", block_upgrades=True) as served:
        page, sockets = open_page(browser, f"{served.url}/?lang=en")
        try:
            page.wait_for_function(ON_SEGMENTS, timeout=20_000)
            assert len(sockets) == 1  # it tried once, and does not try again
            said = ["First after the fallback.", "Second after the fallback."]
            for text in said:
                served.say("en", text)
            wait_for_line(page, said[-1])
            time.sleep(1.0)
            assert transcript(page) == said
            assert "cached" in page.inner_text("#conn")
            assert len(sockets) == 1
        finally:
            page.context.close()


def test_auto_falls_back_when_no_welcome_comes(browser: Browser, tmp_path: Path) -> None:
    with serve(tmp_path, "auto") as served:
        page, _ = open_page(browser, f"{served.url}/?lang=ko", block_socket=True)
        try:
            page.wait_for_function(ON_SEGMENTS, timeout=20_000)  # after a few seconds
            served.say("ko", "환영합니다.")
            wait_for_line(page, "환영합니다.")
            assert transcript(page) == ["환영합니다."]
        finally:
            page.context.close()


def test_auto_stays_on_a_working_websocket(browser: Browser, tmp_path: Path) -> None:
    with serve(tmp_path, "auto") as served:
        page, sockets = open_page(browser, f"{served.url}/?lang=en")
        try:
            page.wait_for_function(CONNECTED, timeout=20_000)
            served.say("en", "Over the socket.")
            wait_for_line(page, "Over the socket.")
            time.sleep(4.5)  # past the wait for a welcome: no fallback once welcomed
            assert page.evaluate("document.querySelector('#conn').dataset.delivery") == "websocket"
            assert transcript(page) == ["Over the socket."]
            assert len(sockets) == 1
        finally:
            page.context.close()


def test_the_caption_delay_holds_segment_captions_too(browser: Browser, tmp_path: Path) -> None:
    with serve(tmp_path, "segments") as served:
        context = browser.new_context(locale="en-US", bypass_csp=True)
        keep_on_loopback(context)
        context.add_init_script("localStorage.setItem('companion.delay', '3')")
        page = context.new_page()
        try:
            page.goto(f"{served.url}/?lang=en")
            page.wait_for_function(ON_SEGMENTS, timeout=20_000)
            assert page.inner_text("#delay-value") == "3.0 s"
            said = time.monotonic()
            served.say("en", "Three seconds later.")
            wait_for_line(page, "Three seconds later.")
            assert time.monotonic() - said >= 3.0  # the feed's own lag is under two
        finally:
            context.close()
