"""The transcript API: the programme, live session starts and ends, downloads, corrections.

Routes (``add_transcript_routes``; docs/archive.md)::

    GET  /api/sessions                           the programme, what runs now, downloads
    POST /api/sessions/{id}/start | /end         organizer: start or end a session now
    GET  /api/transcripts/{session}/{lang}.{srt|vtt|txt|json}
    GET  /api/transcripts/{session}/bilingual.{html|md}
                                                 anyone or organizers (archive.downloads)
    POST /api/transcripts/{lang}/captions/{id}/corrections
                                                 organizer: {"text": …, "by": …}
    GET  /api/archive                            organizer: the archiver's health

The service reads the archive directory directly (the archiver writes it), so a
service that offers downloads needs the archive on its disk or a shared volume. The
``session`` state document (public) says which session runs now; it is republished
when that changes and after every live start or end. ``TranscriptError`` is 404,
``ProgrammeError`` 409, a bad body 400 (413 when too large); an unreadable archive
(an ``OSError``, logged here) is ``ArchiveUnavailableError``, 503. The routes raise
these errors; ``service/errors.py`` answers them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import Gauge

from companion.aio import running
from companion.config import EventConfig
from companion.errors import ArchiveUnavailableError, BadRequestError, TooLargeError
from companion.transcripts.archive import TranscriptArchive, archive_root
from service.auth import require_organizer
from service.keys import ARCHIVE, ARCHIVE_GAUGES, BUS, EXPORTS, REGISTRY, TOKENS

log = logging.getLogger(__name__)

SESSION_KEY = "session"
HEALTH_KEY = "archiver:health"  # workers/archiver/archiver.py publishes it
STALE_AFTER = 20.0
SESSION_CHECK_SECONDS = 5.0
MAX_BODY = 16_384
MAKING_LOCKS = 16  # exports made at once at most (each of its own kind)
EXPORT_CACHE_SIZE = 64  # exports kept (sessions x languages x formats)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_transcript_routes(app: web.Application, config: EventConfig) -> None:
    """Add the routes above and the task that keeps the ``session`` document current."""
    app[ARCHIVE] = TranscriptArchive(config, archive_root(config))
    app[EXPORTS] = ExportCache()
    registry = app[REGISTRY]
    app[ARCHIVE_GAUGES] = (
        Gauge("companion_archive_ok", "1 while the archiver writes, else 0.", registry=registry),
        Gauge(
            "companion_archive_waiting",
            "Captions the archiver holds, not yet written.",
            registry=registry,
        ),
    )
    app.router.add_get("/api/sessions", sessions)
    app.router.add_post("/api/sessions/{session}/{kind:start|end}", session_action)
    app.router.add_get("/api/transcripts/{session}/{name}", download)
    app.router.add_post("/api/transcripts/{lang}/captions/{caption}/corrections", correct)
    app.router.add_get("/api/archive", archive_health)
    app.cleanup_ctx.append(_session_ctx)


def _archive_errors(handler: Handler) -> Handler:
    """Log an ``OSError`` of the archive and raise ``ArchiveUnavailableError`` (503)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except OSError as exc:
            log.error("the archive cannot be read or written: %r", exc)
            raise ArchiveUnavailableError("the archive is unavailable") from None

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLargeError("the body is too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise TooLargeError("the body is too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise BadRequestError("bad_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequestError("bad_json", "the body must be a JSON object")
    return body


def _by(body: dict[str, Any]) -> str:
    by = body.get("by", "organizer")
    if not isinstance(by, str) or not by.strip() or len(by) > 80:
        raise BadRequestError("bad_by", "'by' must be a name of 1 to 80 characters")
    return by.strip()


@_archive_errors
async def sessions(request: web.Request) -> web.Response:
    """The programme (scheduled and actual times, downloads) and the session running now."""
    archive = request.app[ARCHIVE]
    now = time.time()
    body = await asyncio.to_thread(
        lambda: {
            "current": archive.current(now),
            "downloads": archive.config.archive.downloads,
            "sessions": archive.overview(),
        }
    )
    return web.json_response(body, dumps=_dumps)


@_archive_errors
async def session_action(request: web.Request) -> web.Response:
    """Organizer: start or end a session now (or at ``at``, Unix seconds, not in the future)."""
    require_organizer(request, request.app[TOKENS])
    body = await _body(request)
    now = time.time()
    at = body.get("at", now)
    if (
        not isinstance(at, int | float)
        or isinstance(at, bool)
        or not math.isfinite(at)
        or at > now + 5
    ):
        raise BadRequestError("bad_at", "'at' must be Unix seconds, not in the future")
    archive = request.app[ARCHIVE]
    session, kind = request.match_info["session"], request.match_info["kind"]
    by = _by(body)
    await asyncio.to_thread(archive.record, session, kind, float(at), by)  # type: ignore[arg-type]
    current = await _publish_session(request.app, now)
    log.info("session %s %s by %s", session, kind, by)
    return web.json_response({"current": current}, dumps=_dumps)


class ExportCache:
    """Exports as last made, kept while the files they were made of are unchanged.

    At the end of a broadcast every viewer gets the download link at once: each export
    is made once per change of the archive (its files' sizes and mtimes, read without
    reading the files), not once per request. Requests for an export that is being made
    wait for it rather than make it again (a crowd arrives in the same instant, and the
    service's threads would otherwise each find the cache empty). Thread-safe; at most
    ``size`` kept.
    """

    def __init__(self, size: int = EXPORT_CACHE_SIZE) -> None:
        self.size = size
        self.made = 0  # exports actually rendered (for tests and curiosity)
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str], tuple[object, tuple[str, str]]] = OrderedDict()
        # one export of a kind made at a time; a fixed set, so that no request can grow it
        self._making = tuple(threading.Lock() for _ in range(MAKING_LOCKS))

    def get(self, archive: TranscriptArchive, session: str, name: str) -> tuple[str, str]:
        key = (session, name)
        with self._making[hash(key) % len(self._making)]:
            stamp = archive.files.stamp()  # after the wait: what the one before made counts
            with self._lock:
                kept = self._kept.get(key)
                if kept is not None and kept[0] == stamp:
                    self._kept.move_to_end(key)
                    return kept[1]
            export = archive.export(session, name)
            with self._lock:
                self.made += 1
                self._kept[key] = (stamp, export)
                self._kept.move_to_end(key)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
            return export


