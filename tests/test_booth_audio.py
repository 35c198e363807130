"""The console microphone: its config, its pure core, its lease and ``/ws/booth-audio``
in process (the frames it passes on are read from the bus, as the captioner reads them)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from companion.booths import Booth
from companion.bus.memory import MemoryBus
from companion.config import EventConfig, parse_config
from companion.errors import ConfigError
from service import booth_audio
from service.app import create_app
from service.auth import Tokens
from service.booth_audio import MAX_BAD_FRAMES, MAX_FRAME_BYTES, Microphone, MicrophoneLease
from service.keys import BUS
from service.settings import ServiceSettings
from tests.support.microphone import hearing
from tests.support.service import receive
from tests.support.waiting import until

CONFIG = """
[floor]
source = "floor.wav"
[[channels]]
id = "ko"
language = "ko"
[[channels]]
id = "en"
language = "en"
[[booths]]
id = "booth-en"
channel = "en"
source = "console"
interpreters = [{ id = "kim" }, { id = "lee" }]
[[booths]]
id = "booth-ko"
channel = "ko"
source = "booth-ko.wav"
interpreters = [{ id = "park" }]
"""
KIM, LEE, PARK = "k" * 20, "l" * 20, "p" * 20
TOKENS = Tokens(interpreters={"kim": KIM, "lee": LEE, "park": PARK})
TIMEOUT = 10.0
Client = TestClient[web.Request, web.Application]


def event_config() -> EventConfig:
    return parse_config(CONFIG, "test.toml", env={}, base_dir="/event")


def frame(value: int, samples: int = 1600) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


# ------------------------------------------------------------------ config
def test_console_is_a_booth_source_kept_as_it_is() -> None:
    config = event_config()
    assert config.booths[0].source == "console"
    assert config.resolve(config.booths[0].source) == "console"
    assert config.resolve(config.booths[1].source) == "/event/booth-ko.wav"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[channels]]\nid = "en"\nlanguage = "en"\nsource = "console"\n', "channels[0].source"),
        ('[floor]\nsource = "console"\n[[channels]]\nid = "en"\nlanguage = "en"\n', "floor.source"),
    ],
)
def test_console_is_not_a_channel_or_floor_source(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{key}: 'console' is a booth's source")):
        parse_config(text, "test.toml", env={})


def test_console_is_for_a_worker_of_a_booth_only(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import main

    (tmp_path / "event.toml").write_text(CONFIG, encoding="utf-8")
    config = ["--config", str(tmp_path / "event.toml")]
    args = ["worker", "caption", "--channel", "en", "--source", "console", *config]
    result = CliRunner().invoke(main, args, env={"REDIS_URL": "redis://127.0.0.1:9"})
    assert result.exit_code == 2, result.output
    assert "'console' is a booth's source: give --booth" in result.stderr


# --------------------------------------------------------------- pure core
def booth(live: str | None = "kim", muted: bool = False, coughing: bool = False) -> Booth:
    return Booth("booth-en", "en", ("kim", "lee"), live=live, muted=muted, coughing=coughing)


def test_only_the_live_interpreter_is_fed_and_not_live_is_said_once() -> None:
    lee = Microphone("lee", "booth-en", 0.0)
    first, second = lee.frame(frame(9), booth(), 0.1), lee.frame(frame(9), booth(), 0.2)
    assert first.audio is None and [r["code"] for r in first.replies] == ["not_live"]
    assert second.audio is None and second.replies == []
    handed = lee.frame(frame(9), booth(live="lee"), 0.3)
    assert handed.audio == frame(9) and handed.replies == []
    again = lee.frame(frame(9), booth(live="kim"), 0.4)
    assert [r["code"] for r in again.replies] == ["not_live"]


def test_muted_or_coughing_feeds_silence_of_the_same_length() -> None:
    kim = Microphone("kim", "booth-en", 0.0)
    for state in (booth(muted=True), booth(coughing=True)):
        assert kim.frame(frame(900), state, 0.1).audio == bytes(3200)


def test_a_socket_without_the_lease_is_busy_said_once() -> None:
    kim = Microphone("kim", "booth-en", 0.0)
    busy = [kim.frame(frame(1), booth(), 0.1 * k, held=False) for k in (1, 2)]
    assert busy[0].audio is None and [r["code"] for r in busy[0].replies] == ["busy"]
    assert busy[1].audio is None and busy[1].replies == []
    assert kim.frame(frame(1), booth(), 0.3, held=True).audio


# ---------------------------------------------------------------- the lease
async def test_one_microphone_per_interpreter_until_the_first_goes_quiet_or_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two tabs of kim: the second is refused while the first sends; it wins once the
    first has been quiet past the lease, and a millisecond after the first closes. Lee
    (another key) is never held up by kim. The lease's life is shortened for speed."""
    monkeypatch.setattr(booth_audio, "OWNER_SECONDS", 0.2)
    monkeypatch.setattr(booth_audio, "LEASE_EVERY", 0.01)
    bus = MemoryBus()
    first, second = (
        MicrophoneLease("microphone:booth-en:kim"),
        MicrophoneLease("microphone:booth-en:kim"),
    )
    lee = MicrophoneLease("microphone:booth-en:lee")
    clock = asyncio.get_running_loop().time
    assert await first.keep(bus, clock())
    assert not await second.keep(bus, clock())
    assert await lee.keep(bus, clock())
    await until(lambda: second.keep(bus, clock()), "the quiet first tab's lease to lapse")
    assert not await first.keep(bus, clock() + 1.0)  # the first tab is back: now it waits
    await second.release(bus)  # the lease lapses a millisecond later
    await until(lambda: first.keep(bus, clock() + 2.0), "the closed tab's lease to lapse")


