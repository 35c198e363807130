"""The tracker with the real google-api-python-client, over HTTP, against a fake API.

The tracker's clock is the test's: each ``step(now)`` does what is due at ``now`` and
says when to wake, so a day of polling takes no time. HTTP, the client library, its
worker thread and the bus are real.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Literal

import pytest
from aiohttp.test_utils import TestServer

from companion.bus import MemoryBus
from companion.bus.base import Bus
from companion.bus.redis import RedisBus
from companion.config import parse_config
from service.youtube.client import YouTubeApi
from service.youtube.feed_client import FeedClient
from service.youtube.quota import Bucket, next_reset, pacific_day
from service.youtube.tracker import RESET_MARGIN, Tracker
from service.youtube.web import build_tracker
from tests.support.redis_server import RedisServer
from tests.support.waiting import until
from tests.support.youtube_fake import API_KEY, MAX_IDS, FakeYouTube, ended, live, upcoming

NOW = 1778718600.0  # 2026-05-14 00:30 UTC: 17:30 on the 13th in California
VIDEO, VIDEO_KO = "aaaaaaaaaaa", "bbbbbbbbbbb"
CHANNEL = "UC" + "c" * 22
ONE = f'[[channels]]\nid = "en"\nlanguage = "en"\nyoutube = {{ video_id = "{VIDEO}" }}\n'
TWO = ONE + f'[[channels]]\nid = "ko"\nlanguage = "ko"\nyoutube = {{ video_id = "{VIDEO_KO}" }}\n'
DISCOVER = f'[[channels]]\nid = "en"\nlanguage = "en"\nyoutube = {{ channel_id = "{CHANNEL}" }}\n'

MakeTracker = Callable[..., Tracker]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeYouTube, str]]:
    api = FakeYouTube()
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    yield api, f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def make(fake: tuple[FakeYouTube, str]) -> AsyncIterator[MakeTracker]:
    clients: list[YouTubeApi | FeedClient] = []

    def make(text: str = ONE, bus: Bus | None = None, draw: float = 0.5) -> Tracker:
        api, feeds = YouTubeApi(API_KEY, fake[1]), FeedClient(fake[1])
        clients.extend((api, feeds))
        config = parse_config(text, env={})
        return Tracker(bus or MemoryBus(), config, api, feeds=feeds, draw=lambda: draw)

    yield make
    for client in clients:
        await client.aclose()


async def doc(tracker: Tracker, channel: str = "en") -> dict[str, object]:
    return (await tracker.bus.get_state())[f"broadcast:{channel}"]


async def spent(tracker: Tracker, now: float = NOW) -> int:
    return (await tracker.ledger.view(now)).spent


async def test_walks_upcoming_live_ended_and_the_ledger_matches(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    start = NOW + 3100  # 51 min 40 s away: the near window opens in 21 min 40 s
    api.videos[VIDEO] = upcoming(VIDEO, start)
    tracker = make()

    wake = await tracker.step(NOW)
    assert (await doc(tracker))["status"] == "upcoming"
    assert (await doc(tracker))["scheduled_start"] == "2026-05-14T01:21:40Z"
    assert wake == NOW + 900  # far off: the far interval

    now = wake
    wake = await tracker.step(now)  # 36 min 40 s before: wakes as the near window opens
    assert wake == start - 1800

    now = wake
    assert await tracker.step(now) == now + 60  # near: every minute

    api.videos[VIDEO] = live(VIDEO, start, viewers=321)
    now = start + 10
    assert await tracker.step(now) == now + 30  # live: every 30 s
    live_doc = await doc(tracker)
    assert (live_doc["status"], live_doc["concurrent_viewers"]) == ("live", 321)
    assert live_doc["actual_start"] == "2026-05-14T01:21:40Z"

    api.videos[VIDEO] = ended(VIDEO, start, start + 3600)
    now = start + 3600 + 5
    assert await tracker.step(now) is None  # ended: nothing left to ask
    assert (await doc(tracker))["status"] == "ended"
    assert (await doc(tracker))["actual_end"] == "2026-05-14T02:21:40Z"

    assert api.methods() == ["videos.list"] * 5
    assert await spent(tracker, now) == api.units == 5
    assert tracker.calls == {"videos.list": 5}


async def test_all_channels_in_one_call(fake: tuple[FakeYouTube, str], make: MakeTracker) -> None:
    api, _ = fake
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    api.videos[VIDEO_KO] = upcoming(VIDEO_KO, NOW + 600)
    tracker = make(TWO)
    await tracker.step(NOW)
    assert len(api.calls) == 1
    assert sorted(api.calls[0][1]["id"].split(",")) == [VIDEO, VIDEO_KO]
    assert (await doc(tracker, "en"))["status"] == "live"
    assert (await doc(tracker, "ko"))["status"] == "upcoming"
    # The client and its HTTP object were built in the API's worker thread, not here.
    assert getattr(tracker.api._local, "service", None) is None  # type: ignore[union-attr]


async def test_one_replica_tracks_and_the_others_stand_by(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    bus = MemoryBus()  # the bus all replicas share
    trackers = [make(ONE, bus=bus) for _ in range(3)]
    runs = [asyncio.create_task(t.run()) for t in trackers]
    try:
        await until(lambda: api.calls, "the first call to YouTube", timeout=10)
        await asyncio.sleep(0.3)  # the others have tried for the lease by now
        assert len(api.calls) == 1
        assert [t.leading for t in trackers].count(True) == 1
        leader = next(t for t in trackers if t.leading)
        assert leader.report()["role"] == "tracking"
        assert {t.report()["role"] for t in trackers if t is not leader} == {
            "standby (another replica tracks)"
        }
        assert sum(t.calls.total() for t in trackers) == leader.calls.total() == 1
    finally:
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)


async def test_empty_items_means_not_found_or_private(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    tracker = make()
    wake = await tracker.step(NOW)
    found = await doc(tracker)
    assert found["status"] == "not_found"
    assert "private, deleted, or the id is wrong" in str(found["note"])
    assert found["embed_url"] == f"https://www.youtube.com/embed/{VIDEO}"
    assert wake == NOW + 900  # asked again now and then: it may be made public


async def test_spent_units_stop_every_call_until_pacific_midnight(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    bus = MemoryBus()
    tracker, other = make(bus=bus), make(bus=bus)  # two trackers sharing one ledger
    api.units_spent = True

    wake = await tracker.step(NOW)
    reset = next_reset(NOW)
    assert reset <= wake <= reset + 2 * RESET_MARGIN
    paused = await doc(tracker)
    assert paused["tracking"] == "paused"
    assert "API units are spent" in str(paused["note"]) and "midnight Pacific" in str(
        paused["note"]
    )
    assert len(api.calls) == 1 and tracker.errors["quota_exceeded"] == 1

    api.units_spent = False  # no call would fail now, but none is made before the reset
    for now in (NOW + 60, NOW + 3600, reset - 1):
        assert await tracker.step(now) >= reset
        assert await other.step(now) >= reset
    assert len(api.calls) == 1

    assert pacific_day(wake) != pacific_day(NOW)
    assert await tracker.step(wake) == wake + 30  # a new day: polling again
    assert len(api.calls) == 2
    assert (await doc(tracker))["tracking"] == "on"


async def test_errors_back_off_with_jitter_and_recover(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    tracker = make(draw=0.0)  # the smallest jitter: half of each base delay
    api.fail_next("backendError", "tooManyRequests", "rateLimitExceeded", "unavailable")
    now, waits, notes = NOW, [], []
    for _ in range(4):
        wake = await tracker.step(now)
        assert wake is not None
        waits.append(wake - now)
        now = wake
        assert (await doc(tracker))["tracking"] == "paused"
        notes.append(str((await doc(tracker))["note"]))
    assert waits == [2.5, 5.0, 10.0, 20.0]
    assert [n.split(" (")[0] for n in notes] == [
        "YouTube answered 500",
        "YouTube answered 429",
        "YouTube answered 403",
        "YouTube answered 503",
    ]
    assert "retrying at" in notes[0] and tracker.errors["unavailable"] == 4
    assert await tracker.step(now) == now + 30
    assert (await doc(tracker))["tracking"] == "on"
    assert await tracker.step(now + 30) == now + 60  # the backoff starts again from the base
    assert api.units == 6 == await spent(tracker, now)


async def test_a_refused_key_is_reported_and_asked_again_rarely(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.fail_next("keyInvalid")
    tracker = make()
    assert await tracker.step(NOW) == NOW + 900
    assert "keyInvalid" in tracker.last_error and tracker.errors["refused"] == 1
    assert "API key not valid" in str((await doc(tracker))["note"])
    assert API_KEY not in tracker.last_error


async def test_a_stream_only_the_feed_lists_is_found_at_no_quota(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    """The channel's feed lists the scheduled stream (its uploads playlist does not
    yet): discovery finds it with no channels.list, playlistItems.list or search.list,
    only the videos.list that says which of the feed's videos is upcoming."""
    api, _ = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22  # an empty uploads playlist
    old, nxt = "ooooooooooo", "nnnnnnnnnnn"
    api.feeds[CHANNEL] = [nxt, old]
    api.videos[old] = ended(old, NOW - 86_400, NOW - 80_000)
    api.videos[nxt] = upcoming(nxt, NOW + 900)
    tracker = make(DISCOVER)
    wake = await tracker.step(NOW)
    assert api.methods() == ["videos.list"]
    assert sorted(api.calls[0][1]["id"].split(",")) == [nxt, old]
    assert len(api.feed_reads) == 1
    found = await doc(tracker)
    assert (found["video_id"], found["status"]) == (nxt, "upcoming")
    assert wake == NOW + 60  # near
    view = await tracker.ledger.view(NOW)
    assert (view.spent, view.searches) == (api.units, api.searches) == (1, 0)
    assert tracker.calls == {"feed": 1, "videos.list": 1}
    feed = tracker.report()["discovery"][CHANNEL]
    assert (feed["feed"], feed["feed_error"], feed["feed_entries"]) == ("ok", "", 2)

    api.videos[nxt] = live(nxt, NOW + 900, 5)
    await tracker.step(NOW + 960)
    assert api.methods() == ["videos.list"] * 2 and (await doc(tracker))["status"] == "live"
    assert api.units == 2 == await spent(tracker, NOW + 960)


