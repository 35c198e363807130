"""An event in full swing for the pages' browser tests (the accessibility audit, the
dashboard in Korean): every part of every page has something to show.

The service runs in process on the in-memory bus, as ``companion serve`` runs it, with
a floor, two booths (booth-en's source is the console's microphone, so the console
shows its button) and the glossary; kim is live in booth-en. A caption poster for
channel ``en`` runs on the same bus against a fake ingestion endpoint whose clock is
12 s ahead, so the dashboard's poster row carries the skew warning and its test
caption button works. The broadcasts and the captioners' reports are put on the bus as
the tracker and the captioners would; captions are published by the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.config import parse_config
from service.app import create_app
from service.auth import Tokens
from service.settings import ServiceSettings
from service.youtube.broadcast import Broadcast, Status
from tests.support.browser import ThreadedServer
from tests.support.paths import REPO
from workers.poster.format import timestamp
from workers.poster.poster import CaptionPoster

T = TypeVar("T")

ORG = "organizer-pages-test-0123456789"
KIM = "kim-pages-test-0123456789"
SKEW = 12.0  # YouTube's clock ahead of ours: past the 10 s warning

CONFIG = """
[event]
id = "pages"
title = "Social and solidarity economy"
title_ko = "사회연대경제"
[captioner]
glossary = "{glossary}"
[archive]
directory = "{archive}"
[floor]
source = "floor.wav"
[[channels]]
id = "ko"
language = "ko"
name = "한국어"
[[channels]]
id = "en"
language = "en"
name = "English"
[[booths]]
id = "booth-en"
channel = "en"
source = "console"
interpreters = [{{ id = "kim", name = "Kim" }}, {{ id = "lee", name = "Lee" }}]
[[booths]]
id = "booth-ko"
channel = "ko"
interpreters = [{{ id = "park", name = "Park" }}, {{ id = "choi", name = "Choi" }}]
"""


@dataclass
class Scene:
    url: str
    bus: MemoryBus
    server: ThreadedServer

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the service's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.server.loop).result(10)

    def publish(self, *events: CaptionEvent) -> None:
        for event in events:
            self.run(self.bus.publish(event))


def _post(url: str, token: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


async def _reports(bus: MemoryBus) -> None:
    """The broadcasts and captioners as the tracker and the captioners report them."""
    now = time.time()
    live = Broadcast("en", "envideo0001", Status.LIVE, concurrent_viewers=321)
    await bus.set_state("broadcast:en", live.to_doc())
    soon = Broadcast("ko", "kovideo0001", Status.UPCOMING, scheduled_start=now + 7200)
    await bus.set_state("broadcast:ko", soon.noted("paused", "backing off").to_doc())
    await bus.set_state(
        "captioner:floor",
        {"alive": True, "updated": now, "source": "floor.wav", "real_time_factor": 0.2,
         "lag_seconds": 0.4, "error": "", "finals": 7, "partials": 30,
         "last_caption": {"text": "Welcome", "final": True, "at": now - 3}},
    )  # fmt: skip
    await bus.set_state(
        "captioner:booth-en",
        {"alive": False, "updated": now, "source": "console", "error": "no audio yet"},
    )


@contextlib.contextmanager
def event_scene(tmp: Path) -> Iterator[Scene]:
    """The scene above, until the block ends."""

    async def ingest(request: web.Request) -> web.Response:
        return web.Response(text=timestamp(time.time() + SKEW) + "\n")

    fake = web.Application()
    fake.router.add_post("/closedcaption", ingest)
    endpoint = ThreadedServer(fake)
    text = CONFIG.format(glossary=REPO / "config" / "glossary.csv", archive=tmp / "archive")
    config = parse_config(text, str(tmp / "event.toml"), env={})
    bus = MemoryBus()
    tokens = Tokens(organizer=ORG, interpreters={"kim": KIM})
    settings = ServiceSettings(channels=("ko", "en"))
    scene = Scene("", bus, ThreadedServer(create_app(settings, bus, tokens=tokens, config=config)))
    scene.url = f"http://127.0.0.1:{scene.server.port}"
    ingestion = f"http://127.0.0.1:{endpoint.port}/closedcaption?cid=secret-stream-key"
    poster = CaptionPoster(bus, "en", ingestion, heartbeat=60.0)

    async def start() -> asyncio.Task[None]:
        await _reports(bus)
        return asyncio.create_task(poster.run())

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    task = scene.run(start())
    try:
        _post(scene.url + "/api/booths/actions", KIM, {"action": "go_live"})
        yield scene
    finally:
        scene.run(stop(task))
        scene.server.close()
        endpoint.close()
