"""The interpreter console and the booth desk, through the real service (in-memory bus)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.memory import MemoryBus
from companion.bus.redis import RedisBus
from companion.captions import CaptionEvent
from service.app import create_app
from service.keys import DESK
from service.settings import ServiceSettings
from tests.support.booths import KIM, LEE, ORG, PARK, TOKENS, event_config
from tests.support.service import receive
from tests.support.waiting import until
from workers.captioner.routing import Router

TIMEOUT = 10.0


@asynccontextmanager
async def running(bus: MemoryBus | None = None) -> AsyncIterator[tuple[TestClient, MemoryBus]]:
    bus = bus or MemoryBus()
    config = event_config()
    settings = ServiceSettings(channels=("ko", "en"))
    app = create_app(settings, bus, tokens=TOKENS, config=config)
    async with TestClient(TestServer(app)) as client:
        yield client, bus


async def login(client: TestClient, token: str) -> Any:
    ws = await client.ws_connect("/ws/console")
    await ws.send_json({"type": "login", "token": token})
    return ws


async def test_console_login_shows_the_booth_and_refuses_a_wrong_token() -> None:
    async with running() as (client, _bus):
        ws = await login(client, KIM)
        hello = await receive(ws, "console")
        assert hello["interpreter"] == "kim" and hello["booth"] == "booth-en"
        assert hello["booths"]["booth-en"]["live"] is None
        assert hello["channels"]["ko"]["carries"] == "floor"  # the floor speaks Korean
        assert hello["floor"]["lang"] == "ko" and hello["listeners"] == {"ko": 0, "en": 0}
        await ws.close()
        bad = await login(client, "x" * 20)
        assert (await receive(bad, "error"))["code"] == "token_refused"
        msg = await asyncio.wait_for(bad.receive(), TIMEOUT)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1008
        await bad.close()


async def test_a_console_too_far_behind_is_told_to_reconnect_not_left_wrong() -> None:
    """Updates a console cannot take are not dropped in silence: it is closed with 4000,
    and the page reconnects and gets the whole desk afresh."""
    async with running() as (client, _bus):
        ws = await login(client, KIM)
        await receive(ws, "console")
        desk = client.app[DESK]
        for n in range(300):  # at once, with no await: its queue (256) overflows
            desk._tell({"type": "evs", "n": n})
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if msg.type is WSMsgType.CLOSE:
                break
        assert msg.data == 4000
        again = await login(client, KIM)
        assert (await receive(again, "console"))["interpreter"] == "kim"
        await again.close()


async def test_handover_between_two_consoles_reaches_viewers() -> None:
    async with running() as (client, _bus):
        viewer = await client.ws_connect("/ws/viewer")
        await viewer.send_json({"type": "hello", "v": 1, "channel": "en"})
        kim, lee = await login(client, KIM), await login(client, LEE)
        await receive(kim, "console")
        await receive(lee, "console")
        await kim.send_json({"type": "action", "action": "go_live"})
        assert (await receive(lee, "booth"))["booth"]["live"] == "kim"
        carriage = await receive(kim, "channels")
        assert carriage["channels"]["en"]["carries"] == "booth-en"
        await kim.send_json({"type": "action", "action": "request_handover"})
        request = (await receive(lee, "booth"))["booth"]["request"]
        assert request["giver"] == "kim" and request["taker"] == "lee"
        await kim.send_json({"type": "action", "action": "accept"})  # not kim's to answer
        assert "only lee" in (await receive(kim, "refused"))["reason"]
        await lee.send_json({"type": "action", "action": "accept"})
        done = await receive(kim, "booth")
        assert done["booth"]["live"] == "lee" and done["event"]["action"] == "accept"
        # The viewer of "en" hears of it as state documents.
        while True:
            state = await receive(viewer, "state")
            if state["key"] == "booth:booth-en" and state["value"]["live"] == "lee":
                break
        for ws in (viewer, kim, lee):
            await ws.close()


async def test_a_take_over_reaches_a_viewer_within_200_ms() -> None:
    async with running() as (client, _bus):
        viewer = await client.ws_connect("/ws/viewer")
        await viewer.send_json({"type": "hello", "v": 1, "channel": "en"})
        await receive(viewer, "subscribed")
        kim, lee = await login(client, KIM), await login(client, LEE)
        await receive(kim, "console")
        await receive(lee, "console")
        await kim.send_json({"type": "action", "action": "go_live"})
        await receive(lee, "booth")
        sent = time.perf_counter()
        await lee.send_json({"type": "action", "action": "take_over"})
        while True:
            state = await receive(viewer, "state")
            if state["key"] == "booth:booth-en" and state["value"]["live"] == "lee":
                break
        elapsed = time.perf_counter() - sent
        print(f"take over seen by a viewer after {elapsed * 1000:.1f} ms")
        assert elapsed < 0.2
        for ws in (viewer, kim, lee):
            await ws.close()


async def test_only_ones_own_booth_and_never_from_a_viewer() -> None:
    async with running() as (client, bus):
        park = await login(client, PARK)
        await receive(park, "console")
        await park.send_json({"type": "action", "action": "go_live"})
        assert (await receive(park, "booth"))["booth"]["id"] == "booth-ko"  # park's own booth
        # A viewer socket has no actions: an error, and nothing changes.
        viewer = await client.ws_connect("/ws/viewer")
        await viewer.send_json({"type": "action", "action": "take_over", "token": KIM})
        assert (await receive(viewer, "error"))["code"] == "unknown_type"
        state = await bus.get_state()
        assert state["booth:booth-en"]["live"] is None
        # Over HTTP: no token, a wrong one, and a refused move.
        url = "/api/booths/actions"
        async with client.post(url, json={"action": "go_live"}) as r:
            assert r.status == 401
        headers = {"Authorization": f"Bearer {ORG}"}
        async with client.post(url, json={"action": "go_live"}, headers=headers) as r:
            assert r.status == 403
        headers = {"Authorization": f"Bearer {KIM}"}
        async with client.post(url, json={"action": "mute", "arg": "on"}, headers=headers) as r:
            assert r.status == 409 and "nobody is live" in (await r.json())["message"]
        async with client.post(url, json={"action": "go_live"}, headers=headers) as r:
            assert r.status == 200 and (await r.json())["booth"]["live"] == "kim"
        # The live interpreter overrides the floor's language by hand.
        floor = {"action": "floor", "arg": "en"}
        async with client.post(url, json=floor, headers={"Authorization": f"Bearer {LEE}"}) as r:
            assert r.status == 409  # lee is not live
        async with client.post(url, json={**floor, "arg": "ja"}, headers=headers) as r:
            assert r.status == 409 and "one of ko, en" in (await r.json())["message"]
        async with client.post(url, json=floor, headers=headers) as r:
            assert r.status == 200
        state = await bus.get_state()
        assert state["floor"]["lang"] == "en" and state["floor"]["by"] == "kim"
        assert state["channel:en"]["carries"] == "floor"
        assert state["channel:ko"]["carries"] == "booth-ko"
        async with client.get("/api/admin/booths") as r:
            assert r.status == 401
        async with client.get("/api/admin/booths", headers={"Authorization": f"Bearer {ORG}"}) as r:
            log = (await r.json())["log"]
        assert [(e["booth"], e["action"], e["by"]) for e in log] == [
            ("booth-ko", "go_live", "park"),
            ("booth-en", "go_live", "kim"),
            ("booth-en", "floor", "kim"),
        ]
        for ws in (park, viewer):
            await ws.close()


async def test_an_action_while_the_bus_is_down_is_refused_not_guessed() -> None:
    """The desk decides on the desk the bus holds, never on a replica's copy: with Redis
    unreachable an action is refused with a reason (the console stays), and over HTTP
    it is a 503."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", namespace="down")
    app = create_app(
        ServiceSettings(channels=("ko", "en")), bus, tokens=TOKENS, config=event_config()
    )
    async with TestClient(TestServer(app)) as client:
        kim = await login(client, KIM)
        await receive(kim, "console")
        await kim.send_json({"type": "action", "action": "go_live"})
        assert "cannot reach the bus" in (await receive(kim, "refused"))["reason"]
        await kim.send_json({"type": "ping"})
        await receive(kim, "pong")
        headers = {"Authorization": f"Bearer {KIM}"}
        async with client.post(
            "/api/booths/actions", json={"action": "go_live"}, headers=headers
        ) as r:
            assert r.status == 503
        assert client.app[DESK].booths["booth-en"].live is None
        await kim.close()


