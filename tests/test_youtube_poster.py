"""The caption poster against a fake caption ingestion endpoint, over real HTTP.

The endpoint (``tests/support/caption_ingest.py``) records every POST (its ``seq``,
headers and body) and answers as the test tells it: 200, an error status, or not at
all until released. Like YouTube, it refuses a post with a cue more than 60 s from its
clock (HTTP 400, "Timestamp skew"), and an accepted one gets its server time in the
body. Its clock and the posters' are the test's (``TestClock``): real time from a
chosen start, moved on at will, so an outage of minutes passes at once; ``skew`` puts
YouTube's clock ahead of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from cli import main
from companion.bus import MemoryBus
from companion.captions import CaptionEvent, Word
from tests.support.caption_ingest import CUE, FakeIngest
from tests.support.waiting import until
from workers.poster import caption_url_env, caption_urls
from workers.poster.clock import http_date
from workers.poster.format import parse_timestamp
from workers.poster.poster import RELEASE, CaptionPoster, poster_key

TIMEOUT = 10.0


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[FakeIngest, str]]:
    fake = FakeIngest()
    async with TestServer(fake.app(), host="127.0.0.1") as server:
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
    fake.clock.set(1778720520.0)
    bus = MemoryBus()
    await bus.publish(final("said before the poster started", at=1.0))
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, delay=2.5, heartbeat=60.0)
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
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, draw=lambda: 0.0)
    task = await started(bus, poster)
    try:
        await bus.publish(final("one", at=fake.clock.now()))
        await until(lambda: len(fake.received) == 1, "the first try")
        for text in ("two", "three", "four"):  # arrive while "one" is being retried
            await bus.publish(final(text, at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 2, "both posts")
        await bus.publish(final("five", at=fake.clock.now()))
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
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, draw=lambda: 0.0)
    task = await started(bus, poster)
    try:
        await bus.publish(final("refused", at=fake.clock.now()))
        await until(lambda: len(fake.received) == 3, "three tries")
        await bus.publish(final("accepted", at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 1, "the next post")
        await until(lambda: poster.stats.posts == 1, "its reply read")  # after the endpoint's log
    finally:
        await stop(task)
    assert [(r.seq, r.status) for r in fake.received] == [(1, 400)] * 3 + [(2, 200)]
    assert poster.stats.rejected == 1 and poster.stats.posts == 1


async def test_a_heartbeat_when_idle(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=0.1)
    task = await started(bus, poster)
    try:
        await until(lambda: poster.stats.heartbeats >= 2, "two heartbeats")
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
    task = await started(bus, CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0))
    await bus.publish(final("before", at=fake.clock.now()))
    await until(lambda: len(fake.delivered()) == 1, "the first post")
    await bus.publish(final("in flight", at=fake.clock.now()))
    await until(lambda: len(fake.received) == 2, "the post in flight")
    await stop(task)
    assert (await bus.get_state())[poster_key("en")]["pending"]["seq"] == 2

    again = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0)
    task = await started(bus, again)
    try:
        await until(lambda: len(fake.delivered()) == 2, "the pending post, again")
        await bus.publish(final("after", at=fake.clock.now()))
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
    first = await started(bus, CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0))
    second = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, standby_check=0.02)
    waiting = asyncio.create_task(second.run())
    try:
        await bus.publish(final("once", at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 1, "the first post")
        await asyncio.sleep(0.1)  # the standby checks a few times meanwhile
        assert len(fake.received) == 1
        await stop(first)

        async def taken_over() -> bool:
            return bool(
                (await bus.get_state())[poster_key("en")].get("instance") == second.instance
            )

        await until(taken_over, "the second poster to take over")
        await bus.publish(final("twice", at=fake.clock.now()))
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
    first = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, claim_ttl=0.3)
    running = await started(bus, first)
    second = CaptionPoster(
        bus, "en", url, clock=fake.clock.now, heartbeat=60.0, claim_ttl=0.3, standby_check=0.02
    )
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
        await bus.publish(final("after", at=fake.clock.now()))
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
    fake, url = ingest
    bus = KilledBus()
    await stop(
        await started(bus, CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=30.0))
    )
    loop = asyncio.get_running_loop()
    killed = loop.time()
    again = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=30.0)
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
    posters = [
        CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, standby_check=0.02)
        for _ in "ab"
    ]
    tasks = [asyncio.create_task(p.run()) for p in posters]
    try:
        await asyncio.sleep(0.2)  # both have tried to claim the channel
        await bus.publish(final("only once", at=fake.clock.now()))
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
        await bus.publish(final("english", at=fake.clock.now()))
        await bus.publish(CaptionEvent("ko", 0, True, "한국어", "ko", 0.0, 1.0, 1.0, 0))
        await until(lambda: len(fake.delivered()) == 1, "the English post")
        await asyncio.sleep(0.05)
    finally:
        await stop(task)
    assert [fake.texts(p) for p in fake.received] == [["english"]]
    assert poster_key("ko") not in await bus.get_state()


# -- captions YouTube will take: outages, restarts, the clock --------------------------


def posted_texts(fake: FakeIngest) -> list[str]:
    return [text for post in fake.delivered() for text in fake.texts(post)]


async def test_after_a_90_s_outage_stale_captions_are_left_out_and_none_is_refused(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, draw=lambda: 0.0)
    task = await started(bus, poster)
    try:
        fake.down = True
        await bus.publish(final("before the outage", at=fake.clock.now()))
        await until(lambda: len(fake.received) == 2, "two failed tries")
        await bus.publish(final("early in the outage", at=fake.clock.now() + 1.0))
        fake.clock.advance(90.0)
        await bus.publish(final("late in the outage", at=fake.clock.now() - 5.0))
        fake.down = False
        await until(lambda: len(fake.delivered()) == 1, "the first post after the outage")
        await bus.publish(final("after", at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 2, "the next post")
    finally:
        await stop(task)
    assert fake.refused_for_skew() == 0
    assert posted_texts(fake) == ["late in the outage", "after"]
    failed = {r.seq for r in fake.received if r.status != 200}
    assert failed == {1} and [r.seq for r in fake.delivered()] == [2, 3]  # 1: settled unsent
    report = (await bus.get_state())[poster_key("en")]
    assert (report["stale_dropped"], report["rejected"], report["pending"]) == (2, 0, None)
    assert 0 <= report["oldest_cue"] < 10


async def test_a_post_retried_after_an_outage_keeps_its_seq_and_only_its_fresh_cues(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, draw=lambda: 0.0)
    task = await started(bus, poster)
    try:
        fake.answers = [None]  # the first post is held: the next two gather behind it
        await bus.publish(final("held", at=fake.clock.now()))
        await until(lambda: len(fake.received) == 1, "the held post")
        await bus.publish(final("old", at=fake.clock.now()))
        await bus.publish(final("newer", at=fake.clock.now() + 40.0))
        fake.down = True
        fake.release.set()
        await until(lambda: len(fake.received) == 2, "the second post's first try")
        fake.clock.advance(55.0)  # "old" is stale now, "newer" is not
        fake.down = False
        await until(lambda: len(fake.delivered()) == 2, "the second post, again")
    finally:
        await stop(task)
    first, second = fake.received[1], fake.delivered()[-1]
    assert first.seq == second.seq == 2
    assert (fake.texts(first), fake.texts(second)) == (["old", "newer"], ["newer"])
    assert fake.refused_for_skew() == 0 and poster.stats.stale_dropped == 1


async def test_a_restarted_poster_does_not_send_a_stale_pending_post(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    fake.answers = [None]  # no answer: the poster dies waiting
    bus = MemoryBus()
    task = await started(bus, CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0))
    await bus.publish(final("in flight", at=fake.clock.now()))
    await until(lambda: len(fake.received) == 1, "the post in flight")
    await stop(task)
    fake.clock.advance(90.0)  # down for a minute and a half

    again = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0)
    task = await started(bus, again)
    try:
        await bus.publish(final("after", at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 1, "the next post")
    finally:
        await stop(task)
    assert [r.seq for r in fake.received] == [1, 2]  # 1 is not sent again
    assert posted_texts(fake) == ["after"] and fake.refused_for_skew() == 0
    assert again.stats.stale_dropped == 1


async def test_the_clock_skew_is_measured_from_each_reply_shown_and_warned_about(
    ingest: tuple[FakeIngest, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = ingest
    fake.skew = 45.0  # YouTube's clock is 45 s ahead of this machine's
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0)
    task = await started(bus, poster)
    try:
        with caplog.at_level(logging.WARNING, logger="workers.poster.poster"):
            await bus.publish(final("now", at=fake.clock.now()))
            await until(lambda: len(fake.delivered()) == 1, "the first post")
            # 20 s old here is 65 s old for YouTube: left out, not refused
            await bus.publish(final("twenty seconds ago", at=fake.clock.now() - 20.0))
            await bus.publish(final("fresh", at=fake.clock.now()))
            await until(lambda: len(fake.delivered()) == 2, "the second post")
    finally:
        await stop(task)
    report = (await bus.get_state())[poster_key("en")]
    assert abs(report["clock_skew"] - 45.0) < 1.0 and report["round_trip"] < 1.0
    assert "45" in report["skew_warning"] and "ahead" in report["skew_warning"]
    warnings = [r.getMessage() for r in caplog.records if "NTP" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: once, though every reply measured it
    assert posted_texts(fake) == ["now", "fresh"] and fake.refused_for_skew() == 0
    assert report["stale_dropped"] == 1


async def test_a_clock_a_minute_and_a_half_off_is_measured_from_the_refusals(
    ingest: tuple[FakeIngest, str],
) -> None:
    # Every post is refused for skew, so no accepted reply can measure it: the
    # refusals' Date header does, the organizers are told, and the heartbeat, stamped
    # with YouTube's clock as measured, gets through.
    fake, url = ingest
    fake.skew = 90.0
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=0.1)
    task = await started(bus, poster)
    try:
        await until(lambda: poster.stats.heartbeats >= 1, "a heartbeat through")
    finally:
        await stop(task)
    assert fake.refused_for_skew() >= 1
    assert poster.stats.clock_skew is not None and abs(poster.stats.clock_skew - 90.0) < 2.0
    assert "ahead of" in poster.stats.skew_warning and "NTP" in poster.stats.skew_warning


def test_an_http_date_is_read_at_the_middle_of_its_second() -> None:
    assert http_date("Mon, 30 Nov 2026 21:00:00 GMT") == 1796072400.5
    assert http_date("") is None and http_date("yesterday") is None


async def test_a_small_skew_is_shown_without_a_warning(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    fake.skew = -2.0
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=0.1)
    task = await started(bus, poster)
    try:
        # the poster's own reading of the reply, not the endpoint's receipt: the
        # reply may still be on its way when the endpoint has logged the post
        await until(lambda: poster.stats.clock_skew is not None, "a heartbeat's reply read")
    finally:
        await stop(task)
    assert poster.stats.clock_skew is not None and abs(poster.stats.clock_skew + 2.0) < 1.0
    assert poster.stats.skew_warning == ""


async def test_a_long_utterance_is_posted_as_cues_at_its_words_times(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0)
    task = await started(bus, poster)
    began = round(fake.clock.now() - 26.0, 3)  # 24 s of speech, its final 2 s after
    words = tuple(Word(f" w{n}", 3.0 + 2.0 * n, 4.5 + 2.0 * n) for n in range(12))
    text = "".join(w.text for w in words).strip()
    event = CaptionEvent("en", 0, True, text, "en", 3.0, 27.0, 1.0, 0, words=words, at=began)
    try:
        await bus.publish(event)
        await until(lambda: len(fake.delivered()) == 1, "the post")
    finally:
        await stop(task)
    cues = CUE.findall(fake.delivered()[0].body)
    assert [parse_timestamp(stamp) - began for stamp, _ in cues] == pytest.approx([0, 8, 16])
    assert " ".join(t for _, t in cues) == text and poster.stats.captions == 3


async def test_seq_goes_on_after_a_restart_on_the_memory_bus(
    ingest: tuple[FakeIngest, str], tmp_path: Path
) -> None:
    fake, url = ingest
    path = tmp_path / "archive" / "event" / "poster-en.json"
    for life, text in enumerate(["first life", "second life"], start=1):
        bus = MemoryBus()  # a new process: the bus is empty
        poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, seq_file=path)
        task = await started(bus, poster)
        try:
            await bus.publish(final(text, at=fake.clock.now()))
            await until(lambda n=life: len(fake.delivered()) == n, f"the post of life {life}")
        finally:
            await stop(task)
    assert [r.seq for r in fake.received] == [1, 2]
    assert posted_texts(fake) == ["first life", "second life"]
    assert json.loads(path.read_text()) == {"seq": 2, "pending": None}
    assert not list(path.parent.glob("*.tmp"))


async def test_a_pending_post_kept_in_the_seq_file_is_sent_again_after_a_restart(
    ingest: tuple[FakeIngest, str], tmp_path: Path
) -> None:
    fake, url = ingest
    fake.answers = [None]
    path = tmp_path / "poster-en.json"
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, seq_file=path)
    task = await started(bus, poster)
    await bus.publish(final("in flight", at=fake.clock.now()))
    await until(lambda: len(fake.received) == 1, "the post in flight")
    await stop(task)
    assert json.loads(path.read_text())["pending"]["seq"] == 1

    bus = MemoryBus()
    await bus.publish(final("published before the restart", at=fake.clock.now()))
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, seq_file=path)
    task = await started(bus, poster)
    try:
        await until(lambda: len(fake.delivered()) == 1, "the pending post, again")
        await bus.publish(final("after", at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 2, "the next post")
    finally:
        await stop(task)
    assert [r.seq for r in fake.received] == [1, 1, 2]
    assert posted_texts(fake) == ["in flight", "after"]


def test_serve_keeps_the_posters_numbering_beside_the_archive() -> None:
    from companion.config import parse_config
    from workers.poster import build_poster, seq_file

    config = parse_config(
        '[event]\nid = "conf"\n[archive]\ndirectory = "/srv/archive"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\n',
        env={},
    )
    at = seq_file(config, "en", {})
    assert at == Path("/srv/archive/conf/poster-en.json")
    poster = build_poster(MemoryBus(), config, "en", "http://x/cc", at)
    assert poster.seq_file is not None and poster.seq_file.path == at
    assert build_poster(MemoryBus(), config, "en", "http://x/cc").seq_file is None


async def test_a_poster_that_cannot_keep_its_numbering_still_posts(
    ingest: tuple[FakeIngest, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = ingest
    (tmp_path / "not-a-folder").write_text("")
    path = tmp_path / "not-a-folder" / "poster-en.json"
    bus = MemoryBus()
    poster = CaptionPoster(bus, "en", url, clock=fake.clock.now, heartbeat=60.0, seq_file=path)
    task = await started(bus, poster)
    try:
        await bus.publish(final("posted anyway", at=fake.clock.now()))
        await until(lambda: len(fake.delivered()) == 1, "the post")
    finally:
        await stop(task)
    assert posted_texts(fake) == ["posted anyway"]
    assert sum("cannot keep its numbering" in r.getMessage() for r in caplog.records) == 1