@_archive_errors
async def download(request: web.Request) -> web.Response:
    """One export; organizers only unless ``archive.downloads`` is ``public``."""
    archive = request.app[ARCHIVE]
    if archive.config.archive.downloads != "public":
        require_organizer(request, request.app[TOKENS])
    session, name = request.match_info["session"], request.match_info["name"]
    text, media = await asyncio.to_thread(request.app[EXPORTS].get, archive, session, name)
    filename = f"{archive.config.event.id}-{session}.{name}"
    return web.Response(
        text=text,
        content_type=media,
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@_archive_errors
async def correct(request: web.Request) -> web.Response:
    """Organizer: replace the text of an archived caption (the original is kept)."""
    require_organizer(request, request.app[TOKENS])
    body = await _body(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise BadRequestError("bad_text", "'text' must be a string")
    by = _by(body)
    archive = request.app[ARCHIVE]
    lang, caption = request.match_info["lang"], request.match_info["caption"]
    correction = await asyncio.to_thread(archive.correct, lang, caption, text, by, time.time())
    log.info("caption %s/%s corrected by %s", correction.channel, caption, by)
    return web.json_response(correction.to_dict(), status=201, dumps=_dumps)


@_archive_errors
async def archive_health(request: web.Request) -> web.Response:
    """Organizer: whether the archiver writes, from its health document."""
    require_organizer(request, request.app[TOKENS])
    doc, status = await _archiver(request.app, time.time())
    return web.json_response({"status": status, "archiver": doc}, dumps=_dumps)


async def _archiver(app: web.Application, now: float) -> tuple[dict[str, Any], str]:
    """The health document and ``writing``/``failing``/``locked``/``stale``/``missing``."""
    doc = (await app[BUS].get_state()).get(HEALTH_KEY)
    if not doc:
        return {}, "missing"
    if doc.get("status") != "stopped" and now - float(doc.get("updated") or 0) > STALE_AFTER:
        return doc, "stale"
    return doc, str(doc.get("status", "missing"))


async def _publish_session(app: web.Application, now: float) -> dict[str, Any]:
    current = await asyncio.to_thread(app[ARCHIVE].current, now)
    await app[BUS].set_state(SESSION_KEY, current)
    return current


async def _keep_current(app: web.Application) -> None:
    """Republish ``session`` when the running session changes; update the gauges."""
    last: dict[str, Any] | None = None
    ok, waiting = app[ARCHIVE_GAUGES]
    while True:
        now = time.time()
        try:
            current = await asyncio.to_thread(app[ARCHIVE].current, now)
            if current != last:
                await app[BUS].set_state(SESSION_KEY, current)
                last = current
            doc, status = await _archiver(app, now)
            ok.set(1 if status == "writing" else 0)
            waiting.set(float(doc.get("waiting") or 0))
        except Exception as exc:  # the bus buffers and the archive may be away: say, go on
            log.warning("cannot update the session state: %r", exc)
        await asyncio.sleep(SESSION_CHECK_SECONDS)


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    async with running(_keep_current(app), name="session-state"):
        yield


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
