"""The test caption sent by the channel's running poster, asked over the bus.

The documents' rules (pure); then the organizers' route with a poster running on the
in-memory bus against a fake ingestion endpoint on loopback: the test cue goes out
under the poster's next ``seq`` and the next caption under the one after; a refusal
is reported; a request while one is on its way is refused; no poster answers 503; a
stale request is not sent. Last, the command with a poster running on a real Redis.
The endpoint answers like YouTube: 200 with its server time, or a status and reason.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from cli import main
from companion.bus import MemoryBus
from companion.bus.base import Bus
from companion.caption_trial import (
    MAX_AGE,
    TrialRequest,
    TrialResult,
    expired,
    new_request,
    open_request,
    request_key,
    result_key,
)
from companion.captions import CaptionEvent
from companion.config import parse_config
from service.app import create_app
from service.auth import Tokens
from service.keys import YOUTUBE
from service.settings import ServiceSettings
from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import until
from workers.poster.format import parse_body, timestamp
from workers.poster.poster import CaptionPoster, poster_key

SECRET = "secret-stream-key"
ORGANIZER = "organizer-token-0123456789"
CONFIG = '[[channels]]\nid = "en"\nlanguage = "en"\n'
ROUTE = "/api/admin/youtube/test-caption"
AUTH = {"Authorization": f"Bearer {ORGANIZER}"}


@dataclass
class Fake:
    """Records each post's seq and body; answers ``status`` (``reason`` unless 200), after
    ``hold`` is set when ``holding``."""

    status: int = 200
    reason: str = ""
    holding: bool = False
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    seqs: list[int] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seqs.append(int(request.query["seq"]))
        self.bodies.append(await request.text())
        if self.holding:
            await self.hold.wait()
        if self.status == 200:
            return web.Response(text=timestamp(time.time()) + "\n")
        return web.Response(status=self.status, text=self.reason)

    def texts(self) -> list[str]:
        return [" ".join(c.text for c in parse_body(b)) for b in self.bodies]


def fake_app(fake: Fake) -> web.Application:
    app = web.Application()
    app.router.add_post("/closedcaption", fake.handle)
    return app


def final(text: str) -> CaptionEvent:
    return CaptionEvent("en", 0, True, text, "en", 0.0, 1.0, 1.0, 0, at=time.time())


# -- pure --------------------------------------------------------------------------------


def test_a_request_is_read_back_only_when_whole_and_for_its_channel() -> None:
    request = new_request("en", "  hello \n world ", " ", 100.0, "r1")
    assert request == TrialRequest("r1", "en", "hello world", "organizer", 100.0)
    assert TrialRequest.from_doc(request.as_doc(), "en") == request
    assert TrialRequest.from_doc(request.as_doc(), "ko") is None
    for bad in ({"id": ""}, {"at": "now"}, {"at": float("nan")}, {"text": 3}, {"at": True}):
        assert TrialRequest.from_doc({**request.as_doc(), **bad}, "en") is None
    assert TrialRequest.from_doc(None, "en") is None


def test_a_request_expires_after_a_minute_and_an_answered_one_is_not_open() -> None:
    request = new_request("en", "", "me", 1000.0, "r1")
    assert not expired(request, 1000.0 + MAX_AGE) and expired(request, 1000.0 + MAX_AGE + 1)
    assert expired(request, 1000.0 - MAX_AGE - 1)  # a clock far behind: not trusted
    assert open_request(request.as_doc(), None, "en") == request
    answered = TrialResult("r1", "en", "accepted", 1001.0, 1000.0, "me", seq=3, accepted=True)
    assert open_request(request.as_doc(), answered.as_doc(), "en") is None
    older = replace(answered, request="r0")
    assert open_request(request.as_doc(), older.as_doc(), "en") == request
    assert TrialResult.from_doc(answered.as_doc()) == answered
    assert TrialResult.from_doc({"outcome": "maybe"}) is None


# -- the route, with a poster on the in-memory bus ------------------------------------------


@dataclass
class Scene:
    bus: MemoryBus
    fake: Fake
    url: str
    client: TestClient[Any, Any]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_poster(self, **kwargs: Any) -> CaptionPoster:
        poster = CaptionPoster(self.bus, "en", self.url, heartbeat=60.0, **kwargs)
        self.tasks.append(asyncio.create_task(poster.run()))

        async def active() -> bool:
            doc = (await self.bus.get_state()).get(poster_key("en"), {})
            return bool(doc.get("instance") == poster.instance and doc.get("active"))

        await until(active, "the poster to take the channel")
        return poster

    async def ask(self, body: dict[str, Any], headers: dict[str, str] = AUTH) -> tuple[int, str]:
        async with self.client.post(ROUTE, json=body, headers=headers) as response:
            return response.status, await response.text()


@asynccontextmanager
async def staged(wait: float | None = None) -> AsyncIterator[Scene]:
    """The service and the endpoint; ``wait``: how long the route waits for the poster."""
    fake = Fake()
    async with TestServer(fake_app(fake), host="127.0.0.1") as endpoint:
        url = f"http://127.0.0.1:{endpoint.port}/closedcaption?cid={SECRET}"
        bus = MemoryBus()
        app = create_app(
            ServiceSettings(channels=("en",)),
            bus,
            tokens=Tokens(organizer=ORGANIZER),
            config=parse_config(CONFIG, env={}),
            env={},
        )
        if wait is not None:
            app[YOUTUBE] = replace(app[YOUTUBE], trial_wait=wait)
        async with TestClient(TestServer(app)) as client:
            found = Scene(bus, fake, url, client)
            try:
                yield found
            finally:
                fake.hold.set()
                for task in found.tasks:
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task


@pytest.fixture
async def scene() -> AsyncIterator[Scene]:
    async with staged() as found:
        yield found


@pytest.fixture
async def hasty() -> AsyncIterator[Scene]:
    """A route that waits 3 s for the poster (which looks every second)."""
    async with staged(wait=3.0) as found:
        yield found


async def test_the_running_poster_sends_the_test_as_its_next_post(scene: Scene) -> None:
    poster = await scene.start_poster()
    await scene.bus.publish(final("before the test"))
    await until(lambda: scene.fake.seqs == [1], "the first caption posted")

    status, text = await scene.ask({"channel": "en", "text": "Testing, one two"})
    assert status == 200, text
    got = json.loads(text)
    assert got["outcome"] == "accepted" and got["accepted"] is True and got["status"] == 200
    assert got["seq"] == 2 and got["channel"] == "en" and got["by"] == "organizer"
    assert got["round_trip_ms"] is not None and got["clock_skew"] is not None
    assert scene.fake.seqs == [1, 2]
    assert scene.fake.texts()[1].startswith("[test caption] ")
    assert scene.fake.texts()[1].endswith(" UTC Testing, one two")

    await scene.bus.publish(final("after the test"))
    await until(lambda: len(scene.fake.seqs) == 3, "the next caption posted")
    assert scene.fake.seqs == [1, 2, 3]  # no gap, no number used twice
    assert scene.fake.texts()[2] == "after the test"
    assert poster.stats.test_captions == 1 and poster.stats.captions == 2

    async with scene.client.get("/api/admin/youtube", headers=AUTH) as response:
        admin = await response.text()
    assert json.loads(admin)["test_captions"]["en"]["outcome"] == "accepted"
    async with scene.client.get("/api/state") as response:
        public = await response.text()
    assert "poster-trial" not in public  # organizers only
    for answer in (text, admin, public):
        assert SECRET not in answer and "closedcaption" not in answer


async def test_a_refused_test_is_reported_with_youtubes_reason(scene: Scene) -> None:
    await scene.start_poster()
    scene.fake.status, scene.fake.reason = 400, "Timestamp skew (75 sec) is larger than 60 sec"
    status, text = await scene.ask({"channel": "en"})
    assert status == 200, text
    got = json.loads(text)
    assert got["outcome"] == "refused" and got["accepted"] is False and got["status"] == 400
    assert got["message"] == scene.fake.reason and got["seq"] == 1
    assert scene.fake.seqs == [1]  # tried once
    scene.fake.status = 200
    await scene.bus.publish(final("after the refusal"))
    await until(lambda: scene.fake.seqs == [1, 2], "the next caption under the next seq")
    assert SECRET not in text


async def test_a_second_request_is_refused_while_the_first_is_on_its_way(scene: Scene) -> None:
    await scene.start_poster()
    scene.fake.holding = True  # YouTube is slow to answer
    first = asyncio.create_task(scene.ask({"channel": "en"}))

    async def sending() -> bool:
        doc = (await scene.bus.get_state()).get(result_key("en"), {})
        return bool(doc.get("outcome") == "sending" and doc.get("seq") == 1)

    await until(sending, "the poster to send the first test")
    status, text = await scene.ask({"channel": "en", "text": "again"})
    assert status == 409 and json.loads(text)["error"] == "pending", text
    assert "already on its way" in json.loads(text)["message"]
    scene.fake.hold.set()
    status, text = await first
    assert status == 200 and json.loads(text)["seq"] == 1, text
    scene.fake.holding = False
    status, text = await scene.ask({"channel": "en"})
    assert status == 200 and json.loads(text)["seq"] == 2, text
    assert scene.fake.seqs == [1, 2]


async def test_a_test_youtube_has_not_answered_yet_is_202_and_answered_later(
    hasty: Scene,
) -> None:
    scene = hasty
    await scene.start_poster()
    scene.fake.holding = True
    status, text = await scene.ask({"channel": "en"})
    assert status == 202, text
    assert json.loads(text)["outcome"] == "sending" and json.loads(text)["seq"] == 1
    scene.fake.hold.set()

    async def answered() -> bool:
        async with scene.client.get("/api/admin/youtube", headers=AUTH) as response:
            doc = (await response.json())["test_captions"].get("en", {})
        return bool(doc.get("outcome") == "accepted")

    await until(answered, "the answer on /api/admin/youtube")
    scene.fake.holding = False
    status, text = await scene.ask({"channel": "en"})  # the poster let the request go
    assert status == 200 and json.loads(text)["seq"] == 2, text


async def test_without_a_running_poster_the_route_says_so(hasty: Scene) -> None:
    scene = hasty
    status, text = await scene.ask({"channel": "en"})
    assert status == 503, text
    got = json.loads(text)
    assert got["error"] == "no_poster" and "no poster is running for channel en" in got["message"]
    # a report left "active" by a poster that was killed: nobody answers, in time
    await scene.bus.set_state(poster_key("en"), {"channel": "en", "seq": 4, "active": True})
    started = time.monotonic()
    status, text = await scene.ask({"channel": "en"})
    assert status == 503 and "no poster answered for channel en" in text
    assert time.monotonic() - started < 5
    assert request_key("en") not in await scene.bus.get_state()  # withdrawn
    assert scene.fake.seqs == []


async def test_the_route_is_for_organizers_and_known_channels(scene: Scene) -> None:
    status, _ = await scene.ask({"channel": "en"}, headers={})
    assert status == 401
    status, _ = await scene.ask({"channel": "en"}, {"Authorization": "Bearer wrong-token-01234"})
    assert status == 403
    status, text = await scene.ask({"channel": "xx"})
    assert status == 400 and "unknown_channel" in text
    status, text = await scene.ask({"channel": "en", "text": 5})
    assert status == 400 and "bad_text" in text
    assert scene.fake.seqs == []


async def test_a_stale_request_is_answered_expired_and_not_sent(scene: Scene) -> None:
    old = new_request("en", "too late", "someone", time.time() - MAX_AGE - 30, "old-one")
    await scene.bus.set_state(request_key("en"), old.as_doc())
    await scene.start_poster()

    async def answer() -> dict[str, Any]:
        return dict((await scene.bus.get_state()).get(result_key("en"), {}))

    got = await until(answer, "the poster's answer")
    assert got["outcome"] == "expired" and got["request"] == "old-one" and got["seq"] is None
    await scene.bus.publish(final("a caption"))
    await until(lambda: scene.fake.seqs == [1], "the caption, under seq 1")
    assert scene.fake.texts() == ["a caption"]


# -- the command, with a poster on Redis --------------------------------------------------


@dataclass
class Background:
    """An event loop in a thread of its own: the endpoint and the poster run there while
    the command runs its own ``asyncio.run`` in the test's thread."""

    loop: asyncio.AbstractEventLoop
    fake: Fake

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture
def background() -> Iterator[Background]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make() -> Fake:
        return Fake()

    fake = asyncio.run_coroutine_threadsafe(make(), loop).result(5)
    try:
        yield Background(loop, fake)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.mark.redis
