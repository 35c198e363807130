"""The segment feed's routes (``docs/segments.md``), and the writers behind them.

Routes::

    GET /live/{channel}/captions.m3u8   HLS media playlist (WebVTT subtitles)
    GET /live/{channel}/{n}.vtt         segment n as WebVTT          (immutable)
    GET /live/{channel}/seg/{n}.json    segment n as JSON            (immutable)
    GET /live/{channel}/latest.json     the newest segment, the finals after it, the partial

Segments never change once stored, so they are sent with ``Cache-Control: public,
max-age=31536000, immutable``, an ``ETag`` (a hash of the bytes) and a
``Last-Modified`` (the window's end: the same on every replica). The playlist and
``latest.json`` change every window: ``public, max-age=<half a window>`` and an
``ETag``. ``If-None-Match`` (or, without it, ``If-Modified-Since``) answers 304:
aiohttp does that for files only. An unknown channel or a segment not stored (yet,
or any more) is a 404 with ``no-store``, so no cache keeps it past its creation.

Each replica keeps the segments it has read in a bounded LRU (``SegmentCache``): a
crowd asking for a new segment costs the bus one read. The playlist and
``latest.json`` are built from what this replica's writer knows (``SegmentWriter.
latest``), with no read of the bus at all.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from companion.aio import running
from companion.segment_formats import render_playlist, render_vtt
from companion.segments import Segment
from service.keys import BUS, FANOUT, INSTANCE, SEGMENTS, SETTINGS
from service.segments import SegmentWriter

IMMUTABLE = "public, max-age=31536000, immutable"
NOT_FOUND = "no-store"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
VTT_TYPE = "text/vtt"
CACHE_SEGMENTS = 2048  # segments a replica keeps in memory (a few kB each)


@dataclass(frozen=True)
class Body:
    """One answer's bytes with its validators."""

    data: bytes
    etag: str
    modified: datetime | None = None

    @classmethod
    def of(cls, data: bytes, modified: datetime | None = None) -> Body:
        return cls(data, hashlib.blake2b(data, digest_size=12).hexdigest(), modified)


@dataclass(frozen=True)
class Stored:
    json: Body
    vtt: Body


class SegmentCache:
    """The segments this replica has read, newest use last, at most ``size``."""

    def __init__(self, size: int = CACHE_SEGMENTS) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], Stored] = OrderedDict()

    def get(self, channel: str, n: int) -> Stored | None:
        item = self._items.get((channel, n))
        if item is not None:
            self._items.move_to_end((channel, n))
        return item

    def put(self, channel: str, n: int, doc: str) -> Stored:
        segment = Segment.from_json(doc)
        modified = datetime.fromtimestamp(int(segment.end), tz=UTC)
        item = Stored(
            Body.of(doc.encode(), modified), Body.of(render_vtt(segment).encode(), modified)
        )
        self._items[channel, n] = item
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return item


@dataclass
class LiveSegments:
    """The app's segment writers (one per channel) and its cache of segments read."""

    writers: dict[str, SegmentWriter]
    cache: SegmentCache


def answer(request: web.Request, body: Body, content_type: str, cache_control: str) -> web.Response:
    """``body`` with its headers, or 304 when the client's copy is the same."""
    headers = {"Cache-Control": cache_control, "ETag": f'"{body.etag}"'}
    if body.modified is not None:
        headers["Last-Modified"] = format_datetime(body.modified, usegmt=True)
    match = request.if_none_match
    if match is not None:
        fresh = any(tag.value == body.etag for tag in match) or (
            len(match) == 1 and match[0].value == "*"
        )
    else:
        since = request.if_modified_since
        fresh = since is not None and body.modified is not None and body.modified <= since
    if fresh:
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if content_type != PLAYLIST_TYPE else None
    return web.Response(body=body.data, content_type=content_type, charset=charset, headers=headers)


def not_found(what: str) -> web.Response:
    return web.Response(status=404, text=f"{what}\n", headers={"Cache-Control": NOT_FOUND})


