"""The viewer service in process (aiohttp's TestServer over a MemoryBus) and its sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.memory import MemoryBus
from service.app import create_app
from service.settings import ServiceSettings
from tests.support.waiting import until

Client = TestClient[web.Request, web.Application]
TIMEOUT = 5.0  # for /readyz
RECEIVE_TIMEOUT = 10.0


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

        await until(ready, "/readyz", timeout=TIMEOUT)
        yield client, bus, app


async def receive(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` on a console or viewer socket, skipping others."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), RECEIVE_TIMEOUT)
        assert msg.type is WSMsgType.TEXT, f"socket closed: {msg}"
        data: dict[str, Any] = json.loads(msg.data)
        if data["type"] == kind:
            return data