def test_the_command_goes_through_the_running_poster(background: Background) -> None:
    from companion.bus import open_bus
    from companion.config import load_config

    event_id = load_config(None).event.id  # the command's namespace on Redis
    fake, port = background.fake, free_port()
    url = f"http://127.0.0.1:{port}/closedcaption?cid={SECRET}"
    runner = web.AppRunner(fake_app(fake))
    background.run(runner.setup())
    background.run(web.TCPSite(runner, "127.0.0.1", port).start())
    with RedisServer() as redis:
        bus: Bus = open_bus(redis.url, namespace=event_id)
        background.run(bus.start())
        poster = CaptionPoster(bus, "en", url, heartbeat=60.0)
        running: list[asyncio.Task[None]] = []

        async def start() -> None:
            running.append(asyncio.create_task(poster.run()))

        background.run(start())
        try:

            async def active() -> bool:
                doc = (await bus.get_state()).get(poster_key("en"), {})
                return bool(doc.get("active"))

            background.run(until(active, "the poster on Redis"))
            background.run(bus.publish(final("before")))
            background.run(until(lambda: fake.seqs == [1], "the first caption"))

            env = {"COMPANION_CAPTION_URL_EN": url, "REDIS_URL": redis.url}
            args = ["youtube", "test-caption", "--channel", "en", "--text", "Hi", "--json"]
            result = CliRunner().invoke(main, args, env=env)
            assert result.exit_code == 0, result.output
            got = json.loads(result.stdout)
            assert got["outcome"] == "accepted" and got["seq"] == 2
            assert got["by"] == "companion youtube test-caption"
            assert SECRET not in result.output
            assert fake.seqs == [1, 2] and fake.texts()[1].endswith(" UTC Hi")

            background.run(bus.publish(final("after")))
            background.run(until(lambda: len(fake.seqs) == 3, "the next caption"))
            assert fake.seqs == [1, 2, 3]

            args = ["youtube", "test-caption", "--channel", "en"]
            result = CliRunner().invoke(main, args, env=env)
            assert result.exit_code == 0, result.output
            assert "accepted (HTTP 200)" in result.stdout and "seq: 4" in result.stdout
            assert "sent by the channel's poster" in result.stdout
        finally:

            async def stop() -> None:
                for job in running:
                    job.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                await bus.close()
                await runner.cleanup()

            background.run(stop())