def _writer(request: web.Request) -> SegmentWriter | None:
    return request.app[SEGMENTS].writers.get(request.match_info["channel"])


def _short_max_age(writer: SegmentWriter) -> str:
    return f"public, max-age={max(1, int(writer.assembler.seconds / 2))}"


def _writing(request: web.Request) -> SegmentWriter | web.Response:
    """The channel's writer once it has stored a segment, or the 404 to answer."""
    writer = _writer(request)
    if writer is None:
        return not_found("no such channel")
    if writer.latest is None:
        return not_found("no segment yet")
    return writer


async def playlist(request: web.Request) -> web.Response:
    writer = _writing(request)
    if isinstance(writer, web.Response):
        return writer
    assert writer.latest is not None
    body = Body.of(render_playlist(writer.latest).encode())
    return answer(request, body, PLAYLIST_TYPE, _short_max_age(writer))


async def latest(request: web.Request) -> web.Response:
    writer = _writing(request)
    if isinstance(writer, web.Response):
        return writer
    assert writer.latest is not None
    hub = request.app[FANOUT].hubs[writer.channel]
    partial = hub.partial
    # The finals newer than the newest stored segment: a poller sees a final within a
    # poll and this document's short life, not after its window has closed too (which
    # put availability's p99 at 3.8 s with 2 s windows; docs/deployment.md). The
    # segments still hold every final, for those who missed a poll.
    finals = [
        {"seq": e.seq, "text": e.text, "lang": e.lang, "start": e.at}
        for e in hub.recent_finals
        if e.seq > writer.latest.seq and e.kind == "caption" and e.text.strip()
    ]
    doc = {
        "segment": writer.latest.segment,
        "first": writer.latest.first,
        "seconds": writer.latest.seconds,
        "seq": writer.latest.seq,
        "finals": finals,
        "partial": None
        if partial is None
        else {"seq": partial.seq, "text": partial.text, "lang": partial.lang},
    }
    body = Body.of(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    return answer(request, body, "application/json", _short_max_age(writer))


async def _segment(request: web.Request) -> Stored | web.Response:
    writer = _writer(request)
    if writer is None:
        return not_found("no such channel")
    try:
        n = int(request.match_info["n"])
    except ValueError:
        return not_found("no such segment")
    live = request.app[SEGMENTS]
    item = live.cache.get(writer.channel, n)
    if item is None:
        doc = await request.app[BUS].get_segment(writer.channel, n)
        if doc is None:
            return not_found("no such segment")
        item = live.cache.put(writer.channel, n, doc)
    return item


async def segment_json(request: web.Request) -> web.Response:
    item = await _segment(request)
    if isinstance(item, web.Response):
        return item
    return answer(request, item.json, "application/json", IMMUTABLE)


async def segment_vtt(request: web.Request) -> web.Response:
    item = await _segment(request)
    if isinstance(item, web.Response):
        return item
    return answer(request, item.vtt, VTT_TYPE, IMMUTABLE)


def install(app: web.Application) -> None:
    """The writers (one per channel, hearing its hub; run in ``cleanup_ctx``, inside the
    bus's lifetime) and the routes."""
    settings, fanout = app[SETTINGS], app[FANOUT]
    writers = {
        channel: SegmentWriter(app[BUS], channel, settings.segment_seconds, app[INSTANCE])
        for channel in settings.channels
    }
    for channel, writer in writers.items():
        fanout.hubs[channel].listeners.append(writer.hear)
    app[SEGMENTS] = LiveSegments(writers, SegmentCache())
    app.cleanup_ctx.append(_writers_ctx)
    app.router.add_get("/live/{channel}/captions.m3u8", playlist)
    app.router.add_get("/live/{channel}/latest.json", latest)
    app.router.add_get(r"/live/{channel}/seg/{n:\d+}.json", segment_json)
    app.router.add_get(r"/live/{channel}/{n:\d+}.vtt", segment_vtt)


async def _writers_ctx(app: web.Application) -> AsyncIterator[None]:
    writers = app[SEGMENTS].writers.values()
    async with running(*(writer.run() for writer in writers), name="segments"):
        yield