async def test_the_lease_fails_open_when_the_bus_cannot_answer() -> None:
    from companion.bus.redis import RedisBus

    bus = RedisBus("redis://127.0.0.1:9/0", namespace="lease-test")  # nothing listens there
    try:
        lease = MicrophoneLease("microphone:booth-en:kim")
        assert await lease.keep(bus, 0.0)
        await lease.release(bus)  # best effort: says nothing
    finally:
        await bus.close()


def test_the_level_is_the_rms_since_the_last_report() -> None:
    kim = Microphone("kim", "booth-en", 0.0)
    assert kim.frame(frame(16384), booth(), 0.5).replies == []
    fed = kim.frame(frame(0), booth(), 1.0)
    assert fed.replies == [
        {"type": "level", "rms": pytest.approx(0.125**0.5, abs=1e-3), "live": True}
    ]


def test_bad_frames_are_refused_then_the_socket_is_closed() -> None:
    kim = Microphone("kim", "booth-en", 0.0)
    assert [r["code"] for r in kim.frame(b"\x00" * 3, booth(), 0.0).replies] == ["bad_frame"]
    big = kim.frame(bytes(MAX_FRAME_BYTES + 2), booth(), 0.0)
    assert big.audio is None and [r["code"] for r in big.replies] == ["too_large"]
    for _ in range(MAX_BAD_FRAMES - 3):
        kim.frame(b"\x00", booth(), 0.0)
    with pytest.raises(booth_audio.TooManyBadFrames):
        kim.frame(b"\x00", booth(), 0.0)


def test_audio_at_real_time_is_fed_and_faster_is_dropped_then_closed() -> None:
    """100 ms frames every 100 ms are all fed (for a minute); a console pushing audio as
    fast as it can gets its 2-second burst, then ``too_fast`` (said once), then a close."""
    steady = Microphone("kim", "booth-en", 0.0)
    for k in range(600):
        assert steady.frame(frame(100), booth(), 0.1 * (k + 1)).audio
    flood = Microphone("kim", "booth-en", 100.0)
    fed = [flood.frame(frame(100), booth(), 100.0) for _ in range(20)]
    assert all(f.audio for f in fed)  # the burst: 2 s of audio at once
    dropped = flood.frame(frame(100), booth(), 100.0)
    assert dropped.audio is None and [r["code"] for r in dropped.replies] == ["too_fast"]
    assert flood.frame(frame(100), booth(), 100.0).replies == []  # said once
    with pytest.raises(booth_audio.MicrophoneFloodError):
        for _ in range(booth_audio.MAX_TOO_FAST):
            flood.frame(frame(100), booth(), 100.0)


# ------------------------------------------------------------ the service
@asynccontextmanager
async def running() -> AsyncIterator[tuple[Client, web.Application]]:
    settings = ServiceSettings(channels=("ko", "en"))
    app = create_app(settings, MemoryBus(), tokens=TOKENS, config=event_config())
    async with TestClient(TestServer(app)) as client:
        yield client, app


