"""Limits on every socket: a deadline for the first message, caps in all and per address."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.errors import TooManySocketsError
from service.app import create_app
from service.settings import ServiceSettings
from service.sockets import SocketGate, client_address, networks
from tests.support.booths import TOKENS, event_config


def test_the_gate_holds_its_caps_and_frees_on_leaving() -> None:
    gate = SocketGate(total=3, per_address=2)
    with gate.admit("10.0.0.1"), gate.admit("10.0.0.1"):
        with pytest.raises(TooManySocketsError, match="this address"), gate.admit("10.0.0.1"):
            pass
        with (
            gate.admit("10.0.0.2"),
            pytest.raises(TooManySocketsError, match="all the sockets"),
            gate.admit("10.0.0.3"),
        ):
            pass
        assert gate.count == 2
    assert gate.count == 0 and not gate.open
    with gate.admit("10.0.0.1"):  # free again
        pass


def served(**settings: object) -> TestClient[aiohttp.web.Request, aiohttp.web.Application]:
    app = create_app(
        ServiceSettings(channels=("ko", "en"), **settings),  # type: ignore[arg-type]
        MemoryBus(),
        tokens=TOKENS,
        config=event_config(),
    )
    return TestClient(TestServer(app))


async def test_a_viewer_that_never_says_hello_is_closed() -> None:
    async with served(hello_timeout=0.3) as client:
        quiet = await client.ws_connect("/ws/viewer")
        talking = await client.ws_connect("/ws/viewer")
        await talking.send_json({"type": "hello", "channel": "en"})
        msg = await asyncio.wait_for(quiet.receive(), 5)
        while msg.type is WSMsgType.TEXT:
            msg = await asyncio.wait_for(quiet.receive(), 5)
        assert msg.type is WSMsgType.CLOSE and quiet.close_code == 1008
        await asyncio.sleep(0.5)  # past the deadline: the one that said hello stays
        assert not talking.closed
        await talking.close()


class SlowBus(MemoryBus):
    """A bus whose first read of a channel's finals takes a while (Redis under a crowd)."""

    async def recent_finals(self, channel: str, limit: int) -> list[CaptionEvent]:
        await asyncio.sleep(0.8)
        return await super().recent_finals(channel, limit)


async def test_a_viewer_whose_join_outlasts_the_hello_deadline_is_kept() -> None:
    # The deadline is for saying hello, not for the server's join: a crowd on a busy
    # server (10,000 joining through Redis) had viewers that said hello at once closed
    # with 1008 because their backlog took longer than hello_timeout to reach them.
    app = create_app(
        ServiceSettings(channels=("en",), hello_timeout=0.3), SlowBus(), config=event_config()
    )
    async with TestClient(TestServer(app)) as client:
        ws = await client.ws_connect("/ws/viewer")
        await ws.send_json({"type": "hello", "channel": "en"})
        await asyncio.sleep(1.2)  # past the deadline and the slow join
        assert not ws.closed
        await ws.send_json({"type": "ping"})
        kinds = []
        while "pong" not in kinds:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type is WSMsgType.TEXT, (msg, ws.close_code)
            kinds.append(msg.json()["type"])
        assert "subscribed" in kinds
        await ws.close()


@pytest.mark.parametrize("path", ["/ws/console", "/ws/booth-audio"])
async def test_a_console_socket_must_log_in_within_the_timeout(path: str) -> None:
    async with served(login_timeout=0.3) as client:
        ws = await client.ws_connect(path)
        error = await asyncio.wait_for(ws.receive_json(), 5)
        assert error["code"] == "login_required"
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is WSMsgType.CLOSE and ws.close_code == 1008


async def test_sockets_past_the_cap_of_an_address_are_refused_with_503() -> None:
    async with served(max_sockets_per_address=2) as client:
        first = await client.ws_connect("/ws/viewer")
        second = await client.ws_connect("/ws/console")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/viewer")
        assert refused.value.status == 503
        response = await client.get("/ws/viewer")  # the same answer, read as HTTP
        assert response.status == 503 and (await response.json())["error"] == "too_many_sockets"
        await first.close()
        await asyncio.sleep(0.1)
        third = await client.ws_connect("/ws/viewer")  # one left: room again
        await third.close()
        await second.close()


def test_the_client_behind_a_trusted_proxy_is_the_forwarded_one() -> None:
    trusted = networks(["127.0.0.1", "10.0.0.0/8"])
    # from the proxy: the last forwarded hop that is not a proxy itself
    assert client_address("127.0.0.1", ["203.0.113.7, 10.1.2.3"], trusted) == "203.0.113.7"
    assert client_address("127.0.0.1", ["198.51.100.1", "203.0.113.7"], trusted) == "203.0.113.7"
    # from anyone else the header is the client's own words: ignored
    assert client_address("203.0.113.9", ["1.2.3.4"], trusted) == "203.0.113.9"
    assert client_address("127.0.0.1", ["1.2.3.4"], ()) == "127.0.0.1"  # none trusted
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"


async def test_behind_a_trusted_proxy_the_cap_counts_each_client() -> None:
    # Behind nginx every socket comes from nginx's address: without trusting it, the cap
    # per address would be the cap for the whole audience.
    async with served(max_sockets_per_address=1, trusted_proxies=("127.0.0.1",)) as client:
        first = await client.ws_connect("/ws/viewer", headers={"X-Forwarded-For": "203.0.113.1"})
        other = await client.ws_connect("/ws/viewer", headers={"X-Forwarded-For": "203.0.113.2"})
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/viewer", headers={"X-Forwarded-For": "203.0.113.1"})
        assert refused.value.status == 503
        await first.close()
        await other.close()
    async with served(max_sockets_per_address=1) as client:  # not trusted: one address
        first = await client.ws_connect("/ws/viewer", headers={"X-Forwarded-For": "203.0.113.1"})
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await client.ws_connect("/ws/viewer", headers={"X-Forwarded-For": "203.0.113.2"})
        await first.close()


def test_a_trusted_proxy_must_be_an_address_or_network() -> None:
    with pytest.raises(ValueError, match="not an address or network"):
        ServiceSettings(channels=("en",), trusted_proxies=("nginx",))
