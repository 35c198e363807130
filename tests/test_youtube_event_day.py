"""A whole event day on YouTube, on one test clock: the tracker and both channels' posters.

Two channels stream on YouTube: ``en`` is configured by its YouTube channel id (the
tracker finds the stream in the channel's feed), ``ko`` by its video id. The day runs
from the morning, before the streams start, through upcoming, live and ended, to an
hour after the last one ended. While the streams are live, final captions are
published on the in-memory bus for both channels; at 02:00 UTC the network goes down
for 90 s (the caption ingestion endpoint and the Data API alike) and comes back.

Everything is real but the clock: the tracker (``Tracker.run``, with the
google-api-python-client over HTTP against the fake Data API and its feeds), one
``CaptionPoster`` per channel over HTTP against the fake ingestion endpoint (which,
like YouTube, refuses a cue more than 60 s from its clock), and the bus. The clock
(``DayClock``) stands still until the test moves it, so the day takes seconds and every
figure is exact: the test moves it to each time the tracker wakes, and to each
caption. The posters' retries and heartbeats wait on the event loop's time, not the
test clock; the heartbeat is set to an hour so that none comes in the day's seconds
(``test_youtube_poster.py`` covers heartbeats).

The day's figures are printed (``pytest -s``): units and searches spent, posts
accepted, cues dropped for staleness, and posts refused for skew, which must be none.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from companion.bus import MemoryBus
from companion.captions import CaptionEvent
from companion.config import parse_config
from service.youtube.quota import pacific_day
from service.youtube.tracker import Tracker, broadcast_key
from service.youtube.web import build_tracker
from tests.support.caption_ingest import CUE, FakeIngest, TestClock
from tests.support.waiting import until
from tests.support.youtube_fake import API_KEY, FakeYouTube, ended, live, upcoming
from workers.poster import caption_urls
from workers.poster.clock import MAX_AGE
from workers.poster.format import parse_timestamp
from workers.poster.poster import CaptionPoster, poster_key

MINUTE, HOUR = 60.0, 3600.0
MORNING = 1778713200.0  # 2026-05-13 23:00 UTC: 08:00 in Seoul, 16:00 in California
SCHEDULED = MORNING + 2 * HOUR  # both streams are scheduled for 01:00 UTC
EN_LIVE, EN_END = SCHEDULED + 2 * MINUTE, SCHEDULED + 2 * HOUR  # starts 2 min late
KO_LIVE, KO_END = SCHEDULED - MINUTE, SCHEDULED + 2 * HOUR + 5 * MINUTE
OUTAGE = SCHEDULED + HOUR  # 02:00 UTC, for 90 s
OUTAGE_END = OUTAGE + 90.0
EVENING = KO_END + HOUR  # the day's last look
SPOKEN = 1.5  # a final is published this long after its speech began
SKEW = 3.0  # YouTube's clock is 3 s ahead of this machine's

CHANNEL = "UC" + "e" * 22  # en's YouTube channel
UPLOADS = "UU" + "e" * 22
EN_STREAM, KO_STREAM = "eeeeeeeeeee", "kkkkkkkkkkk"
OLD = ["old00000001", "old00000002", "old00000003"]  # the channel's earlier streams
KO_DELAY = 2.5
CONFIG = f"""
[event]
id = "eventday"

[youtube]
daily_quota = 10000
search_budget = 100

[[channels]]
id = "en"
language = "en"
youtube = {{ channel_id = "{CHANNEL}" }}

