"""The segment feed's routes in process (MemoryBus, half-second windows, the real clock)."""

from __future__ import annotations

import html
from typing import Any

import m3u8
import webvtt

from tests.support.caption_events import caption
from tests.support.service import running
from tests.support.waiting import until

IMMUTABLE = "public, max-age=31536000, immutable"


async def test_segments_playlist_and_latest_with_their_headers() -> None:
    async with running(segment_seconds=0.5) as (client, bus, _app):
        await bus.publish(caption("en", True, "Hello & welcome"))
        await bus.publish(caption("en", False, "still speak"))

        async def latest_with_the_final() -> dict[str, Any] | None:
            async with client.get("/live/en/latest.json") as response:
                if response.status != 200:
                    return None
                doc: dict[str, Any] = await response.json()
                return doc if doc["seq"] >= 1 else None

        doc = await until(latest_with_the_final, "a segment with the final")
        assert doc["seconds"] == 0.5
        assert doc["partial"] == {"seq": 2, "text": "still speak", "lang": "en"}
        n = doc["segment"]
        async with client.get(f"/live/en/seg/{n}.json") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == IMMUTABLE
            assert response.content_type == "application/json"
            etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"  # still there
            body = await response.read()
        # the final is in segment n or an earlier one; every segment of the run is stored
        texts = []
        async with client.get("/live/en/captions.m3u8") as response:
            assert response.status == 200
            assert response.content_type == "application/vnd.apple.mpegurl"
            assert response.headers["Cache-Control"] == "public, max-age=1"
            playlist = m3u8.loads(await response.text())
        for segment in playlist.segments:
            async with client.get(f"/live/en/{segment.uri}") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "text/vtt; charset=utf-8"
                assert response.headers["Cache-Control"] == IMMUTABLE
                texts += [html.unescape(c.text) for c in webvtt.from_string(await response.text())]
        assert "Hello & welcome" in texts
        async with client.get(f"/live/en/seg/{n}.json", headers={"If-None-Match": etag}) as r304:
            assert r304.status == 304 and r304.headers["ETag"] == etag
            assert await r304.read() == b""
        since = {"If-Modified-Since": modified}
        async with client.get(f"/live/en/seg/{n}.json", headers=since) as r304:
            assert r304.status == 304
        async with client.get(f"/live/en/seg/{n}.json", headers={"If-None-Match": '"x"'}) as r:
            assert r.status == 200 and await r.read() == body
        async with client.get("/live/en/latest.json") as response:
            tag = response.headers["ETag"]
        async with client.get("/live/en/latest.json", headers={"If-None-Match": tag}) as r:
            assert r.status in (200, 304)  # 200 only if a window closed meanwhile


async def test_future_segments_and_unknown_channels_are_404s_nobody_keeps() -> None:
    async with running(segment_seconds=0.5) as (client, _bus, _app):
        for path in (
            "/live/fr/latest.json",
            "/live/fr/captions.m3u8",
            "/live/fr/1.vtt",
            "/live/en/99999999999.vtt",
            "/live/en/seg/99999999999.json",
        ):
            async with client.get(path) as response:
                assert response.status == 404, path
                assert response.headers["Cache-Control"] == "no-store"


async def test_latest_lists_the_finals_newer_than_its_newest_segment() -> None:
    # Long windows: the finals wait for theirs to close, but a poller sees them at once.
    async with running(segment_seconds=5.0) as (client, bus, _app):

        async def latest() -> dict[str, Any] | None:
            async with client.get("/live/en/latest.json") as response:
                return await response.json() if response.status == 200 else None

        first = await until(latest, "a first segment")
        await bus.publish(caption("en", True, "first final"))
        await bus.publish(caption("en", True, "second final"))

        async def with_both() -> dict[str, Any] | None:
            doc = await latest()
            return doc if doc and len(doc["finals"]) == 2 else None

        doc = await until(with_both, "both finals in latest.json")
        assert [f["text"] for f in doc["finals"]] == ["first final", "second final"]
        assert all(f["seq"] > doc["seq"] for f in doc["finals"])
        assert doc["segment"] == first["segment"]  # their window has not closed yet
