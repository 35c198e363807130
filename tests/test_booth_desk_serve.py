"""End to end: two `companion serve --no-workers` replicas on one real Redis, a console
on each, acting on the same booth; a viewer on each.

kim signs in on replica A and lee on replica B, and both go live at the same instant:
one is live, the other is refused. The live one asks for a handover on their replica,
the partner accepts on the other; then the new live interpreter says the floor speaks
English and signs off. Both viewers get the same ``booth:`` / ``channel:`` / ``floor``
documents in the same order, both replicas' organizer view holds the same log, and
the journal (one archive directory for both) has each event once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from service.booth_desk import JOURNAL
from tests.support.booths import CONFIG
from tests.support.paths import REPO
from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import until, until_sync

pytestmark = pytest.mark.redis

TOKENS = {"kim": "kim-token-0123456789", "lee": "lee-token-0123456789"}
ORGANIZER = "organizer-token-0123456789"
TIMEOUT = 10.0
DESK_KEYS = ("booth:", "channel:", "floor")

Socket = aiohttp.ClientWebSocketResponse


@contextlib.contextmanager
def replica(name: str, directory: Path, config: Path, redis: RedisServer) -> Iterator[str]:
    """`companion serve --no-workers` on ``redis`` until the block ends; its URL once ready."""
    env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "COMPANION_ARCHIVE_DIR": str(directory / "archive"),  # one, shared by the replicas
        "COMPANION_ORGANIZER_TOKEN": ORGANIZER,
        **{f"COMPANION_TOKEN_{who.upper()}": token for who, token in TOKENS.items()},
    }
    env.pop("COMPANION_CONFIG", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = directory / f"{name}.log"
    command = [sys.executable, "-m", "cli", "serve", "--config", str(config)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--no-workers"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not _ready(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    pytest.fail(f"{name} did not become ready:\n{tail}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_two_replicas_serialise_one_booth(tmp_path: Path, outage_server: RedisServer) -> None:
    config = tmp_path / "event.toml"
    config.write_text(CONFIG.replace('id = "test"', f'id = "test-{uuid.uuid4().hex}"', 1))
    with (
        replica("a", tmp_path, config, outage_server) as a,
        replica("b", tmp_path, config, outage_server) as b,
    ):
        first, seen, logs = asyncio.run(scenario(a, b))
    second = "lee" if first == "kim" else "kim"
    assert seen[0] == seen[1]  # the same documents in the same order on both replicas
    booth = [value["live"] for key, value in seen[0] if key == "booth:booth-en"]
    assert booth == [first, first, second, None]  # live, asked, handed over, signed off
    carries = [(value["carries"], value["live"]) for key, value in seen[0] if key == "channel:en"]
    # the booth, from one interpreter then the other; the floor once it speaks English
    assert carries == [
        ("booth-en", first),
        ("booth-en", second),
        ("floor", second),
        ("floor", None),
    ]
    versions = [value["version"] for _, value in seen[0]]
    assert versions == sorted(set(versions))  # each document once, in the order stored
    assert logs[0] == logs[1]
    assert [(e["action"], e["by"]) for e in logs[0]] == [
        ("go_live", first),
        ("request_handover", first),
        ("accept", second),
        ("floor", second),
        ("sign_off", second),
    ]
    journals = list((tmp_path / "archive").rglob(JOURNAL))
    assert len(journals) == 1

    def journal() -> list[dict[str, Any]] | None:
        """The journal, once it has five lines (each is appended in a thread of its own)."""
        lines = [json.loads(line) for line in journals[0].read_text("utf-8").splitlines()]
        return lines if len(lines) >= 5 else None

    logged = until_sync(journal, "the journal's five lines", TIMEOUT)
    assert sorted(e["n"] for e in logged) == [1, 2, 3, 4, 5]  # once each, not once per replica


async def scenario(a: str, b: str) -> tuple[str, list[list[tuple[str, Any]]], list[list[Any]]]:
    """Race, hand over across replicas, change the floor, sign off: who won the race,
    what each viewer saw of the desk, and each replica's organizer log."""
    async with aiohttp.ClientSession() as http:
        viewers = [await viewer(http, url) for url in (a, b)]
        seen: list[list[tuple[str, Any]]] = [[], []]
        readers = [
            asyncio.create_task(read_state(ws, into))
            for ws, into in zip(viewers, seen, strict=True)
        ]
        consoles = {"kim": await console(http, a, "kim"), "lee": await console(http, b, "lee")}
        go = {"type": "action", "action": "go_live"}
        await asyncio.gather(*(ws.send_json(go) for ws in consoles.values()))
        outcome = {who: await outcome_of(ws, who) for who, ws in consoles.items()}
        assert sorted(outcome.values()) == ["live", "refused"], outcome
        first = next(who for who, said in outcome.items() if said == "live")
        second = next(who for who in consoles if who != first)
        await act(consoles[first], "request_handover")
        request = await booth_where(consoles[second], lambda booth: booth["request"] is not None)
        assert (request["request"]["giver"], request["request"]["taker"]) == (first, second)
        await act(consoles[second], "accept")  # on the other replica
        for ws in consoles.values():
            await booth_where(ws, lambda booth: booth["live"] == second)
        await act(consoles[second], "floor", "en")
        await act(consoles[second], "sign_off")
        for ws in consoles.values():
            await booth_where(ws, lambda booth: booth["live"] is None)
        async with http.get(a + "/api/state") as response:
            final = (await response.json())["state"]
        last = max(doc.get("version", 0) for key, doc in final.items() if key.startswith(DESK_KEYS))
        await until_seen(seen, last)

        async def both_logs() -> list[list[Any]] | None:
            """Each replica's organizer log, once both hold the five events: a replica's
            desk follows the bus on its own, a moment after its viewers may have."""
            logs = []
            for url in (a, b):
                headers = {"Authorization": f"Bearer {ORGANIZER}"}
                async with http.get(url + "/api/admin/booths", headers=headers) as response:
                    logs.append((await response.json())["log"])
            return logs if all(len(log) >= 5 for log in logs) else None

        logs = await until(both_logs, "both replicas' logs to hold five events", TIMEOUT)
        for task in readers:
            task.cancel()
        for ws in [*viewers, *consoles.values()]:
            await ws.close()
    return first, seen, logs


