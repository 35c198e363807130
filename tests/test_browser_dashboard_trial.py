"""The dashboard's "Send a test caption", in a real browser, through a running poster.

The service (in process, on the in-memory bus, as ``companion serve`` runs it), a
caption poster for channel ``en`` on the same bus and a fake ingestion endpoint all
run on one loop of their own; chromium signs in to the dashboard and presses the
channel's button. The endpoint answers like YouTube, with its clock 12 s ahead of
ours, so the page shows the answer, the round trip and the skew with its warning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiohttp import web
from playwright.sync_api import Browser

from companion.bus.memory import MemoryBus
from service.app import create_app
from service.settings import ServiceSettings
from tests.support.booths import ORG, TOKENS, event_config
from tests.support.browser import ThreadedServer, chromium, keep_on_loopback
from workers.poster.format import parse_body, timestamp
from workers.poster.poster import CaptionPoster

pytestmark = pytest.mark.browser

SECRET = "secret-stream-key"
SKEW = 12.0  # YouTube's clock ahead of ours, past the 10 s warning


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_the_dashboard_sends_a_test_caption_through_the_running_poster(
    browser: Browser,
) -> None:
    posts: list[tuple[int, str]] = []

    async def ingest(request: web.Request) -> web.Response:
        posts.append((int(request.query["seq"]), await request.text()))
        return web.Response(text=timestamp(time.time() + SKEW) + "\n")

    fake = web.Application()
    fake.router.add_post("/closedcaption", ingest)
    endpoint = ThreadedServer(fake)
    bus = MemoryBus()
    service = ThreadedServer(
        create_app(
            ServiceSettings(channels=("ko", "en")), bus, tokens=TOKENS, config=event_config()
        )
    )
    url = f"http://127.0.0.1:{endpoint.port}/closedcaption?cid={SECRET}"
    poster = CaptionPoster(bus, "en", url, heartbeat=60.0)

    async def start() -> asyncio.Task[None]:
        return asyncio.create_task(poster.run())

    task = asyncio.run_coroutine_threadsafe(start(), service.loop).result(10)
    context = browser.new_context(locale="en-US")
    keep_on_loopback(context)
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{service.port}/dashboard")
        page.fill("#token", ORG)
        page.click("#signin button[type=submit]")
        button = page.get_by_role("button", name="Send a test caption on channel en")
        button.wait_for(timeout=20_000)  # the poster's report is in
        button.click()
        result = page.locator("#trial-en")
        result.get_by_text("accepted (seq 1)").wait_for(timeout=20_000)
        text = result.inner_text()
        assert "round trip" in text and "clock skew +12" in text, text
        assert "NTP" in text, text  # the warning past 10 s
        assert SECRET not in page.content()
        assert [seq for seq, _ in posts] == [1]
        assert parse_body(posts[0][1])[0].text.startswith("[test caption] ")
    finally:
        context.close()

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), service.loop).result(10)
        service.close()
        endpoint.close()