def caption(lang: str, text: str, final: bool = True) -> CaptionEvent:
    return CaptionEvent("floor", 0, final, text, lang, 0.0, 1.0, 0.0, 1)


async def test_captions_follow_the_floor_language_and_the_booths() -> None:
    bus = MemoryBus()
    async with running(bus) as (client, _):
        async with client.post(
            "/api/booths/actions",
            json={"action": "go_live"},
            headers={"Authorization": f"Bearer {KIM}"},
        ) as r:
            assert r.status == 200
        floor = await Router.start("floor", bus)
        booth = await Router.start("booth-en", bus)
        follower = asyncio.create_task(floor.follow())
        booth_follower = asyncio.create_task(booth.follow())
        # The floor speaks Korean: its captions go to "ko", booth-en's to "en".
        assert floor.targets(caption("ko", "안녕하세요")) == ["ko"]
        assert booth.targets(caption("en", "Hello")) == ["en"]
        # A long English sentence from the floor switches the floor's language …
        english = caption("en", "Thank you all for coming to this conference today")
        assert floor.targets(english) == ["en"]
        doc = floor.heard(english)
        assert doc is not None and doc["lang"] == "en" and doc["by"] == "detected"
        await bus.set_state("floor", doc)
        # … so the desk re-routes: "en" carries the floor, and booth-en is silenced.
        await until(
            lambda: booth.carriages["en"].carries == "floor",
            "the desk to give en to the floor",
            timeout=2.0,
        )
        assert booth.targets(caption("en", "Hello")) == []
        assert floor.heard(caption("en", "Yes")) is None  # no change, no document
        follower.cancel()
        booth_follower.cancel()
        await asyncio.gather(follower, booth_follower, return_exceptions=True)


