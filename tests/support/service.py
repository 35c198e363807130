"""The viewer service in process (aiohttp's TestServer over a MemoryBus) and its sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.memory import MemoryBus
from service.app import create_app
from service.settings import ServiceSettings

Client = TestClient[web.Request, web.Application]
TIMEOUT = 5.0
RECEIVE_TIMEOUT = 10.0


async def until(check: Callable[[], bool] | Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` with tiny yields until it is true (at most TIMEOUT seconds)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running(
    bus: MemoryBus | None = None, **overrides: Any
) -> AsyncIterator[tuple[Client, MemoryBus, web.Application]]:
    """The service on channels en and ko (``overrides``: its settings), once /readyz is 200."""
    bus = bus or MemoryBus()
    settings = ServiceSettings(channels=("en", "ko"), **overrides)
    app = create_app(settings, bus)
    async with TestClient(TestServer(app)) as client:

        async def ready() -> bool:
            async with client.get("/readyz") as response:
                return response.status == 200

        await until(ready, "/readyz")
        yield client, bus, app


async def receive(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` on a console or viewer socket, skipping others."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), RECEIVE_TIMEOUT)
        assert msg.type is WSMsgType.TEXT, f"socket closed: {msg}"
        data: dict[str, Any] = json.loads(msg.data)
        if data["type"] == kind:
            return data