async def microphone(client: Client, token: str) -> Any:
    ws = await client.ws_connect("/ws/booth-audio")
    await ws.send_json({"type": "login", "token": token})
    return ws


async def settled(ws: Any) -> list[dict[str, Any]]:
    """Every reply to what was sent before: a ping's pong comes after them."""
    await ws.send_json({"type": "ping"})
    replies = []
    while (reply := json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data))["type"] != (
        "pong"
    ):
        replies.append(reply)
    return replies


async def go_live(client: Client, token: str, action: str = "go_live") -> None:
    response = await client.post(
        "/api/booths/actions",
        json={"action": action},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, await response.text()


async def test_a_wrong_or_missing_token_is_refused_with_1008() -> None:
    async with running() as (client, _app):
        for login, code in (
            ({"type": "login", "token": "x" * 20}, "token_refused"),
            ({}, "login_required"),
        ):
            ws = await client.ws_connect("/ws/booth-audio")
            await ws.send_json(login)
            assert (await receive(ws, "error"))["code"] == code
            assert (await ws.receive()).type is WSMsgType.CLOSE
            assert ws.close_code == 1008


async def test_a_booth_without_a_console_source_is_refused() -> None:
    async with running() as (client, _app):
        ws = await microphone(client, PARK)
        assert (await receive(ws, "error"))["code"] == "no_console_source"
        assert (await ws.receive()).type is WSMsgType.CLOSE
        assert ws.close_code == 1008


async def test_only_the_live_interpreters_audio_reaches_the_captioner() -> None:
    async with running() as (client, app), hearing(app[BUS], "booth-en") as heard:
        kim, lee = await microphone(client, KIM), await microphone(client, LEE)
        ready = await receive(kim, "ready")
        assert ready == {
            "type": "ready",
            "interpreter": "kim",
            "booth": "booth-en",
            "sample_rate": 16000,
            "format": "s16le",
            "max_frame_bytes": MAX_FRAME_BYTES,
        }
        await receive(lee, "ready")
        await kim.send_bytes(frame(100))
        assert [r["code"] for r in await settled(kim) if r["type"] == "error"] == ["not_live"]
        assert heard == []

        await go_live(client, KIM)
        await kim.send_bytes(frame(100))
        await lee.send_bytes(frame(200))
        assert [r for r in await settled(kim) if r["type"] == "error"] == []
        assert [r["code"] for r in await settled(lee) if r["type"] == "error"] == ["not_live"]
        await until(lambda: len(heard) == 1, "kim's frame on the bus")

        await go_live(client, LEE, "take_over")  # kim fed last, and gives way at once
        await kim.send_bytes(frame(100))
        assert [r["code"] for r in await settled(kim) if r["type"] == "error"] == ["not_live"]
        await lee.send_bytes(frame(200))
        assert [r for r in await settled(lee) if r["type"] == "error"] == []
        await until(lambda: len(heard) == 2, "lee's frame on the bus")
        assert heard == [frame(100), frame(200)]


async def test_levels_come_back_so_the_console_shows_the_microphone_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(booth_audio, "LEVEL_SECONDS", 0.0)
    async with running() as (client, _app):
        kim = await microphone(client, KIM)
        await receive(kim, "ready")
        await kim.send_bytes(frame(3277))
        level = await receive(kim, "level")
        assert level["rms"] == pytest.approx(0.1, abs=1e-3) and level["live"] is False


async def test_bad_frames_get_an_error_and_never_break_the_socket() -> None:
    async with running() as (client, app), hearing(app[BUS], "booth-en") as heard:
        kim = await microphone(client, KIM)
        await receive(kim, "ready")
        await go_live(client, KIM)
        await kim.send_bytes(b"\x01\x02\x03")
        await kim.send_bytes(bytes(MAX_FRAME_BYTES + 2))
        await kim.send_str("hello")
        replies = await settled(kim)
        assert [r["code"] for r in replies] == ["bad_frame", "too_large", "bad_message"]
        await kim.send_bytes(frame(5))
        await settled(kim)
        await until(lambda: heard == [frame(5)], "the one good frame on the bus")
        for _ in range(MAX_BAD_FRAMES):
            await kim.send_bytes(b"\x01")
        while (msg := await asyncio.wait_for(kim.receive(), TIMEOUT)).type is WSMsgType.TEXT:
            pass
        assert msg.type is WSMsgType.CLOSE and kim.close_code == 1008
