"""The service behind the shipped nginx config (deploy/nginx/nginx.conf), a real cache.

The app runs in process as ``companion serve`` runs it on the in-memory bus (the
archiver inside, writing to a directory of the test's own), with a middleware that
counts the requests reaching it; Debian's nginx runs the shipped file in front. What
goes through nginx is read back with parsers of its own (``m3u8``, ``webvtt-py``) and
compared with the finals published and with what the archive holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import m3u8
import pytest
import webvtt
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from companion.bus.memory import MemoryBus
from companion.config import EventConfig
from companion.transcripts.archive import archive_root
from service.app import create_app
from service.settings import ServiceSettings
from tests.support.archive_config import archive_config, final
from tests.support.nginx import Nginx, nginx_in_front
from tests.support.service import receive
from tests.support.waiting import until
from workers.archiver.run import archiver_context

pytestmark = pytest.mark.nginx

IMMUTABLE = "public, max-age=31536000, immutable"
CROWD = 200
TIMEOUT = 20.0  # for segments to be written and the archiver to catch up


@dataclass
class Stack:
    nginx: Nginx
    origin: str  # the service itself, bypassing nginx
    bus: MemoryBus
    config: EventConfig
    session: aiohttp.ClientSession
    counts: Counter[str]  # requests that reached the service, by path

    async def get(self, path: str, **kw: Any) -> tuple[int, CIMultiDict[str], bytes]:
        """``path`` through nginx: status, headers, body."""
        async with self.session.get(self.nginx.url + path, **kw) as response:
            return response.status, response.headers.copy(), await response.read()

    async def latest_at_origin(self) -> dict[str, Any] | None:
        """The service's own latest.json (not through nginx), or None before a segment."""
        async with self.session.get(self.origin + "/live/en/latest.json") as response:
            if response.status != 200:
                return None
            doc: dict[str, Any] = await response.json()
            return doc if doc["seq"] >= 1 else None


@contextlib.asynccontextmanager
async def stack(tmp_path: Path, without: tuple[str, ...] = ()) -> AsyncIterator[Stack]:
    """The service (half-second segments, the archiver in) with nginx in front
    (``without``: those directives left out of the shipped file, for a control)."""
    config = archive_config(tmp_path / "archive")
    bus = MemoryBus()
    app = create_app(
        ServiceSettings(channels=("ko", "en"), segment_seconds=0.5), bus, config=config
    )
    app.cleanup_ctx.append(archiver_context(config, bus))
    counts: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        counts[request.path] += 1
        return await handler(request)

    app.middlewares.append(count)
    async with TestServer(app, host="127.0.0.1") as server:
        origin = f"http://127.0.0.1:{server.port}"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            with nginx_in_front(tmp_path, [f"127.0.0.1:{server.port}"], without) as nginx:
                yield Stack(nginx, origin, bus, config, session, counts)


