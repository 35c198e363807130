"""The organizers' test caption: the pure report and numbering, the post against a fake
ingestion endpoint on loopback (with the in-memory bus), and the command end to end
(with a real Redis, as the command takes the numbering from it).

The endpoint answers like YouTube: 200 with its server time, or a 400 with its reason.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from cli import main
from companion.bus import MemoryBus
from companion.captions import CaptionEvent
from companion.errors import TrialRefused
from tests.support.redis_server import RedisServer, free_port
from workers.poster.format import parse_body, timestamp
from workers.poster.poster import CaptionPoster, claim_key, poster_key
from workers.poster.trial import (
    DEFAULT_TEXT,
    next_seq,
    read_reply,
    render,
    trial_body,
    used_report,
)
from workers.poster.trial_post import post_test_caption

SECRET = "secret-stream-key"


@dataclass
class Fake:
    """Records each post's seq and body; answers ``status`` (and ``reason`` unless 200)
    with YouTube's clock ``skew`` seconds ahead of ours."""

    status: int = 200
    reason: str = ""
    skew: float = 0.0
    seqs: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seqs.append(request.query.get("seq", ""))
        self.bodies.append(await request.text())
        if self.status == 200:
            return web.Response(text=timestamp(time.time() + self.skew) + "\n")
        return web.Response(status=self.status, text=self.reason)


def app_for(fake: Fake) -> web.Application:
    app = web.Application()
    app.router.add_post("/closedcaption", fake.handle)
    return app


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[Fake, str]]:
    fake = Fake()
    async with TestServer(app_for(fake), host="127.0.0.1") as server:
        yield fake, f"http://127.0.0.1:{server.port}/closedcaption?cid={SECRET}"


# -- pure --------------------------------------------------------------------------------


def test_the_next_seq_follows_the_channels_numbering() -> None:
    assert next_seq(None) == 1
    assert next_seq({"seq": 41, "pending": None}) == 42
    with pytest.raises(TrialRefused, match="post 42 of this channel is pending"):
        next_seq({"seq": 41, "pending": {"seq": 42, "body": "…"}})


def test_the_used_report_keeps_the_posters_place_and_marks_the_number_used() -> None:
    report = {"channel": "en", "seq": 41, "pending": None, "last_event": 9, "captions": 3}
    doc = used_report(report, "en", 42, 0, 100.0)
    assert doc["seq"] == 42 and doc["last_event"] == 9 and doc["captions"] == 3
    assert doc["active"] is False and doc["test_caption_seq"] == 42
    assert used_report(None, "en", 1, 17, 100.0)["last_event"] == 17  # starts after now


def test_the_body_is_one_cue_at_now_marked_as_a_test() -> None:
    cues = parse_body(trial_body("  hello\n  world ", 1_700_000_000.0))
    assert [(c.at, c.text) for c in cues] == [
        (1_700_000_000.0, "[test caption] 22:13:20 UTC hello world")
    ]
    assert parse_body(trial_body("", 1.0))[0].text.endswith(DEFAULT_TEXT)


def test_an_accepted_reply_measures_the_skew_and_warns_past_10_s() -> None:
    report = read_reply("en", 3, 200, timestamp(1012.5) + "\n", 1000.0, 1000.2)
    assert report.accepted and report.round_trip_ms == 200.0
    assert report.clock_skew == pytest.approx(12.4, abs=0.002)
    assert "12.4 s ahead of" in report.skew_warning
    text = render(report)
    assert "accepted (HTTP 200)" in text and "round trip: 200 ms" in text
    assert "+12.400 s" in text and "warning:" in text
    calm = read_reply("en", 3, 200, timestamp(1000.1), 1000.0, 1000.2)
    assert calm.clock_skew == 0.0 and calm.skew_warning == ""


def test_a_refusal_carries_youtubes_reason() -> None:
    report = read_reply("en", 3, 400, "Timestamp skew (75 sec)\n is larger than 60 sec", 0, 0.1)
    assert not report.accepted and report.clock_skew is None
    assert report.message == "Timestamp skew (75 sec) is larger than 60 sec"
    assert "refused (HTTP 400): Timestamp skew (75 sec)" in render(report)


# -- the post, with the in-memory bus ------------------------------------------------------