[[channels]]
id = "ko"
language = "ko"
youtube = {{ video_id = "{KO_STREAM}", caption_delay = {KO_DELAY} }}
"""
LIVE = {"en": (EN_LIVE, EN_END), "ko": (KO_LIVE, KO_END)}
DELAY = {"en": 0.0, "ko": KO_DELAY}


class DayClock(TestClock):
    """The day's clock: it stands still until the test moves it, and a sleep on it
    (the tracker's) ends once it is moved past the sleep's end."""

    __test__ = False

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.wake_at: float | None = None  # when the sleeping tracker wants to wake
        self.sleeps = 0
        self._moved = asyncio.Event()

    def now(self) -> float:
        return self._base

    def move_to(self, when: float) -> None:
        assert when >= self._base, "the day's clock only goes forward"
        self._base = when
        self._moved.set()

    async def sleep(self, seconds: float) -> None:
        end = self._base + seconds
        self.sleeps += 1
        self.wake_at = end
        try:
            while self._base < end:
                self._moved.clear()
                await self._moved.wait()
        finally:
            self.wake_at = None


def scene(when: float) -> dict[str, dict[str, Any]]:
    """What the Data API says about the two streams at ``when``."""
    videos = {}
    for video_id, (start, end) in ((EN_STREAM, LIVE["en"]), (KO_STREAM, LIVE["ko"])):
        if when < start:
            videos[video_id] = upcoming(video_id, SCHEDULED)
        elif when < end:
            videos[video_id] = live(video_id, start, viewers=100 + int(when - start) // 60)
        else:
            videos[video_id] = ended(video_id, start, end)
    return videos


class RecordingBus(MemoryBus):
    """The in-memory bus, keeping every broadcast document the tracker publishes."""

    def __init__(self) -> None:
        super().__init__()
        self.published: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def set_state(self, key: str, value: dict[str, Any]) -> None:
        if key.startswith("broadcast:"):
            self.published[key].append(value)
        await super().set_state(key, value)


class Day:
    """Moves the day's clock, the fake API's streams with it, and waits for the tracker."""

    def __init__(self, clock: DayClock, api: FakeYouTube, tracking: asyncio.Task[None]) -> None:
        self.clock, self.api, self.tracking = clock, api, tracking
        self.calls: list[tuple[float, int]] = []  # (time, API calls made by then)

    def _move(self, when: float) -> None:
        self.calls.append((self.clock.now(), len(self.api.calls)))
        self.api.videos.update(scene(when))
        self.clock.move_to(when)

    def methods_by(self, when: float) -> list[str]:
        """The API methods called before the clock passed ``when``."""
        made = max(n for at, n in self.calls if at <= when)
        return self.api.methods()[:made]

    async def _tracker(self, check: Callable[[], bool], what: str) -> None:
        await until(lambda: check() or self.tracking.done(), what, every=0.001)
        if self.tracking.done():
            self.tracking.result()  # its exception, if it failed
            raise AssertionError("the tracker stopped")

    async def to(self, when: float) -> None:
        """Move the clock to ``when``, stopping at each time the tracker wakes."""
        while True:
            await self._tracker(lambda: self.clock.wake_at is not None, "the tracker to sleep")
            wake = self.clock.wake_at
            assert wake is not None
            if wake > when:
                self._move(max(when, self.clock.now()))
                return
            stepped = self._slept_again()
            self._move(max(wake, self.clock.now()))
            await self._tracker(stepped, "the tracker's step")

    def _slept_again(self) -> Callable[[], bool]:
        """Whether the tracker has gone to sleep again since now."""
        sleeps = self.clock.sleeps
        return lambda: self.clock.sleeps > sleeps


def active(bus: MemoryBus, channel: str) -> Callable[[], Awaitable[bool]]:
    """Whether ``channel``'s poster holds the channel and says so."""

    async def check() -> bool:
        doc = (await bus.get_state()).get(poster_key(channel), {})
        return bool(doc.get("active"))

    return check


def settled(poster: CaptionPoster, event: int) -> Callable[[], bool]:
    """Whether ``poster`` has settled (posted or left out) the bus event ``event``."""
    return lambda: poster.last_event >= event


def spoken_at() -> list[float]:
    """When a final caption is published: every minute while a stream is live, and
    every 5 s from two minutes before the outage to two minutes after it."""
    times = {EN_LIVE - MINUTE + n * MINUTE for n in range(int((KO_END - KO_LIVE) // MINUTE) + 3)}
    times |= {OUTAGE - 2 * MINUTE + 5.0 * n for n in range(int((4 * MINUTE + 90) // 5) + 1)}
    return sorted(t for t in times if any(s <= t < e for s, e in LIVE.values()))


async def speak_through_the_day(
    day: Day,
    bus: MemoryBus,
    posters: dict[str, CaptionPoster],
    ingest: FakeIngest,
    api: FakeYouTube,
) -> dict[str, list[tuple[str, float]]]:
    """Publish each live channel's captions through the day, and cut the network for
    90 s at ``OUTAGE``; outside the outage, wait for each caption to be settled.
    Returns each channel's captions, in order: (text, when its speech began)."""
    spoken: dict[str, list[tuple[str, float]]] = {channel: [] for channel in posters}
    events = dict.fromkeys(posters, 0)  # the bus seq of each channel's last event
    for when in spoken_at():
        await day.to(when)
        if when == OUTAGE:
            ingest.cut()
            api.unreachable = True
        elif when == OUTAGE_END:
            ingest.restore()
            api.unreachable = False
        for channel, (start, end) in LIVE.items():
            if not start <= when < end:
                continue
            text = f"{channel} caption {len(spoken[channel]) + 1}"
            at = when - SPOKEN
            for final in (False, True):  # a partial, then its final
                words = text if final else text.split()[0]
                await bus.publish(
                    CaptionEvent(channel, 0, final, words, channel, 0.0, 1.5, 1.5, 0, at=at)
                )
            events[channel] += 2
            spoken[channel].append((text, at))
        if when == OUTAGE:
            await until(
                lambda: {cid for cid, _ in ingest.lost} == {"stream-en", "stream-ko"},
                "both posters' first posts to be lost to the outage",
            )
        elif not OUTAGE < when < OUTAGE_END:
            for channel, poster in posters.items():
                await until(settled(poster, events[channel]), f"{channel}'s captions settled")
    return spoken


def distinct(values: list[str]) -> list[str]:
    """``values`` without repeats in a row."""
    return [v for n, v in enumerate(values) if n == 0 or values[n - 1] != v]


async def test_a_whole_event_day_on_the_test_clock() -> None:
    clock = DayClock(MORNING)
    api = FakeYouTube()
    api.uploads[CHANNEL] = UPLOADS
    api.playlists[UPLOADS] = [EN_STREAM, *OLD]  # the stream was scheduled days ago
    for n, video_id in enumerate(OLD, start=1):
        api.videos[video_id] = ended(video_id, MORNING - n * 86_400, MORNING - n * 86_400 + HOUR)
    api.videos.update(scene(MORNING))
    ingest = FakeIngest(clock)
    ingest.skew = SKEW
    bus = RecordingBus()
    config = parse_config(CONFIG, env={})
    async with (
        TestServer(api.app(), host="127.0.0.1") as youtube,
        TestServer(ingest.app(), host="127.0.0.1") as endpoint,
    ):
        base = f"http://127.0.0.1:{youtube.port}"
        ingestion = f"http://127.0.0.1:{endpoint.port}/closedcaption"
        env = {
            "YOUTUBE_API_KEY": API_KEY,
            "YOUTUBE_API_ENDPOINT": base,
            "YOUTUBE_FEED_ENDPOINT": base,
            "COMPANION_CAPTION_URL_EN": f"{ingestion}?cid=stream-en",
            "COMPANION_CAPTION_URL_KO": f"{ingestion}?cid=stream-ko",
        }
        built = build_tracker(bus, config, env)  # the key and both endpoints from env
        assert built.api is not None and built.feeds is not None
        tracker = Tracker(
            bus,
            config,
            built.api,
            feeds=built.feeds,
            clock=clock.now,
            sleep=clock.sleep,
            draw=lambda: 0.5,
        )
        posters = {
            channel: CaptionPoster(
                bus,
                channel,
                url,
                delay=config.channel(channel).youtube.caption_delay,
                heartbeat=HOUR,
                timeout=HOUR,  # an outage is 90 s of the test clock, not of the loop's
                clock=clock.now,
                draw=lambda: 0.0,
            )
            for channel, url in caption_urls(config, env).items()
        }
        assert sorted(posters) == ["en", "ko"]
        posting = [asyncio.create_task(p.run()) for p in posters.values()]
        tracking = asyncio.create_task(tracker.run())
        day = Day(clock, api, tracking)
        try:
            for channel in posters:
                await until(active(bus, channel), f"the {channel} poster to claim its channel")
            spoken = await speak_through_the_day(day, bus, posters, ingest, api)
            await day.to(EVENING)
        finally:
            for task in [tracking, *posting]:
                task.cancel()
            await asyncio.gather(tracking, *posting, return_exceptions=True)
            await built.api.aclose()
            await built.feeds.aclose()

    # -- the broadcasts -------------------------------------------------------------
    for channel, video_id in (("en", EN_STREAM), ("ko", KO_STREAM)):
        docs = bus.published[broadcast_key(channel)]
        assert distinct([d["status"] for d in docs]) == ["unknown", "upcoming", "live", "ended"]
        assert docs[-1]["video_id"] == video_id
        # the outage paused tracking, with a note, and it went on afterwards
        assert distinct([d["tracking"] for d in docs]) == ["on", "paused", "on"], channel
    final_en = bus.published[broadcast_key("en")][-1]
    assert "no upcoming or live broadcast" in final_en["note"]  # looking for the next one

    # -- the quota: one Pacific day, spent as planned --------------------------------
    view = await tracker.ledger.view(EVENING)
    assert view.day == pacific_day(MORNING) == pacific_day(EVENING)
    # Found from the feed: until en's stream ended, nothing but videos.list (for
    # all channels at once) was called, and no search.
    assert set(day.methods_by(EN_END)) == {"videos.list"}
    # Once it ended, the tracker looks for the channel's next stream: the feed shows
    # none, so the uploads playlist is read (channels.list once, one page), and a
    # search is the last resort, once an hour.
    after = Counter(api.methods()[len(day.methods_by(EN_END)) :])
    assert after - Counter({"videos.list": after["videos.list"]}) == Counter(
        {"channels.list": 1, "playlistItems.list": 1, "search.list": 2}
    )
    assert (view.spent, view.searches) == (293, 2)
    assert (api.units, api.searches) == (288, 2)  # what reached YouTube
    # The ledger charges each call before it is made: the 5 polls lost to the outage
    # never reached YouTube, and are counted all the same.
    assert tracker.errors == {"unavailable": 5} and api.dropped > 0
    assert view.spent - api.units == tracker.errors["unavailable"]
    assert view.spent <= config.youtube.daily_quota and view.searches <= 24

    # -- the captions -------------------------------------------------------------------
    assert ingest.refused_for_skew() == 0
    assert {r.status for r in ingest.received} == {200}  # nothing refused at all
    accepted = {channel: ingest.delivered(f"stream-{channel}") for channel in posters}
    for channel, poster in posters.items():
        posts = accepted[channel]
        seqs = [post.seq for post in posts]
        lost = [seq for cid, seq in ingest.lost if cid == f"stream-{channel}"]
        # One post was lost to the outage, then left with only stale cues: settled
        # unsent, its seq never used again. Every other seq was accepted once, in order.
        assert len(lost) == 1 and lost[0] not in seqs
        assert sorted([*seqs, *lost]) == list(range(1, len(posts) + 2)) and seqs == sorted(seqs)
        cues = [(stamp, text) for post in posts for stamp, text in CUE.findall(post.body)]
        texts = [text for _, text in cues]
        assert len(texts) == len(set(texts)), "a cue was shown twice"
        # Each cue keeps its own time (the speech's, plus the channel's delay): none
        # was restamped. Those more than MAX_AGE old when the network came back (by
        # YouTube's clock) were left out, and counted.
        stale = [
            text
            for text, at in spoken[channel]
            if OUTAGE <= at + SPOKEN < OUTAGE_END
            and OUTAGE_END + SKEW - (at + DELAY[channel]) > MAX_AGE
        ]
        assert texts == [text for text, _ in spoken[channel] if text not in stale]
        when = dict(spoken[channel])
        for stamp, text in cues:
            assert abs(parse_timestamp(stamp) - (when[text] + DELAY[channel])) < 0.001, text
        stats = poster.stats
        assert stats.stale_dropped == len(stale) == 9
        assert stats.captions == len(texts) and stats.posts == len(posts)
        assert stats.rejected == 0 and stats.oldest_cue <= MAX_AGE
        assert stats.clock_skew == SKEW
    assert {channel: len(posts) for channel, posts in accepted.items()} == {"en": 162, "ko": 168}

    dropped = sum(p.stats.stale_dropped for p in posters.values())
    print(
        f"\nevent day: {view.spent} units (YouTube counted {api.units}), "
        f"{view.searches} searches, {sum(map(len, accepted.values()))} posts accepted "
        f"(en {len(accepted['en'])}, ko {len(accepted['ko'])}), "
        f"{dropped} cues dropped for staleness, 0 restamped, "
        f"{ingest.refused_for_skew()} posts refused for skew"
    )
