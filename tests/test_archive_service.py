"""The transcript API in process: sessions, live starts and ends, downloads, corrections.

The app runs as ``companion serve`` runs it on the in-memory bus: the archiver inside,
captions published to the bus, downloads read back from the archive it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pysubs2
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.memory import MemoryBus
from companion.config import EventConfig
from service.app import create_app
from service.auth import Tokens
from service.keys import EXPORTS
from service.settings import ServiceSettings
from service.transcripts import ExportCache
from tests.support.archive_config import archive_config, final
from tests.support.waiting import until
from workers.archiver.run import archiver_context

ORG = "organizer-token-0123456789"
Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {ORG}"}
VIEWER = {"Authorization": "Bearer some-viewer-guess-0000000"}
TIMEOUT = 20.0  # for the archiver, which writes on its own task


@contextlib.asynccontextmanager
async def running(config: EventConfig) -> AsyncIterator[tuple[Client, MemoryBus]]:
    bus = MemoryBus()
    settings = ServiceSettings(channels=("ko", "en"))
    app = create_app(settings, bus, tokens=Tokens(organizer=ORG), config=config)
    app.cleanup_ctx.append(archiver_context(config, bus))
    async with TestClient(TestServer(app)) as client:
        yield client, bus


async def json_of(client: Client, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with client.request(method, path, **kw) as response:
        return response.status, await response.json()


async def text_of(client: Client, path: str, **kw: Any) -> tuple[int, str]:
    async with client.get(path, **kw) as response:
        return response.status, await response.text()


async def published(client: Client, bus: MemoryBus, texts: dict[str, list[str]]) -> None:
    """Publish finals per channel and wait until the archive serves them."""
    for channel, items in texts.items():
        for text in items:
            await bus.publish(final(channel, text))

    async def archived() -> bool:
        for channel, items in texts.items():
            status, body = await json_of(
                client, "GET", f"/api/transcripts/morning/{channel}.json", headers=AUTH
            )
            if status != 200 or len(body["captions"]) < len(items):
                return False
        return True

    await until(archived, "the captions to be archived", timeout=TIMEOUT)


async def test_the_programme_is_public(tmp_path: Path) -> None:
    async with running(archive_config(tmp_path)) as (client, bus):
        status, body = await json_of(client, "GET", "/api/sessions")
        assert status == 200
        assert [s["id"] for s in body["sessions"]] == ["morning", "afternoon", "unscheduled"]
        assert body["current"]["id"] == "morning" and body["current"]["live"] is False
        assert "/api/transcripts/morning/bilingual.html" in body["sessions"][0]["downloads"]
        assert "/api/transcripts/morning/ko.srt" in body["sessions"][0]["downloads"]

        async def announced() -> bool:
            return (await bus.get_state()).get("session", {}).get("id") == "morning"

        await until(announced, "the session state document", timeout=TIMEOUT)


async def test_only_organizers_start_and_end_sessions(tmp_path: Path) -> None:
    config = archive_config(tmp_path)
    async with running(config) as (client, bus):
        status, body = await json_of(client, "POST", "/api/sessions/afternoon/start")
        assert status == 401 and body["error"] == "token_required"
        status, body = await json_of(
            client, "POST", "/api/sessions/afternoon/start", headers=VIEWER
        )
        assert status == 403
        status, body = await json_of(
            client, "POST", "/api/sessions/afternoon/start", headers=AUTH, json={"by": "Kim"}
        )
        assert status == 200 and body["current"]["id"] == "afternoon" and body["current"]["live"]
        assert (await bus.get_state())["session"]["id"] == "afternoon"
        status, body = await json_of(client, "POST", "/api/sessions/afternoon/start", headers=AUTH)
        assert status == 409 and "already running" in body["message"]
        status, body = await json_of(client, "POST", "/api/sessions/keynote/start", headers=AUTH)
        assert status == 404
        status, body = await json_of(
            client,
            "POST",
            "/api/sessions/afternoon/end",
            headers=AUTH,
            json={"at": time.time() + 999},
        )
        assert status == 400 and body["error"] == "bad_at"
        status, body = await json_of(client, "POST", "/api/sessions/afternoon/end", headers=AUTH)
        assert status == 200 and body["current"]["id"] is None
        status, body = await json_of(client, "GET", "/api/sessions")
        afternoon = body["sessions"][1]
        assert afternoon["start"] is not None and afternoon["end"] is not None
    journal = (tmp_path / config.event.id / "programme.jsonl").read_text().splitlines()
    assert [(a["session"], a["kind"], a["by"]) for a in map(json.loads, journal)] == [
        ("afternoon", "start", "Kim"),
        ("afternoon", "end", "organizer"),
    ]


def test_requests_for_an_export_being_made_wait_for_it_rather_than_make_it_again() -> None:
    """Eight threads ask at the same instant, while the first render takes a while:
    one render, eight answers (each used to find the cache empty and render its own)."""

    class Slow:
        """An archive whose export takes 0.2 s; its files never change."""

        def __init__(self) -> None:
            self.files = self
            self.renders = 0

        def stamp(self) -> object:
            return ("unchanged",)

        def export(self, session: str, name: str) -> tuple[str, str]:
            self.renders += 1
            time.sleep(0.2)
            return f"{session}.{name}", "text/plain"

    archive, cache = Slow(), ExportCache()
    start = threading.Barrier(8)

    def ask(name: str) -> tuple[str, str]:
        start.wait()
        return cache.get(cast(Any, archive), "morning", name)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, ["en.srt"] * 8))
    assert answers == [("morning.en.srt", "text/plain")] * 8
    assert archive.renders == cache.made == 1
    assert cache.get(cast(Any, archive), "morning", "ko.srt")[0] == "morning.ko.srt"
    assert cache.made == 2  # another export is made on its own


async def test_a_crowd_downloading_makes_each_export_once_per_change(tmp_path: Path) -> None:
    """Every viewer gets the link at once: the export is rendered once, then served
    from the cache until a file it is made of changes (a new caption here)."""
    async with running(archive_config(tmp_path, downloads="public")) as (client, bus):
        await published(client, bus, {"en": ["Welcome everyone."]})
        exports = client.app[EXPORTS]
        before = exports.made
        bodies = await asyncio.gather(
            *(text_of(client, "/api/transcripts/morning/en.srt") for _ in range(50))
        )
        assert {b for _, b in bodies} == {bodies[0][1]} and bodies[0][0] == 200
        assert exports.made == before + 1
        await bus.publish(final("en", "Let us begin."))  # the archive changes: made again

        async def begun() -> bool:
            _, text = await text_of(client, "/api/transcripts/morning/en.srt")
            return "Let us begin." in text

        await until(begun, "the new caption in the export", timeout=TIMEOUT)
        before = exports.made  # the archive is still now: served from the cache
        for _ in range(3):
            status, body = await text_of(client, "/api/transcripts/morning/en.srt")
            assert status == 200 and "Let us begin." in body
        assert exports.made == before


async def test_downloads_are_for_organizers_unless_public(tmp_path: Path) -> None:
    async with running(archive_config(tmp_path)) as (client, bus):
        await published(client, bus, {"en": ["Welcome everyone."], "ko": ["환영합니다."]})
        assert (await text_of(client, "/api/transcripts/morning/en.srt"))[0] == 401
        assert (await text_of(client, "/api/transcripts/morning/en.srt", headers=VIEWER))[0] == 403
        status, body = await text_of(client, "/api/transcripts/morning/en.srt", headers=AUTH)
        assert status == 200
        subs = pysubs2.SSAFile.from_string(body, format_="srt")
        assert [e.plaintext for e in subs] == ["Welcome everyone."]
        async with client.get(
            "/api/transcripts/morning/bilingual.html", params={"token": ORG}
        ) as r:
            assert r.status == 200 and r.content_type == "text/html"
            page = await r.text()
        assert "환영합니다." in page and "Welcome everyone." in page
        for name in ("ko.vtt", "ko.txt", "ko.json", "bilingual.md"):
            assert (await text_of(client, f"/api/transcripts/morning/{name}", headers=AUTH))[
                0
            ] == 200
        assert (await text_of(client, "/api/transcripts/morning/fr.srt", headers=AUTH))[0] == 404
        assert (await text_of(client, "/api/transcripts/morning/en.doc", headers=AUTH))[0] == 404
        assert (await text_of(client, "/api/transcripts/evening/en.srt", headers=AUTH))[0] == 404
    async with running(archive_config(tmp_path, downloads="public")) as (client, bus):
        status, body = await text_of(client, "/api/transcripts/morning/en.txt")
        assert status == 200 and body.startswith("Morning\n오전\nTest conference\n")


async def test_organizers_correct_captions_and_viewers_cannot(tmp_path: Path) -> None:
    async with running(archive_config(tmp_path, downloads="public")) as (client, bus):
        await published(client, bus, {"en": ["The social and solitary economy."]})
        _, body = await json_of(client, "GET", "/api/transcripts/morning/en.json")
        caption_id = body["captions"][0]["id"]
        path = f"/api/transcripts/en/captions/{caption_id}/corrections"
        fix = {"text": "The social and solidarity economy.", "by": "Lee Minji"}
        assert (await json_of(client, "POST", path, json=fix))[0] == 401
        assert (await json_of(client, "POST", path, json=fix, headers=VIEWER))[0] == 403
        _, body = await json_of(client, "GET", "/api/transcripts/morning/en.json")
        assert body["captions"][0]["text"] == "The social and solitary economy."  # unchanged

        status, body = await json_of(client, "POST", path, json=fix, headers=AUTH)
        assert status == 201 and body["by"] == "Lee Minji" and body["caption"] == caption_id
        _, body = await json_of(client, "GET", "/api/transcripts/morning/en.json")
        caption = body["captions"][0]
        assert caption["text"] == "The social and solidarity economy."
        assert caption["original_text"] == "The social and solitary economy."
        assert caption["corrections"][0]["by"] == "Lee Minji" and caption["corrections"][0]["at"]
        _, srt = await text_of(client, "/api/transcripts/morning/en.srt")
        assert "solidarity" in srt and "solitary" not in srt

        status, body = await json_of(
            client,
            "POST",
            "/api/transcripts/en/captions/nope-1/corrections",
            json=fix,
            headers=AUTH,
        )
        assert status == 404
        status, body = await json_of(client, "POST", path, json={"text": "  "}, headers=AUTH)
        assert status == 404 and "empty" in body["message"]
        status, body = await json_of(client, "POST", path, data=b"[1]", headers=AUTH)
        assert status == 400


async def test_the_archive_health_is_for_organizers(tmp_path: Path) -> None:
    async with running(archive_config(tmp_path)) as (client, _bus):
        assert (await json_of(client, "GET", "/api/archive"))[0] == 401

        async def writing() -> bool:
            status, body = await json_of(client, "GET", "/api/archive", headers=AUTH)
            return status == 200 and body["status"] == "writing"

        await until(writing, "the archiver to report", timeout=TIMEOUT)
        _, state = await json_of(client, "GET", "/api/state")
        assert "archiver:health" not in state["state"]  # not for viewers
        assert "session" in state["state"]


async def test_an_archive_that_cannot_be_written_is_503(tmp_path: Path) -> None:
    root = tmp_path / "archive-file"
    root.write_text("not a directory")
    async with running(archive_config(root)) as (client, _bus):
        status, body = await json_of(client, "GET", "/api/sessions")
        assert status == 200  # the programme still answers
        status, body = await json_of(client, "POST", "/api/sessions/afternoon/start", headers=AUTH)
        assert status == 503 and body["error"] == "archive_unavailable"
        assert "archive-file" not in body["message"]  # no internals to the client