async def test_the_test_takes_the_next_seq_and_the_poster_goes_on_after_it(
    endpoint: tuple[Fake, str],
) -> None:
    fake, url = endpoint
    fake.skew = 1.5
    bus = MemoryBus()
    await bus.set_state(poster_key("en"), {"channel": "en", "seq": 7, "pending": None})
    report = await post_test_caption(bus, "en", url, "hello")
    assert report.accepted and report.seq == 8 and fake.seqs == ["8"]
    assert report.clock_skew == pytest.approx(1.5, abs=0.2)
    cues = parse_body(fake.bodies[0])
    assert len(cues) == 1 and cues[0].text.endswith(" UTC hello")
    assert (await bus.get_state())[poster_key("en")]["seq"] == 8
    # the lease is let go: a poster takes the channel and numbers its posts from 9
    poster = CaptionPoster(bus, "en", url, heartbeat=0.05)
    task = asyncio.create_task(poster.run())
    try:
        for _ in range(500):
            if len(fake.seqs) > 1:
                break
            await asyncio.sleep(0.01)
        assert fake.seqs[:2] == ["8", "9"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_channel_without_a_report_starts_after_its_latest_final(
    endpoint: tuple[Fake, str],
) -> None:
    _, url = endpoint
    bus = MemoryBus()
    event = CaptionEvent("en", 0, True, "old words", "en", 0.0, 1.0, 1.0, 0)
    await bus.publish(event)
    latest = (await bus.recent_finals("en", 1))[-1].seq
    report = await post_test_caption(bus, "en", url, "hi")
    assert report.seq == 1
    doc = (await bus.get_state())[poster_key("en")]
    assert doc["seq"] == 1 and doc["last_event"] == latest


async def test_a_live_poster_or_a_pending_post_refuses_the_test(
    endpoint: tuple[Fake, str],
) -> None:
    fake, url = endpoint
    bus = MemoryBus()
    assert await bus.claim(claim_key("en"), "live-poster", 30.0)
    with pytest.raises(TrialRefused, match="a poster is posting channel en"):
        await post_test_caption(bus, "en", url, "hi")
    await bus.claim(claim_key("en"), "live-poster", 0.001)
    await asyncio.sleep(0.01)
    pending = {"seq": 5, "body": "x", "last_event": 0, "cues": 1}
    await bus.set_state(poster_key("en"), {"seq": 4, "pending": pending})
    with pytest.raises(TrialRefused, match="post 5"):
        await post_test_caption(bus, "en", url, "hi")
    assert fake.seqs == []
    assert (await bus.get_state())[poster_key("en")]["seq"] == 4


async def test_an_unreachable_endpoint_is_reported_and_its_number_stays_used() -> None:
    bus = MemoryBus()
    url = f"http://127.0.0.1:{free_port()}/closedcaption?cid={SECRET}"
    report = await post_test_caption(bus, "en", url, "hi", timeout=2.0)
    assert not report.accepted and report.status is None
    assert "no answer from the endpoint" in report.message and SECRET not in report.message
    assert (await bus.get_state())[poster_key("en")]["seq"] == 1  # never taken again


# -- the command --------------------------------------------------------------------------


@pytest.fixture
def threaded_endpoint() -> Iterator[tuple[Fake, str]]:
    """The fake endpoint on a loop of its own thread, for the command's own asyncio.run."""
    fake = Fake()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app_for(fake))
    port = free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{port}/closedcaption?cid={SECRET}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["youtube", "test-caption", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_command_names_what_is_missing() -> None:
    code, _, err = invoke(["--channel", "en"], {"COMPANION_CAPTION_URL_EN": "", "REDIS_URL": ""})
    assert code == 2 and "COMPANION_CAPTION_URL_EN is not set" in err
    env = {"COMPANION_CAPTION_URL_EN": f"http://x/cc?cid={SECRET}", "REDIS_URL": ""}
    code, out, err = invoke(["--channel", "en"], env)
    assert code == 2 and "REDIS_URL is not set" in err and SECRET not in out + err
    code, _, err = invoke(["--channel", "xx"], env)
    assert code == 2 and "no channel 'xx'" in err


@pytest.mark.redis
def test_the_command_reports_accepted_refused_and_unreachable(
    threaded_endpoint: tuple[Fake, str],
) -> None:
    fake, url = threaded_endpoint
    with RedisServer() as redis:
        env = {"COMPANION_CAPTION_URL_EN": url, "REDIS_URL": redis.url}
        code, out, err = invoke(["--channel", "en", "--text", "Testing"], env)
        assert code == 0, err
        assert "accepted (HTTP 200)" in out and "round trip:" in out and "clock skew:" in out
        assert fake.seqs == ["1"] and SECRET not in out + err

        fake.status, fake.reason = 400, "Timestamp skew (75 sec) is larger than 60 sec"
        code, out, err = invoke(["--channel", "en", "--json"], env)
        assert code == 1, err
        got = json.loads(out)
        assert got["accepted"] is False and got["status"] == 400 and got["seq"] == 2
        assert got["message"] == fake.reason
        assert fake.seqs == ["1", "2"] and SECRET not in out + err

        env["COMPANION_CAPTION_URL_EN"] = f"http://127.0.0.1:{free_port()}/cc?cid={SECRET}"
        code, out, err = invoke(["--channel", "en"], env)
        assert code == 1 and "no answer from YouTube" in out
        for text in (out, err):
            assert SECRET not in text and "127.0.0.1" not in text
