"""The segment feed on two service replicas sharing one real Redis: the same bytes from
both, one writer, and a takeover that neither repeats nor skips a final."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.redis import RedisBus
from companion.segments import Segment
from service import segments as writer_module
from service.app import create_app
from service.keys import SEGMENTS
from service.settings import ServiceSettings
from tests.support.caption_events import caption
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


async def test_two_replicas_serve_the_same_segments_and_one_takes_over(
    outage_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "LEASE_SECONDS", 1.0)
    ns = f"test-{uuid.uuid4().hex}"
    settings = ServiceSettings(channels=("en",), segment_seconds=0.5)
    publisher = RedisBus(outage_server.url, namespace=ns)
    await publisher.start()
    app_a = create_app(settings, RedisBus(outage_server.url, namespace=ns))
    app_b = create_app(settings, RedisBus(outage_server.url, namespace=ns))
    a, b = TestClient(TestServer(app_a)), TestClient(TestServer(app_b))
    await a.start_server()
    await b.start_server()
    try:
        await until(lambda: app_a[SEGMENTS].writers["en"].holding, "a to write", timeout=10)
        for i in range(3):
            await publisher.publish(caption("en", True, f"before {i}"))

        await until(lambda: _at_least(b, 3), "b to list all three", timeout=10)
        async with b.get("/live/en/latest.json") as r:
            n = (await r.json())["segment"]
        async with a.get(f"/live/en/{n}.vtt") as ra, b.get(f"/live/en/{n}.vtt") as rb:
            assert ra.status == rb.status == 200
            assert await ra.read() == await rb.read()
            assert ra.headers["ETag"] == rb.headers["ETag"]
        assert app_b[SEGMENTS].writers["en"].written == 0  # only a wrote
        await a.close()  # a dies; b takes over after the lease lapses
        for i in range(3):
            await publisher.publish(caption("en", True, f"after {i}"))
        await until(lambda: _at_least(b, 6), "b to write the rest", timeout=15)
        assert app_b[SEGMENTS].writers["en"].written > 0
        async with b.get("/live/en/latest.json") as r:
            doc = await r.json()
        seqs = []
        for k in range(doc["first"], doc["segment"] + 1):
            async with b.get(f"/live/en/seg/{k}.json") as r:
                assert r.status == 200, k  # contiguous: no window left out
                seqs += [c.seq for c in Segment.from_json(await r.text()).captions]
        assert seqs == [1, 2, 3, 4, 5, 6]
    finally:
        await a.close()
        await b.close()
        await publisher.close()


async def _at_least(client: TestClient, seq: int) -> bool:  # type: ignore[type-arg]
    """True once ``client``'s latest.json lists segments up to ``seq``."""
    async with client.get("/live/en/latest.json") as r:
        return r.status == 200 and int((await r.json())["seq"]) >= seq
