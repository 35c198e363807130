"""The viewer service in process: aiohttp's TestServer and TestClient over a MemoryBus."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.base import BusHealth
from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.config import parse_config
from companion.errors import ConfigError
from service.app import create_app
from service.keys import FANOUT, INSTANCE
from service.settings import ServiceSettings
from tests.support.caption_events import caption
from tests.support.service import running
from tests.support.waiting import until

Client = TestClient[web.Request, web.Application]
WS = aiohttp.ClientWebSocketResponse
TIMEOUT = 5.0


async def message(ws: WS, kind: str | None = None) -> dict[str, Any]:
    """The next message (of type ``kind``, skipping others); fails if the socket closes."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type is WSMsgType.TEXT, f"socket closed: {msg}"
        data: dict[str, Any] = json.loads(msg.data)
        if kind is None or data["type"] == kind:
            return data


async def captions_until(ws: WS, seq: int, channel: str | None = None) -> list[dict[str, Any]]:
    """Captions received up to and including ``seq`` (of ``channel`` if given)."""
    got: list[dict[str, Any]] = []
    while True:
        data = await message(ws, "caption")
        if channel is None or data["channel"] == channel:
            got.append(data)
            if data["seq"] >= seq:
                return got


async def close_code(ws: WS) -> int | None:
    """Read until the server closes; the code in its close frame (what a browser reports)."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if msg.type is WSMsgType.CLOSE:
            return int(msg.data)
        if msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            return ws.close_code


async def hello(ws: WS, channel: str = "en", resume: int | None = None) -> dict[str, Any]:
    await ws.send_json({"type": "hello", "v": 1, "channel": channel, "resume": resume})
    welcome = await message(ws)
    assert welcome["type"] == "welcome"
    subscribed = await message(ws, "subscribed")
    assert subscribed == {"type": "subscribed", "channel": channel, "resume": resume}
    return welcome


async def publish(bus: MemoryBus, *events: CaptionEvent) -> None:
    for event in events:
        await bus.publish(event)


async def test_hello_gets_welcome_then_recent_finals_then_live() -> None:
    async with running(backlog_finals=3) as (client, bus, _app):
        for n in range(5):
            await publish(bus, caption("en", False, f"p{n}"), caption("en", True, f"final {n}"))
        await bus.set_state("broadcast:en", {"status": "live"})
        async with client.ws_connect("/ws/viewer") as ws:
            await ws.send_json({"type": "hello", "channel": "en"})
            assert await message(ws) == {"type": "welcome", "v": 1, "channels": ["en", "ko"]}
            assert await message(ws) == {
                "type": "state",
                "key": "broadcast:en",
                "value": {"status": "live"},
            }
            assert (await message(ws))["type"] == "subscribed"
            backlog = [await message(ws) for _ in range(3)]
            assert [c["text"] for c in backlog] == ["final 2", "final 3", "final 4"]
            assert [c["seq"] for c in backlog] == [6, 8, 10]
            await publish(bus, caption("en", False, "live partial"))
            live = await message(ws)
            assert (live["type"], live["seq"], live["final"]) == ("caption", 11, False)


async def test_live_captions_arrive_in_seq_order_to_every_viewer() -> None:
    async with (
        running() as (client, bus, app),
        client.ws_connect("/ws/viewer") as one,
        client.ws_connect("/ws/viewer") as two,
    ):
        await hello(one)
        await hello(two)
        await until(lambda: app[FANOUT].listeners()["en"] == 2, "two listeners", timeout=TIMEOUT)
        for n in range(40):
            await publish(bus, caption("en", n % 3 == 0, f"c{n}"), caption("ko", True))
            if n % 7 == 0:
                await asyncio.sleep(0)
        for ws in (one, two):
            got = await captions_until(ws, 40)  # seq counts per channel
            assert [c["seq"] for c in got] == list(range(1, 41))
            assert {c["channel"] for c in got} == {"en"}
            assert [c["text"] for c in got] == [f"c{n}" for n in range(40)]


async def test_switch_channel_without_reconnecting() -> None:
    async with running(backlog_finals=2) as (client, bus, app):
        await publish(bus, caption("ko", True, "ko 1"), caption("ko", True, "ko 2"))
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws, "en")
            await publish(bus, caption("en", True, "en 1"))
            assert (await message(ws, "caption"))["text"] == "en 1"
            await ws.send_json({"type": "subscribe", "channel": "ko"})
            assert await message(ws) == {"type": "subscribed", "channel": "ko", "resume": None}
            backlog = [await message(ws) for _ in range(2)]
            assert [c["text"] for c in backlog] == ["ko 1", "ko 2"]
            await until(
                lambda: app[FANOUT].listeners() == {"en": 0, "ko": 1},
                "moved to ko",
                timeout=TIMEOUT,
            )
            await publish(bus, caption("en", True, "en 2"), caption("ko", True, "ko 3"))
            assert await message(ws) == {**(await _expected(bus, "ko", 3)), "type": "caption"}


async def _expected(bus: MemoryBus, channel: str, seq: int) -> dict[str, Any]:
    [event] = await bus.read(channel, after=seq - 1, limit=1)
    return event.to_dict()


async def test_resume_after_disconnect_gets_every_event_once_with_no_gap() -> None:
    async with running() as (client, bus, _app):
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws)
            await publish(bus, *(caption("en", n % 2 == 1, f"e{n}") for n in range(10)))
            seen = await captions_until(ws, 6)
        last = seen[-1]["seq"]
        assert last == 6
        await publish(bus, *(caption("en", n % 2 == 1) for n in range(20)))  # while away

        async def keep_publishing() -> None:
            for n in range(30):
                await publish(bus, caption("en", n % 4 == 0))
                await asyncio.sleep(0)

        async with client.ws_connect("/ws/viewer") as ws:
            publisher = asyncio.create_task(keep_publishing())
            await hello(ws, resume=last)
            got = await captions_until(ws, 60)
            await publisher
        assert [c["seq"] for c in got] == list(range(7, 61))


async def test_resume_older_than_the_stream_gets_a_gap_then_the_rest() -> None:
    async with running(MemoryBus(max_len=5)) as (client, bus, _app):
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws)
            await publish(bus, caption("en", True, "first"))
            await captions_until(ws, 1)
        await publish(bus, *(caption("en", True, f"e{n}") for n in range(9)))  # 2..10
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws, resume=1)
            assert await message(ws) == {"type": "gap", "channel": "en", "from": 2, "to": 5}
            got = await captions_until(ws, 10)
        assert [c["seq"] for c in got] == [6, 7, 8, 9, 10]
        async with client.get("/metrics") as response:
            assert 'companion_resume_gaps_total{channel="en"} 1.0' in await response.text()


async def test_a_resume_past_the_window_gets_a_gap_and_the_recent_finals_not_the_stream() -> None:
    """A ``resume`` of 0 does not replay the whole stream (replay amplification): past
    ``resume_window`` captions back, a gap, then what a new viewer gets."""
    async with running(resume_window=10, backlog_finals=3) as (client, bus, _app):
        await publish(bus, *(caption("en", n % 2 == 1, f"e{n}") for n in range(40)))  # 1..40
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws, resume=0)
            assert await message(ws) == {"type": "gap", "channel": "en", "from": 1, "to": 35}
            got = await captions_until(ws, 40)
        assert [c["seq"] for c in got] == [36, 38, 40]  # the last three finals
        async with client.ws_connect("/ws/viewer") as ws:  # inside the window: every one
            await hello(ws, resume=30)
            got = await captions_until(ws, 40)
        assert [c["seq"] for c in got] == list(range(31, 41))


async def test_hello_and_subscribe_have_a_budget_of_their_own() -> None:
    async with running() as (client, _bus, _app), client.ws_connect("/ws/viewer") as ws:
        await hello(ws)
        for _ in range(4):  # the burst: 5 with the hello
            await ws.send_json({"type": "subscribe", "channel": "ko"})
            assert (await message(ws, "subscribed"))["channel"] == "ko"
        await ws.send_json({"type": "subscribe", "channel": "en"})
        refused = await message(ws, "error")
        assert refused["code"] == "flood" and "subscribe" in refused["message"]
        await ws.send_json({"type": "ping"})  # pings do not count
        assert (await message(ws, "pong"))["type"] == "pong"


async def test_resume_past_the_stream_is_a_fresh_join() -> None:
    async with running(backlog_finals=1) as (client, bus, _app):
        await publish(bus, caption("en", True, "only"))
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws, resume=500)
            assert (await message(ws))["text"] == "only"


async def test_malformed_messages_get_errors_then_close_1008() -> None:
    async with (
        running(max_bad_messages=3) as (client, bus, _app),
        client.ws_connect("/ws/viewer") as ws,
        client.ws_connect("/ws/viewer") as good,
    ):
        await hello(good)
        await ws.send_str("{not json")
        assert await message(ws) == {
            "type": "error",
            "code": "bad_json",
            "message": "the message is not valid JSON",
        }
        await ws.send_json({"type": "launch"})
        assert (await message(ws))["code"] == "unknown_type"
        await ws.send_bytes(b"\x00")
        assert (await message(ws))["code"] == "bad_message"
        assert await close_code(ws) == 1008
        await publish(bus, caption("en", True, "still here"))
        assert (await message(good))["text"] == "still here"


async def test_unknown_channel_ping_and_flood() -> None:
    async with (
        running(message_burst=4, messages_per_second=0.1) as (client, _bus, _app),
        client.ws_connect("/ws/viewer") as ws,
    ):
        await ws.send_json({"type": "hello", "channel": "fr"})
        assert (await message(ws))["code"] == "unknown_channel"
        await ws.send_json({"type": "ping"})
        assert await message(ws) == {"type": "pong"}
        await hello(ws, "ko")
        await ws.send_json({"type": "ping"})
        assert await message(ws) == {"type": "pong"}
        await ws.send_json({"type": "ping"})
        assert (await message(ws))["code"] == "flood"


async def test_oversized_frame_closes_1009() -> None:
    async with (
        running(max_message_bytes=1000) as (client, _bus, _app),
        client.ws_connect("/ws/viewer") as ws,
    ):
        await hello(ws)
        await ws.send_str(json.dumps({"type": "ping", "pad": "x" * 2000}))
        assert await close_code(ws) == 1009


async def test_slow_viewer_is_dropped_with_4000_and_others_keep_receiving() -> None:
    async with (
        running(queue_limit=4) as (client, bus, app),
        client.ws_connect("/ws/viewer") as slow,
        client.ws_connect("/ws/viewer") as good,
    ):
        await hello(slow)
        await hello(good)
        await until(lambda: app[FANOUT].listeners()["en"] == 2, "two listeners", timeout=TIMEOUT)
        big = "x" * 32_000
        seq = 0
        while app[FANOUT].listeners()["en"] == 2:
            assert seq < 3000, "the slow viewer was never dropped"
            await publish(bus, caption("en", True, big))
            seq += 1
            assert (await message(good))["seq"] == seq  # the good one keeps up
        await publish(bus, caption("en", True, "after the drop"))
        assert (await message(good))["text"] == "after the drop"
        assert await close_code(slow) == 4000
        async with client.get("/metrics") as response:
            text = await response.text()
        assert 'companion_slow_viewers_dropped_total{channel="en"} 1.0' in text


async def test_bad_origin_is_refused_when_origins_are_set() -> None:
    async with running(allowed_origins=("https://conf.example",)) as (client, _bus, _app):
        headers = {"Origin": "https://evil.example"}
        async with client.ws_connect("/ws/viewer", headers=headers) as ws:
            assert await close_code(ws) == 1008
        headers = {"Origin": "https://conf.example"}
        async with client.ws_connect("/ws/viewer", headers=headers) as ws:
            await hello(ws)


async def test_without_allowed_origins_only_the_services_own_pages_get_in() -> None:
    async with running() as (client, _bus, _app):
        own = f"http://{client.host}:{client.port}"
        async with client.ws_connect("/ws/viewer", headers={"Origin": own}) as ws:
            await hello(ws)
        behind = {
            "Origin": "https://captions.conf.example",
            "X-Forwarded-Host": "captions.conf.example",
        }
        async with client.ws_connect("/ws/viewer", headers=behind) as ws:
            await hello(ws)  # behind a proxy that ends TLS
        async with client.ws_connect(
            "/ws/viewer", headers={"Origin": "https://evil.example"}
        ) as ws:
            assert await close_code(ws) == 1008
        async with client.ws_connect("/ws/viewer") as ws:  # no Origin: not a browser page
            await hello(ws)


async def test_state_changes_reach_viewers_and_the_api() -> None:
    async with running() as (client, bus, _app):
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws, "ko")
            await bus.set_state("onair:booth-en", {"interpreter": "A"})
            assert await message(ws) == {
                "type": "state",
                "key": "onair:booth-en",
                "value": {"interpreter": "A"},
            }
            async with client.get("/api/state") as response:
                assert response.status == 200
                assert response.headers["Cache-Control"] == "public, max-age=1"
                body = await response.json()
        assert body == {
            "version": 1,
            "channels": ["en", "ko"],
            "listeners": {"en": 0, "ko": 1},
            "listeners_here": {"en": 0, "ko": 1},
            "state": {"onair:booth-en": {"interpreter": "A"}},
        }


async def test_health_ready_and_metrics() -> None:
    async with running() as (client, bus, _app):
        async with client.get("/healthz") as response:
            assert response.status == 200
        async with client.get("/readyz") as response:
            assert response.status == 200
            assert (await response.json())["ready"] is True
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws)
            await publish(bus, caption("en", True))
            await message(ws, "caption")
            async with client.get("/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
        assert 'companion_viewers{channel="en"} 1.0' in text
        assert 'companion_viewers{channel="ko"} 0.0' in text
        assert 'companion_captions_relayed_total{channel="en"} 1.0' in text
        assert "companion_bus_buffered 0.0" in text
        assert "companion_bus_dropped 0.0" in text
        assert "companion_bus_audio_dropped 0.0" in text


class DownBus(MemoryBus):
    def health(self) -> BusHealth:
        return BusHealth("redis", connected=False, last_error="redis://secret-host:6379 refused")


async def test_readyz_is_503_with_reasons_when_the_bus_is_down() -> None:
    app = create_app(ServiceSettings(channels=("en",)), DownBus())
    async with TestClient(TestServer(app)) as client:
        await until(lambda: app[FANOUT].ready(), "channels followed", timeout=TIMEOUT)
        async with client.get("/readyz") as response:
            assert response.status == 503
            body = await response.json()
    assert body["ready"] is False
    assert body["reasons"] == ["bus (redis) is not connected"]
    assert "secret" not in json.dumps(body)


async def test_the_viewer_page_is_served() -> None:
    async with running() as (client, _bus, _app):
        async with client.get("/") as response:
            assert response.status == 200
            page = await response.text()
        assert "viewer.js" in page
        async with client.get("/viewer.js") as response:
            assert response.status == 200
            assert "./segments.js" in await response.text()  # websocket or segments
        async with client.get("/segments.js") as response:
            assert response.status == 200
            assert "./stream.js" in await response.text()
        async with client.get("/stream.js") as response:  # the socket, as a module
            assert response.status == 200
            script = await response.text()
        assert "/ws/viewer" in script and "resume" in script


async def test_shutdown_closes_viewers_with_1001() -> None:
    bus = MemoryBus()
    app = create_app(ServiceSettings(channels=("en",)), bus)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        ws = await client.ws_connect("/ws/viewer")
        await hello(ws)
        closing = asyncio.create_task(close_code(ws))
        await client.server.close()
        assert await closing == 1001
        await ws.close()
    finally:
        await client.close()


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="channel id"):
        ServiceSettings(channels=("EN",))
    with pytest.raises(ValueError, match="origin"):
        ServiceSettings(channels=("en",), allowed_origins=("conf.example",))
    with pytest.raises(ValueError, match="extra"):
        ServiceSettings(channels=("en",), colour="red")  # type: ignore[call-arg]


class UnreadableBus(MemoryBus):
    """A bus whose reads fail, as RedisBus's do while Redis is down, once ``down`` is set."""

    down = False

    async def read(self, channel: str, after: int, limit: int = 1000) -> list[CaptionEvent]:
        from companion.errors import BusUnavailableError

        if self.down:
            raise BusUnavailableError("Redis is unreachable (ConnectionError)")
        return await super().read(channel, after, limit)

    async def recent_finals(self, channel: str, limit: int) -> list[CaptionEvent]:
        if self.down:
            return await self.read(channel, 0)
        return await super().recent_finals(channel, limit)


