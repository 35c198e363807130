"""The caption poster against a fake caption ingestion endpoint, over real HTTP.

The endpoint records every POST (its ``seq``, headers and body) and answers as the
test tells it: 200, an error status, or not at all until released.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from cli import main
from companion.bus import MemoryBus
from companion.captions import CaptionEvent
from tests.support.waiting import until
from workers.poster import caption_url_env, caption_urls
from workers.poster.format import timestamp
from workers.poster.poster import RELEASE, CaptionPoster, poster_key

TIMEOUT = 10.0
CUE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\n([^\n]*)\n")


@dataclass
class Received:
    seq: int
    query: dict[str, str]
    content_type: str
    body: str
    status: int = 0  # 0: never answered


class FakeIngest:
    """Records posts; ``answers`` scripts the next statuses (``None``: hold until released)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int | None] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        got = Received(
            int(request.query["seq"]),
            dict(request.query),
            request.headers.get("Content-Type", ""),
            (await request.read()).decode("utf-8"),
        )
        self.received.append(got)
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            await self.release.wait()
            answer = 200
        got.status = answer
        return web.Response(status=answer, text=timestamp(0.0) if answer == 200 else "no")

    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.status == 200]

    def texts(self, post: Received) -> list[str]:
        return [text for _, text in CUE.findall(post.body) if text]


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[FakeIngest, str]]:
    fake = FakeIngest()
    app = web.Application()
    app.router.add_post("/closedcaption", fake.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield fake, f"http://127.0.0.1:{server.port}/closedcaption?cid=secret-stream-key"
        fake.release.set()


def final(text: str, at: float = 0.0, lines: tuple[str, ...] = ()) -> CaptionEvent:
    return CaptionEvent("en", 0, True, text, "en", 0.0, 1.0, 1.0, 0, lines=lines, at=at)


async def started(bus: MemoryBus, poster: CaptionPoster) -> asyncio.Task[None]:
    task = asyncio.create_task(poster.run())

    async def claimed() -> bool:
        doc = (await bus.get_state()).get(poster_key(poster.channel), {})
        return bool(doc.get("instance") == poster.instance and doc.get("active"))

    await until(claimed, f"the poster to claim {poster.channel}")
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_final_captions_are_posted_in_youtubes_format(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    bus = MemoryBus()
    await bus.publish(final("said before the poster started", at=1.0))
    poster = CaptionPoster(bus, "en", url, delay=2.5, heartbeat=60.0)
    task = await started(bus, poster)
    try:
        partial = CaptionEvent("en", 0, False, "the social", "en", 0.0, 1.0, 1.0, 0)
        await bus.publish(partial)
        await bus.publish(final("The social and solidarity economy", at=1778720523.25))
        await until(lambda: len(fake.delivered()) == 1, "the first post")
        lines = ("사회연대경제의", "여섯 나라")
        await bus.publish(final("사회연대경제의 여섯 나라", at=1778720530.0, lines=lines))
        await until(lambda: len(fake.delivered()) == 2, "the second post")
    finally:
        await stop(task)
    first, second = fake.delivered()
    assert first.body == "2026-05-14T01:02:05.750\nThe social and solidarity economy\n"
    assert second.body == "2026-05-14T01:02:12.500\n사회연대경제의<br>여섯 나라\n"
    assert [p.seq for p in fake.received] == [1, 2]
    assert first.content_type == "text/plain"
    assert first.query == {"cid": "secret-stream-key", "seq": "1"}
    report = (await bus.get_state())[poster_key("en")]
    assert (report["posts"], report["captions"], report["active"]) == (2, 2, False)
    assert "secret-stream-key" not in str(report) and "secret" not in repr(poster)


async def test_a_failed_post_is_retried_with_its_seq_and_nothing_is_posted_twice(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    fake.answers = [500, 503]
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, heartbeat=60.0, draw=lambda: 0.0)
    task = await started(bus, poster)
    try:
        await bus.publish(final("one", at=100.0))
        await until(lambda: len(fake.received) == 1, "the first try")
        for text in ("two", "three", "four"):  # arrive while "one" is being retried
            await bus.publish(final(text, at=101.0))
        await until(lambda: len(fake.delivered()) == 2, "both posts")
        await bus.publish(final("five", at=102.0))
        await until(lambda: len(fake.delivered()) == 3, "the third post")
    finally:
        await stop(task)
    assert [(r.seq, r.status) for r in fake.received] == [
        (1, 500),
        (1, 503),
        (1, 200),
        (2, 200),
        (3, 200),
    ]
    assert len({r.body for r in fake.received if r.seq == 1}) == 1  # a retry is the same post
    posted = [text for post in fake.delivered() for text in fake.texts(post)]
    assert posted == ["one", "two", "three", "four", "five"]
    report = (await bus.get_state())[poster_key("en")]
    assert (report["retries"], report["failures"], report["rejected"]) == (2, 2, 0)
    assert report["last_error"] == "the endpoint answered 503"
    assert (report["seq"], report["pending"]) == (3, None)


async def test_a_refused_post_is_given_up_and_counted(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    fake.answers = [400, 400, 400]
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, heartbeat=60.0, draw=lambda: 0.0)
    task = await started(bus, poster)
    try:
        await bus.publish(final("refused", at=100.0))
        await until(lambda: len(fake.received) == 3, "three tries")
        await bus.publish(final("accepted", at=101.0))
        await until(lambda: len(fake.delivered()) == 1, "the next post")
    finally:
        await stop(task)
    assert [(r.seq, r.status) for r in fake.received] == [(1, 400)] * 3 + [(2, 200)]
    assert poster.stats.rejected == 1 and poster.stats.posts == 1


async def test_a_heartbeat_when_idle(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, heartbeat=0.1)
    task = await started(bus, poster)
    try:
        await until(lambda: len(fake.delivered()) >= 2, "two heartbeats")
    finally:
        await stop(task)
    for n, post in enumerate(fake.delivered()[:2], start=1):
        assert post.seq == n
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\n\n", post.body)
    assert poster.stats.heartbeats >= 2 and poster.stats.captions == 0


async def test_a_restarted_poster_sends_the_pending_post_again_with_its_seq(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    fake.answers = [200, None]  # the second post gets no answer: the poster dies waiting
    bus = MemoryBus()
    task = await started(bus, CaptionPoster(bus, "en", url, heartbeat=60.0))
    await bus.publish(final("before", at=100.0))
    await until(lambda: len(fake.delivered()) == 1, "the first post")
    await bus.publish(final("in flight", at=101.0))
    await until(lambda: len(fake.received) == 2, "the post in flight")
    await stop(task)
    assert (await bus.get_state())[poster_key("en")]["pending"]["seq"] == 2

    again = CaptionPoster(bus, "en", url, heartbeat=60.0)
    task = await started(bus, again)
    try:
        await until(lambda: len(fake.delivered()) == 2, "the pending post, again")
        await bus.publish(final("after", at=102.0))
        await until(lambda: len(fake.delivered()) == 3, "the next post")
    finally:
        await stop(task)
    assert [r.seq for r in fake.received] == [1, 2, 2, 3]
    assert fake.received[1].body == fake.received[2].body
    posted = [text for post in fake.delivered() for text in fake.texts(post)]
    assert posted == ["before", "in flight", "after"]


async def test_a_second_poster_stands_by_then_takes_over(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    bus = MemoryBus()
    first = await started(bus, CaptionPoster(bus, "en", url, heartbeat=60.0))
    second = CaptionPoster(bus, "en", url, heartbeat=60.0, standby_check=0.02)
    waiting = asyncio.create_task(second.run())
    try:
        await bus.publish(final("once", at=100.0))
        await until(lambda: len(fake.delivered()) == 1, "the first post")
        await asyncio.sleep(0.1)  # the standby checks a few times meanwhile
        assert len(fake.received) == 1
        await stop(first)

        async def taken_over() -> bool:
            return bool(
                (await bus.get_state())[poster_key("en")].get("instance") == second.instance
            )

        await until(taken_over, "the second poster to take over")
        await bus.publish(final("twice", at=101.0))
        await until(lambda: len(fake.delivered()) == 2, "the second poster's post")
    finally:
        await stop(waiting)
    assert [r.seq for r in fake.received] == [1, 2]
    assert [fake.texts(p) for p in fake.delivered()] == [["once"], ["twice"]]


class KilledBus(MemoryBus):
    """A memory bus on which a poster's letting go never arrives: it was killed (-9)."""

    async def claim(self, key: str, owner: str, ttl_seconds: float) -> bool:
        if ttl_seconds == RELEASE:
            return True
        return await super().claim(key, owner, ttl_seconds)


async def test_an_idle_poster_keeps_its_lease_and_a_killed_ones_lapses_soon(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    bus = KilledBus()
    first = CaptionPoster(bus, "en", url, heartbeat=60.0, claim_ttl=0.3)
    running = await started(bus, first)
    second = CaptionPoster(bus, "en", url, heartbeat=60.0, claim_ttl=0.3, standby_check=0.02)
    waiting = asyncio.create_task(second.run())
    try:
        await asyncio.sleep(1.0)  # idle: no caption, no heartbeat, three lease lives
        doc = (await bus.get_state())[poster_key("en")]
        assert doc["instance"] == first.instance, "an idle poster lost its lease"
        await stop(running)  # killed: its lease is not let go

        async def taken_over() -> bool:
            return bool(
                (await bus.get_state())[poster_key("en")].get("instance") == second.instance
            )

        await until(taken_over, "the standby to take over", timeout=1.0)
        await bus.publish(final("after", at=100.0))
        await until(lambda: len(fake.delivered()) == 1, "the standby's post")
    finally:
        await stop(waiting)
    assert [fake.texts(p) for p in fake.received] == [["after"]]


@pytest.mark.slow  # waits out a real lease: a few seconds
async def test_a_poster_killed_with_its_lease_is_replaced_within_seconds(
    ingest: tuple[FakeIngest, str],
) -> None:
    """The fault drill's target: a poster restarted after kill -9 posts within 10 s,
    whatever the heartbeat (it was 3 heartbeats: 90 s by default)."""
    _, url = ingest
    bus = KilledBus()
    await stop(await started(bus, CaptionPoster(bus, "en", url, heartbeat=30.0)))
    loop = asyncio.get_running_loop()
    killed = loop.time()
    again = CaptionPoster(bus, "en", url, heartbeat=30.0)
    task = await started(bus, again)
    try:
        assert loop.time() - killed < 8.0
    finally:
        await stop(task)


async def test_two_posters_starting_at_once_post_each_caption_once(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    bus = MemoryBus()
    posters = [CaptionPoster(bus, "en", url, heartbeat=60.0, standby_check=0.02) for _ in "ab"]
    tasks = [asyncio.create_task(p.run()) for p in posters]
    try:
        await asyncio.sleep(0.2)  # both have tried to claim the channel
        await bus.publish(final("only once", at=100.0))
        await until(lambda: len(fake.delivered()) == 1, "the post")
        await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            await stop(task)
    assert [fake.texts(p) for p in fake.received] == [["only once"]]


def test_urls_come_from_the_environment() -> None:
    from companion.config import parse_config

    config = parse_config(
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        '[[channels]]\nid = "ko-kr"\nlanguage = "ko"\n'
        "youtube = { post_captions = false }\n",
        env={},
    )
    assert caption_url_env("ko-kr") == "COMPANION_CAPTION_URL_KO_KR"
    env = {"COMPANION_CAPTION_URL_EN": " http://x/cc?cid=1 ", "COMPANION_CAPTION_URL_KO_KR": "u"}
    assert caption_urls(config, env) == {"en": "http://x/cc?cid=1"}  # ko-kr does not post


def test_the_worker_command_names_what_is_missing() -> None:
    result = CliRunner().invoke(main, ["worker", "post", "--channel", "en"], env={"REDIS_URL": ""})
    assert result.exit_code == 2 and "REDIS_URL is not set" in result.stderr
    env = {"REDIS_URL": "redis://127.0.0.1:9/0", "COMPANION_CAPTION_URL_EN": ""}
    result = CliRunner().invoke(main, ["worker", "post", "--channel", "en"], env=env)
    assert result.exit_code == 2 and "COMPANION_CAPTION_URL_EN is not set" in result.stderr


async def test_serve_runs_a_poster_for_each_channel_with_a_url(
    ingest: tuple[FakeIngest, str],
) -> None:
    from companion.config import parse_config
    from workers.poster import run_posters

    fake, url = ingest
    config = parse_config(
        '[[channels]]\nid = "en"\nlanguage = "en"\n[[channels]]\nid = "ko"\nlanguage = "ko"\n',
        env={},
    )
    bus = MemoryBus()
    task = asyncio.create_task(run_posters(bus, config, {"COMPANION_CAPTION_URL_EN": url}))
    try:

        async def claimed() -> bool:
            return poster_key("en") in await bus.get_state()

        await until(claimed, "the English poster to claim its channel")
        await bus.publish(final("english", at=100.0))
        await bus.publish(CaptionEvent("ko", 0, True, "한국어", "ko", 0.0, 1.0, 1.0, 0))
        await until(lambda: len(fake.delivered()) == 1, "the English post")
        await asyncio.sleep(0.05)
    finally:
        await stop(task)
    assert [fake.texts(p) for p in fake.received] == [["english"]]
    assert poster_key("ko") not in await bus.get_state()