async def test_the_feed_is_read_without_the_api_key(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22
    tracker = make(DISCOVER)
    await tracker.step(NOW)
    [(query, headers)] = api.feed_reads
    assert query == {"channel_id": CHANNEL}
    assert not [k for k, v in headers.items() if API_KEY in k + v or k.lower() == "cookie"]
    assert all(q.get("key") == API_KEY for _, q in api.calls)  # the API's calls have it


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_a_failing_feed_falls_back_to_the_uploads_playlist(
    fake: tuple[FakeYouTube, str], make: MakeTracker, status: int
) -> None:
    api, url = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22
    old, nxt = "ooooooooooo", "nnnnnnnnnnn"
    api.playlists["UU" + "c" * 22] = [old, nxt]
    api.videos[old] = ended(old, NOW - 86_400, NOW - 80_000)
    api.videos[nxt] = upcoming(nxt, NOW + 900)
    api.feed_status = status
    tracker = make(DISCOVER)
    wake = await tracker.step(NOW)
    assert len(api.feed_reads) == 1
    assert api.methods() == ["channels.list", "playlistItems.list", "videos.list"]
    found = await doc(tracker)
    assert (found["video_id"], found["status"], found["tracking"]) == (nxt, "upcoming", "on")
    assert wake == NOW + 60  # no backoff: the playlist stood in
    report = tracker.report()
    feed = report["discovery"][CHANNEL]
    assert (feed["feed"], feed["feed_error"]) == ("failed", f"the feed answered {status}")
    assert report["errors"] == {"feed_failed": 1} and report["last_error"] == ""
    assert url.split("//")[1] not in json.dumps(report)  # no address shown


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><id>yt:vi',
            "not well-formed XML",
        ),
        (b"<!DOCTYPE html><html><body>Before you continue to YouTube</body></html>", "not a feed"),
        (b"", "not a feed"),
        (b"/etc/passwd", "not well-formed XML"),  # never opened as a file name
    ],
)
async def test_a_malformed_feed_falls_back_to_the_uploads_playlist(
    fake: tuple[FakeYouTube, str], make: MakeTracker, body: bytes, why: str
) -> None:
    api, _ = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22
    api.playlists["UU" + "c" * 22] = [VIDEO]
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 3)
    api.feed_body = body
    tracker = make(DISCOVER)
    await tracker.step(NOW)
    assert api.methods() == ["channels.list", "playlistItems.list", "videos.list"]
    assert (await doc(tracker))["status"] == "live"
    assert why in tracker.report()["discovery"][CHANNEL]["feed_error"]