async def test_the_console_page_is_served() -> None:
    async with running() as (client, _bus):
        async with client.get("/console") as r:
            assert r.status == 200
            page = await r.text()
        assert "/ws/console" in page or "console.js" in page


async def test_the_ear_voice_span_reaches_the_console_and_the_organizers() -> None:
    from companion.captions import Word

    def final(channel: str, text: str, at: float, source: str, lang: str) -> CaptionEvent:
        words = tuple(Word((" " if i else "") + w, i, i + 0.5) for i, w in enumerate(text.split()))
        return CaptionEvent(
            channel, 0, True, text, lang, 0.0, 3.0, 0.0, 1, words=words, at=at, source=source
        )

    async with running() as (client, bus):
        kim = await login(client, KIM)
        await receive(kim, "console")
        await kim.send_json({"type": "action", "action": "go_live"})
        await receive(kim, "booth")
        await asyncio.sleep(0.1)  # the desk's caption followers are at the streams' end
        await bus.publish(final("ko", "2019년 조사는 3,000개", 100.0, "floor", "ko"))
        await bus.publish(final("en", "In 2019 there were 3,000", 102.0, "booth-en", "en"))
        evs = await receive(kim, "evs")
        assert evs["booth"] == "booth-en" and evs["interpreter"] == "kim"
        # 2019: floor word 0 at 100 s, booth word 1 at 103 s; 3,000: 102 s and 106 s.
        assert evs["seconds"] == 3.5 and evs["anchors"] == 2
        headers = {"Authorization": f"Bearer {ORG}"}
        async with client.get("/api/admin/booths", headers=headers) as r:
            snapshot = await r.json()
        assert snapshot["evs"]["booth-en"]["seconds"] == 3.5
        assert snapshot["evs_by_interpreter"]["kim"]["median"] == 3.5
        await kim.close()