async def test_resume_while_the_bus_is_down_closes_with_try_again() -> None:
    bus = UnreadableBus()
    await bus.publish(caption("en", True, "before this replica started"))  # not in memory
    async with running(bus) as (client, _bus, app):
        await until(
            lambda: app[FANOUT].hubs["en"].last_seq == 1, "the hub to see it", timeout=TIMEOUT
        )
        bus.down = True
        ws = await client.ws_connect("/ws/viewer")
        await ws.send_str(json.dumps({"type": "hello", "v": 1, "channel": "en", "resume": 0}))
        while True:
            msg = await ws.receive(timeout=TIMEOUT)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                break
        assert ws.close_code == 1013
        async with client.get("/healthz") as response:
            assert response.status == 200


async def test_joins_and_recent_resumes_are_served_from_memory_while_the_bus_is_down() -> None:
    """A crowd joining (or reconnecting) costs the bus nothing: the hub keeps the
    recent finals and events it followed, so they reach viewers even with Redis down."""
    bus = UnreadableBus()
    async with running(bus, backlog_finals=2) as (client, _bus, app):
        await publish(bus, *(caption("en", n % 2 == 0, f"e{n}") for n in range(6)))  # 1..6
        await until(
            lambda: app[FANOUT].hubs["en"].last_seq == 6, "the hub to see them", timeout=TIMEOUT
        )
        bus.down = True
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws)  # new: the last two finals, from memory
            assert [c["text"] for c in await captions_until(ws, 5)] == ["e2", "e4"]
        async with client.ws_connect("/ws/viewer") as ws:
            await hello(ws, resume=3)  # resuming: what it missed, from memory
            assert [c["seq"] for c in await captions_until(ws, 6)] == [4, 5, 6]


