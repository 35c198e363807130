"""The tracker inside the service: a viewer's websocket sees the broadcast change,
``/api/state`` shows it, organizers read the quota and the posters' reports.

The service, the fake YouTube API and the client library all talk real HTTP on
loopback; only the tracker's clock is the test's, so the broadcast's hour passes at
once (each tracker sleep moves the clock and the fake broadcast along).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from companion.bus import MemoryBus
from companion.config import parse_config
from service.app import create_app
from service.auth import Tokens
from service.keys import YOUTUBE
from service.settings import ServiceSettings
from service.youtube.tracker import Tracker
from service.youtube.web import YouTubeParts
from tests.support.waiting import until
from tests.support.youtube_fake import API_KEY, FakeYouTube, ended, live, upcoming

NOW = 1778718600.0
VIDEO = "aaaaaaaaaaa"
CONFIG = f'[[channels]]\nid = "en"\nlanguage = "en"\nyoutube = {{ video_id = "{VIDEO}" }}\n'
ORGANIZER = "organizer-token-0123456789"
TIMEOUT = 10.0


async def test_a_viewer_sees_the_broadcast_start_and_end() -> None:
    api = FakeYouTube()
    start, end = NOW + 600, NOW + 690

    def scene(t: float) -> dict[str, Any]:
        if t < start:
            return upcoming(VIDEO, start)
        if t < end:
            return live(VIDEO, start, viewers=int(t - start) + 1)
        return ended(VIDEO, start, end)

    api.videos[VIDEO] = scene(NOW)
    clock, go, sleeps = [NOW], asyncio.Event(), []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await go.wait()
        clock[0] += seconds
        api.videos[VIDEO] = scene(clock[0])

    async with TestServer(api.app(), host="127.0.0.1") as youtube:
        bus = MemoryBus()
        env = {
            "YOUTUBE_API_KEY": API_KEY,
            "YOUTUBE_API_ENDPOINT": f"http://127.0.0.1:{youtube.port}",
        }
        config = parse_config(CONFIG, env={})
        app = create_app(
            ServiceSettings(channels=("en",)),
            bus,
            tokens=Tokens(organizer=ORGANIZER),
            config=config,
            env=env,
        )
        built = app[YOUTUBE].tracker
        assert built.api is not None  # the key and endpoint came from env
        tracker = Tracker(bus, config, built.api, clock=lambda: clock[0], sleep=sleep)
        app[YOUTUBE] = YouTubeParts(bus, app[YOUTUBE].tokens, tracker)

        async with TestClient(TestServer(app)) as client:

            async def upcoming_on_the_bus() -> bool:
                state = await bus.get_state()
                return bool(state.get("broadcast:en", {}).get("status") == "upcoming")

            await until(upcoming_on_the_bus, "broadcast:en to be upcoming")
            ws = await client.ws_connect("/ws/viewer")
            await ws.send_json({"type": "hello", "v": 1, "channel": "en", "resume": None})
            statuses, viewers = [], []
            go.set()
            async with asyncio.timeout(TIMEOUT):
                while not statuses or statuses[-1] != "ended":
                    msg = await ws.receive()
                    assert msg.type is WSMsgType.TEXT
                    data = json.loads(msg.data)
                    if data["type"] == "state" and data["key"] == "broadcast:en":
                        statuses.append(data["value"]["status"])
                        if data["value"]["status"] == "live":
                            viewers.append(data["value"]["concurrent_viewers"])
            await ws.close()
            assert [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s] == [
                "upcoming",
                "live",
                "ended",
            ]
            assert viewers == sorted(viewers) and len(viewers) >= 3 and viewers[0] >= 1
            assert sleeps[:10] == [60.0] * 10 and set(sleeps[10:]) == {30.0}

            async with client.get("/api/state") as response:
                state = (await response.json())["state"]
            assert state["broadcast:en"]["status"] == "ended"
            assert state["broadcast:en"]["actual_end"] is not None

            await bus.set_state("poster:en", {"posts": 3, "active": True})
            async with client.get("/api/state") as response:
                assert "poster:en" not in (await response.json())["state"]  # organizers only
            async with client.get("/api/admin/youtube") as response:
                assert response.status == 401
            headers = {"Authorization": "Bearer wrong-token-0123456789"}
            async with client.get("/api/admin/youtube", headers=headers) as response:
                assert response.status == 403
            headers = {"Authorization": f"Bearer {ORGANIZER}"}
            async with client.get("/api/admin/youtube", headers=headers) as response:
                assert response.status == 200
                admin = await response.json()
            assert admin["tracker"]["calls"] == {"videos.list": len(api.calls)}
            assert admin["tracker"]["channels"]["en"]["status"] == "ended"
            assert admin["posters"] == {"en": {"posts": 3, "active": True}}
            quota = admin["quota"]
            assert quota["day"] == "2026-05-13"
            units, searches = quota["units"], quota["searches"]
            assert (units["limit"], searches["limit"]) == (10_000, 100)
            assert units["used"] == api.units == len(api.calls)
            assert units["left"] == 10_000 - api.units
            assert searches == {
                "used": 0,
                "limit": 100,
                "left": 100,
                "spent": "",
                "spent_until": None,
            }


async def test_organizers_see_a_failing_feed_and_discovery_goes_on() -> None:
    """``YOUTUBE_FEED_ENDPOINT`` points the feed at the fake, which fails: the tracker
    (its own clock, run by the service) finds the broadcast on the uploads playlist,
    and organizers read why the feed failed, with no address and no key."""
    channel, playlist = "UC" + "c" * 22, "UU" + "c" * 22
    api = FakeYouTube()
    api.uploads[channel] = playlist
    api.playlists[playlist] = [VIDEO]
    api.videos[VIDEO] = live(VIDEO, time.time() - 60, viewers=7)
    api.feed_status = 503
    config = parse_config(
        f'[[channels]]\nid = "en"\nlanguage = "en"\nyoutube = {{ channel_id = "{channel}" }}\n',
        env={},
    )
    async with TestServer(api.app(), host="127.0.0.1") as youtube:
        address = f"http://127.0.0.1:{youtube.port}"
        env = {
            "YOUTUBE_API_KEY": API_KEY,
            "YOUTUBE_API_ENDPOINT": address,
            "YOUTUBE_FEED_ENDPOINT": address,
        }
        app = create_app(
            ServiceSettings(channels=("en",)),
            MemoryBus(),
            tokens=Tokens(organizer=ORGANIZER),
            config=config,
            env=env,
        )
        headers = {"Authorization": f"Bearer {ORGANIZER}"}
        async with TestClient(TestServer(app)) as client:

            async def admin() -> dict[str, Any]:
                async with client.get("/api/admin/youtube", headers=headers) as response:
                    return dict(await response.json())

            async def found() -> bool:
                return bool((await admin())["tracker"]["channels"]["en"]["status"] == "live")

            await until(found, "the broadcast found on the uploads playlist")
            report = await admin()
        tracker = report["tracker"]
        feed = tracker["discovery"][channel]
        assert (feed["feed"], feed["feed_error"]) == ("failed", "the feed answered 503")
        assert tracker["errors"] == {"feed_failed": 1}
        assert address not in json.dumps(report) and API_KEY not in json.dumps(report)
        assert api.methods() == ["channels.list", "playlistItems.list", "videos.list"]
        [(query, _)] = api.feed_reads
        assert query == {"channel_id": channel}