def archived_texts(config: EventConfig, channel: str) -> list[str]:
    """The finals of ``channel`` the archive holds, in its order."""
    texts = []
    for path in sorted((archive_root(config) / config.event.id).glob(f"*/{channel}.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line)["text"])
    return texts


async def test_the_playlist_and_segments_read_through_nginx_hold_the_archived_finals(
    tmp_path: Path,
) -> None:
    finals = ["Hello & welcome to Seoul.", "The <keynote> starts now.", "Questions, please."]
    async with stack(tmp_path) as s:
        for text in finals:
            await s.bus.publish(final("en", text))
        await until(
            lambda: archived_texts(s.config, "en") == finals, "the archive", timeout=TIMEOUT
        )

        async def cues_through_nginx() -> list[str] | None:
            status, headers, body = await s.get("/live/en/captions.m3u8")
            if status != 200:
                return None
            assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
            playlist = m3u8.loads(body.decode())
            assert playlist.target_duration == 1 and not playlist.is_endlist
            seen: dict[tuple[str, str, str], None] = {}  # a cue on screen across windows repeats
            for segment in playlist.segments:
                status, headers, body = await s.get(f"/live/en/{segment.uri}")
                assert status == 200, segment.uri
                assert headers["Cache-Control"] == IMMUTABLE
                for cue in webvtt.from_string(body.decode()):
                    seen[cue.start, cue.end, html.unescape(cue.text)] = None
            texts = [text for _start, _end, text in seen]
            return texts if len(texts) >= len(finals) else None

        texts = await until(cues_through_nginx, "the finals in the playlist", timeout=TIMEOUT)
        assert texts == finals == archived_texts(s.config, "en")


async def test_a_viewer_socket_goes_through_nginx(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        ws_url = s.nginx.url.replace("http", "ws", 1) + "/ws/viewer"
        # the page's Origin is nginx's host: the service sees it as its own (Host passed on)
        async with s.session.ws_connect(ws_url, headers={"Origin": s.nginx.url}) as ws:
            await ws.send_json({"type": "hello", "channel": "en"})
            await receive(ws, "subscribed")
            await s.bus.publish(final("en", "Through the proxy."))
            caption = await receive(ws, "caption")
            assert (caption["text"], caption["final"]) == ("Through the proxy.", True)
        async with s.session.ws_connect(ws_url, headers={"Origin": "http://evil.example"}) as ws:
            msg = await ws.receive(timeout=10)
            assert msg.type is WSMsgType.CLOSE and msg.data == 1008
        assert s.counts["/ws/viewer"] == 2


async def hammer_latest(s: Stack, seconds: float = 3.0, clients: int = 50) -> tuple[int, int]:
    """``clients`` polling latest.json through nginx without a pause for ``seconds``:
    the requests that reached the service, and those nginx answered."""
    before = s.counts["/live/en/latest.json"]
    served = 0
    stop = time.monotonic() + seconds

    async def poller() -> None:
        nonlocal served
        while time.monotonic() < stop:
            status, _headers, _body = await s.get("/live/en/latest.json")
            assert status == 200
            served += 1

    await asyncio.gather(*(poller() for _ in range(clients)))
    return s.counts["/live/en/latest.json"] - before, served


async def crowd(s: Stack, path: str) -> list[str]:
    """``CROWD`` requests for ``path`` through nginx at once; their X-Cache-Status."""
    answers = await asyncio.gather(*(s.get(path) for _ in range(CROWD)))
    assert {status for status, _h, _b in answers} == {200}, path
    assert len({body for _s, _h, body in answers}) == 1, path
    return [headers["X-Cache-Status"] for _s, headers, _b in answers]


async def test_a_crowd_reaches_the_service_once_per_document(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.bus.publish(final("en", "A crowd is watching."))
        await until(s.latest_at_origin, "a segment", timeout=TIMEOUT)

        # a cold key: 200 misses at once, one request to the service (proxy_cache_lock)
        before = s.counts["/live/en/latest.json"]
        statuses = await crowd(s, "/live/en/latest.json")
        cold_latest = s.counts["/live/en/latest.json"] - before
        assert cold_latest <= 2, Counter(statuses)

        # a segment new to nginx (the newest the service stored): the same
        n = (await until(s.latest_at_origin, "a segment", timeout=TIMEOUT))["segment"]
        statuses = await crowd(s, f"/live/en/{n}.vtt")
        cold_segment = s.counts[f"/live/en/{n}.vtt"]
        assert cold_segment <= 2, Counter(statuses)

        # an expiring key under load: latest.json (max-age=1) asked for without a pause
        # for 3 s; the crowd gets the stale copy while one request updates it
        # (proxy_cache_use_stale updating, proxy_cache_background_update)
        under_load, served = await hammer_latest(s)
        print(
            f"origin requests: cold latest.json {cold_latest}/{CROWD}, new segment "
            f"{cold_segment}/{CROWD}, latest.json under load {under_load}/{served} in 3 s"
        )
        assert served > 200
        assert under_load <= 8  # about one a second (max-age=1); lock alone: one per waiter


async def test_without_use_stale_the_lock_alone_lets_the_crowd_through(tmp_path: Path) -> None:
    """The control: the shipped file less its two stale-serving lines."""
    stale = ("proxy_cache_use_stale", "proxy_cache_background_update")
    async with stack(tmp_path, without=stale) as s:
        await s.bus.publish(final("en", "A crowd is watching."))
        await until(s.latest_at_origin, "a segment", timeout=TIMEOUT)
        under_load, served = await hammer_latest(s)
        print(f"origin requests, lock alone: latest.json under load {under_load}/{served} in 3 s")
        assert under_load > 10  # the shipped file: at most 8 (about 2)


async def test_segments_are_hits_the_second_time_and_404s_are_never_kept(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.bus.publish(final("en", "Kept for a year."))
        n = (await until(s.latest_at_origin, "a segment", timeout=TIMEOUT))["segment"]
        for path in (f"/live/en/{n}.vtt", f"/live/en/seg/{n}.json"):
            first = await s.get(path)
            second = await s.get(path)
            assert (first[0], first[1]["X-Cache-Status"]) == (200, "MISS"), path
            assert (second[0], second[1]["X-Cache-Status"]) == (200, "HIT"), path
            assert second[1]["Cache-Control"] == IMMUTABLE and second[2] == first[2]
            assert second[1]["ETag"] == first[1]["ETag"]
            # a client's revalidation is answered by nginx from its copy
            etag = {"If-None-Match": first[1]["ETag"]}
            status, headers, body = await s.get(path, headers=etag)
            assert (status, body, headers["X-Cache-Status"]) == (304, b"", "HIT")
            assert s.counts[path] == 1, path
        future = f"/live/en/{n + 10_000}.vtt"
        for _ in range(2):
            status, headers, _body = await s.get(future)
            assert (status, headers["Cache-Control"]) == (404, "no-store")
            assert headers["X-Cache-Status"] == "MISS"
        assert s.counts[future] == 2
        # nothing outside /live/ is cached
        for _ in range(2):
            status, headers, _body = await s.get("/api/sessions")
            assert status == 200 and "X-Cache-Status" not in headers
        assert s.counts["/api/sessions"] == 2