async def viewer(http: aiohttp.ClientSession, url: str) -> Socket:
    """A viewer of "en", past its welcome's state documents (those come before ``subscribed``)."""
    ws = await http.ws_connect(url + "/ws/viewer")
    await ws.send_json({"type": "hello", "v": 1, "channel": "en"})
    while (await receive(ws))["type"] != "subscribed":
        pass
    return ws


async def read_state(ws: Socket, into: list[tuple[str, Any]]) -> None:
    while True:
        message = await receive(ws, timeout=None)
        if message["type"] == "state" and message["key"].startswith(DESK_KEYS):
            into.append((message["key"], message["value"]))


async def until_seen(seen: list[list[tuple[str, Any]]], version: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not all(got and got[-1][1]["version"] >= version for got in seen):
            await asyncio.sleep(0.02)


async def console(http: aiohttp.ClientSession, url: str, who: str) -> Socket:
    ws = await http.ws_connect(url + "/ws/console")
    await ws.send_json({"type": "login", "token": TOKENS[who]})
    while (await receive(ws))["type"] != "console":
        pass
    return ws


async def act(ws: Socket, action: str, arg: str = "") -> None:
    await ws.send_json({"type": "action", "action": action, "arg": arg})


async def outcome_of(ws: Socket, who: str) -> str:
    """ "live" once ``who``'s go_live is in, "refused" if it was refused."""
    while True:
        message = await receive(ws)
        if message["type"] == "refused":
            return "refused"
        event = message.get("event") or {}
        if message["type"] == "booth" and (event.get("action"), event.get("by")) == (
            "go_live",
            who,
        ):
            return "live"


async def booth_where(ws: Socket, holds: Any) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        assert message["type"] != "refused", message
        if message["type"] == "booth" and holds(message["booth"]):
            booth: dict[str, Any] = message["booth"]
            return booth


async def receive(ws: Socket, timeout: float | None = TIMEOUT) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive(), timeout)
    assert message.type is aiohttp.WSMsgType.TEXT, f"socket closed: {message}"
    data: dict[str, Any] = json.loads(message.data)
    return data