async def test_listeners_of_other_replicas_are_added_up() -> None:
    import time

    async with running() as (client, bus, _app):
        await bus.set_state("listeners:other", {"channels": {"en": 7}, "updated": time.time()})
        ws = await client.ws_connect("/ws/viewer")
        await ws.send_str(json.dumps({"type": "hello", "v": 1, "channel": "en"}))

        async def counted() -> bool:
            async with client.get("/api/state") as response:
                body = await response.json()
            return bool(body["listeners"] == {"en": 8, "ko": 0})

        await until(counted, "7 listeners elsewhere plus this one", timeout=TIMEOUT)
        await ws.close()


def test_the_service_table_of_the_event_config_reaches_the_settings() -> None:
    config = parse_config(
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        '[service]\nallowed_origins = ["https://conf.example.org"]\nqueue_limit = 64\n',
        env={},
    )
    settings = ServiceSettings.from_config(config, "0.0.0.0", 9000)
    assert settings.allowed_origins == ("https://conf.example.org",)
    assert settings.queue_limit == 64 and settings.channels == ("en",)
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    with pytest.raises(ConfigError, match=r"service\.allowed_origins"):
        parse_config(
            '[[channels]]\nid = "en"\nlanguage = "en"\n[service]\nallowed_origins = ["x"]\n',
            env={},
        )


async def test_a_replica_removes_its_listener_report_when_it_stops() -> None:
    bus = MemoryBus()
    async with running(bus) as (_client, _bus, app):
        key = f"listeners:{app[INSTANCE]}"
        await until(lambda: bus._state.get(key) is not None, "the report", timeout=TIMEOUT)
    assert key not in await bus.get_state()