async def test_search_is_the_last_resort_with_its_own_budget(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22  # an empty uploads playlist
    text = "[youtube]\nsearch_budget = 1\ndiscover_interval = 600\n" + DISCOVER
    tracker = make(text)

    wake = await tracker.step(NOW)
    # The feed shows nothing: the playlist is read (the first look), then a search.
    assert api.methods() == ["channels.list", "playlistItems.list", "search.list"]
    assert api.calls[-1][1]["eventType"] == "live"
    assert "no upcoming or live broadcast" in str((await doc(tracker))["note"])
    assert wake == NOW + 600

    hidden = "hhhhhhhhhhh"
    api.found[(CHANNEL, "upcoming")] = [hidden]
    api.videos[hidden] = upcoming(hidden, NOW + 7200)
    for now in (NOW + 600, NOW + 4000):  # within the hour, then past it but over budget
        await tracker.step(now)
    assert api.methods().count("search.list") == 1
    # The feed works: the playlist is not read again for 6 hours.
    assert api.methods().count("playlistItems.list") == 1 and len(api.feed_reads) == 3
    view = await tracker.ledger.view(NOW + 4000)
    assert (view.searches, view.spent) == (api.searches, api.units) == (1, 2)  # own buckets

    second_day = next_reset(NOW) + 60
    await tracker.step(second_day)  # a new day: a new search budget
    assert api.methods()[-2:] == ["search.list", "videos.list"]
    assert api.calls[-2][1]["eventType"] == "upcoming"
    assert (await doc(tracker))["video_id"] == hidden


async def test_polls_slow_down_before_the_budget_runs_out(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    tracker = make("[youtube]\ndaily_quota = 1000\nsearch_budget = 0\n" + ONE)
    await tracker.bus.add_to_counter(f"youtube:quota:{pacific_day(NOW)}", 899, 60)
    wake = await tracker.step(NOW)
    assert wake is not None and wake - NOW == pytest.approx(23_400 / 100)
    assert "polling slowed to every 234 s" in str((await doc(tracker))["note"])

    await tracker.bus.add_to_counter(f"youtube:quota:{pacific_day(NOW)}", 100, 60)  # all spent
    wake = await tracker.step(wake)
    assert wake is not None and wake >= next_reset(NOW)
    assert "budget of 1000 API units is spent" in str((await doc(tracker))["note"])
    assert api.units == 1


async def test_a_missing_key_turns_tracking_off_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MemoryBus()
    with caplog.at_level(logging.WARNING):
        tracker = build_tracker(bus, parse_config(TWO, env={}), {})
    lines = [r.getMessage() for r in caplog.records if "YOUTUBE_API_KEY" in r.getMessage()]
    assert lines == [
        "YouTube tracking is off: YOUTUBE_API_KEY is not set "
        "(viewers still get the configured videos)"
    ]
    assert tracker.api is None
    await tracker.run()  # publishes the videos and returns
    state = await bus.get_state()
    assert state["broadcast:en"]["embed_url"] == f"https://www.youtube.com/embed/{VIDEO}"
    assert state["broadcast:ko"]["video_id"] == VIDEO_KO
    assert {d["tracking"] for d in state.values()} == {"off"}
    assert "YOUTUBE_API_KEY is not set" in state["broadcast:en"]["note"]


# -- two processes, one Redis ---------------------------------------------------------


@pytest.mark.redis
async def test_two_trackers_share_one_ledger_in_redis(
    fake: tuple[FakeYouTube, str], make: MakeTracker, redis_server: RedisServer
) -> None:
    api, _ = fake
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    namespace = f"test-{uuid.uuid4().hex}"
    a, b = RedisBus(redis_server.url, namespace), RedisBus(redis_server.url, namespace)
    await a.start()
    await b.start()
    try:
        text = "[youtube]\nsearch_budget = 0\n" + ONE
        first, second = make(text, bus=a), make(text, bus=b)
        for n in range(6):
            await (first if n % 2 else second).step(NOW + 30 * n)
        assert api.units == 6 == await spent(first) == await spent(second)

        await a.add_to_counter(f"youtube:quota:{pacific_day(NOW)}", 9_999 - 6, 60)
        await first.step(NOW + 200)  # the last unit of the day
        for tracker in (second, first):
            wake = await tracker.step(NOW + 300)
            assert wake is not None and wake >= next_reset(NOW)
        assert len(api.calls) == 7 and await spent(second) == 10_000
        assert "budget of 10000 API units is spent" in str((await doc(second))["note"])

        api.units_spent = True  # the project's quota, spent elsewhere too
        tomorrow = next_reset(NOW) + 10
        await second.step(tomorrow)
        assert await first.step(tomorrow + 60) >= next_reset(tomorrow)
        assert len(api.calls) == 8  # the second saw quotaExceeded; the first did not ask
    finally:
        await a.close()
        await b.close()


async def test_discovery_backs_off_when_youtube_fails(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22
    api.playlists["UU" + "c" * 22] = [VIDEO]
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 3)
    api.fail_next("backendError")
    tracker = make(DISCOVER, draw=0.0)
    assert await tracker.step(NOW) == NOW + 2.5
    assert (await doc(tracker))["tracking"] == "paused"
    await tracker.step(NOW + 2.5)
    assert (await doc(tracker))["status"] == "live"
    assert api.methods() == ["videos.list", "videos.list"]  # found in the feed
    assert len(api.feed_reads) == 1  # read again only after FEED_GAP


def test_tracking_can_be_turned_off_in_the_config() -> None:
    config = parse_config("[youtube]\ntrack = false\n" + ONE, env={})
    tracker = build_tracker(MemoryBus(), config, {"YOUTUBE_API_KEY": API_KEY})
    assert tracker.api is None and "youtube.track" in tracker.off_reason


# -- the search bucket, paging and batches ---------------------------------------------


@pytest.mark.parametrize("answer", ["403", "429"])
async def test_a_spent_search_bucket_stops_searches_only(
    fake: tuple[FakeYouTube, str], make: MakeTracker, answer: Literal["403", "429"]
) -> None:
    """YouTube says the search bucket is spent, with a 403 quotaExceeded or a 429
    naming the 'Search Queries' metric: searches stop until midnight Pacific, in every
    process; polls and the uploads playlist go on, with no backoff."""
    api, _ = fake
    api.uploads[CHANNEL] = "UU" + "c" * 22  # nothing on the uploads: a search is wanted
    api.videos[VIDEO] = live(VIDEO, NOW - 60, 10)
    api.searches_spent = answer
    text = ONE.replace('id = "en"', 'id = "xx"') + DISCOVER  # one configured, one discovered
    bus = MemoryBus()
    tracker, other = make(text, bus=bus), make(text, bus=bus)

    wake = await tracker.step(NOW)
    assert api.methods() == ["channels.list", "playlistItems.list", "search.list", "videos.list"]
    assert wake == NOW + 30  # the live video's next poll: nothing paused, no backoff
    view = await tracker.ledger.view(NOW)
    assert view.exhausted == {Bucket.SEARCH}
    assert tracker.errors == {"search_quota_exceeded": 1}
    assert "search" in tracker.last_error
    found = await doc(tracker, "en")
    assert found["tracking"] == "on" and "searches are spent until" in str(found["note"])
    assert (await doc(tracker, "xx"))["status"] == "live"

    later = NOW + 2 * 3600  # past the hour between searches, still the same day
    await tracker.step(later)
    await other.step(later)
    assert api.searches == 1  # neither process searched again
    # The feed is read at each look; the playlist at each tracker's first one.
    assert api.methods().count("playlistItems.list") == 2 and len(api.feed_reads) == 3
    assert (await doc(tracker, "xx"))["tracking"] == "on"

    api.searches_spent = ""
    await tracker.step(next_reset(NOW) + 60)  # a new day: searching again
    assert api.searches == 2


async def test_discovery_pages_back_to_a_stream_scheduled_well_ahead(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    """The stream was scheduled 20 days ago; 110 uploads have come since. Its page is
    read, and videos.list is asked 50 ids at a time (the fake refuses more, as YouTube
    does); videos seen ended are not asked about again."""
    api, _ = fake
    playlist = "UU" + "c" * 22
    api.uploads[CHANNEL] = playlist
    uploads = [f"u{i:010d}" for i in range(110)]
    for n, video_id in enumerate(uploads):
        api.videos[video_id] = ended(video_id, NOW - 3600 * (n + 2), NOW - 3600 * (n + 1))
        api.added[video_id] = NOW - 3600 * (n + 1)
    stream = "sssssssssss"
    api.videos[stream] = upcoming(stream, NOW + 86_400)
    api.added[stream] = NOW - 20 * 86_400
    api.playlists[playlist] = [*uploads, stream]
    tracker = make(DISCOVER)

    await tracker.step(NOW)
    found = await doc(tracker)
    assert (found["video_id"], found["status"]) == (stream, "upcoming")
    pages = [q for m, q in api.calls if m == "playlistItems.list"]
    assert [q.get("pageToken") for q in pages] == [None, "50", "100"]
    asked = [q["id"].split(",") for m, q in api.calls if m == "videos.list"]
    assert [len(ids) for ids in asked] == [50, 50, 11]
    assert max(len(ids) for ids in asked) <= MAX_IDS

    api.videos[stream] = ended(stream, NOW + 86_400, NOW + 90_000)
    calls = len(api.calls)
    await tracker.step(NOW + 86_400 + 60)  # polled: ended
    await tracker.step(NOW + 86_400 + 60 + 600)  # discovery again: a new stream?
    again = [m for m, _ in api.calls[calls:]]
    # The poll, then the three pages, and no videos.list: all 111 are known ended.
    assert again == ["videos.list"] + ["playlistItems.list"] * 3 + ["search.list"]
    assert "no upcoming or live broadcast" in str((await doc(tracker))["note"])


async def test_a_full_feed_may_hide_a_stream_so_the_playlist_is_read_too(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    """The feed lists 15 uploads, one a stream next week; below them on the playlist
    is tomorrow's, scheduled a while ago. A full feed read for the first time cannot
    say what is older, so the playlist is read in the same look and tomorrow's wins."""
    api, _ = fake
    playlist = "UU" + "c" * 22
    api.uploads[CHANNEL] = playlist
    later, soon = "lllllllllll", "sssssssssss"
    recent = [f"r{n:010d}" for n in range(20)]
    for n, video_id in enumerate(recent):
        api.videos[video_id] = ended(video_id, NOW - 3600 * (n + 2), NOW - 3600 * (n + 1))
    api.videos[later] = upcoming(later, NOW + 7 * 86_400)
    api.videos[soon] = upcoming(soon, NOW + 86_400)
    api.playlists[playlist] = [later, *recent, soon]
    tracker = make(DISCOVER)
    await tracker.step(NOW)
    assert len(api.feed_reads) == 1
    assert api.methods() == ["channels.list", "playlistItems.list", "videos.list"]
    assert (await doc(tracker))["video_id"] == soon


async def test_discovery_stops_paging_past_the_lookback(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    playlist = "UU" + "c" * 22
    api.uploads[CHANNEL] = playlist
    uploads = [f"u{i:010d}" for i in range(300)]
    for n, video_id in enumerate(uploads):  # one a day: the 91st page item is too old
        api.added[video_id] = NOW - 86_400 * (n + 1)
    api.playlists[playlist] = uploads
    tracker = make(DISCOVER)
    await tracker.step(NOW)
    assert api.methods().count("playlistItems.list") == 2  # days 1-50 and 51-100, not more


async def test_polls_ask_fifty_videos_a_call(
    fake: tuple[FakeYouTube, str], make: MakeTracker
) -> None:
    api, _ = fake
    ids = [f"v{n:010d}" for n in range(60)]
    text = "".join(
        f'[[channels]]\nid = "c{n}"\nlanguage = "en"\nyoutube = {{ video_id = "{v}" }}\n'
        for n, v in enumerate(ids)
    )
    for video_id in ids:
        api.videos[video_id] = live(video_id, NOW - 60, 1)
    tracker = make(text)
    assert await tracker.step(NOW) == NOW + 30
    assert [len(q["id"].split(",")) for _, q in api.calls] == [50, 10]
    assert {str((await doc(tracker, f"c{n}"))["status"]) for n in range(60)} == {"live"}
    assert await spent(tracker) == api.units == 2
