"""``companion bench fuzz``: random and malformed messages at every socket of the service.

The service (``create_app``, in-memory bus, an event with two booths whose audio comes
from the console) runs on its own event loop in a background thread, as in
``bench.fanout``. Fuzzers then send ``messages`` random messages, seeded, spread over
the three sockets: the viewer socket (``/ws/viewer``), the interpreter console
(``/ws/console``) and the console microphone (``/ws/booth-audio``). Half of the console
and microphone fuzzers sign in with a real token first, so the signed-in handlers are
fuzzed too. A fuzzer whose socket the server closes opens a new one and goes on.

The messages: valid ones with random fields, JSON of the wrong shape or types, huge
and deeply nested documents, invalid UTF-8, random binary frames of any length, and
every kind of message on the wrong socket. Meanwhile ``bystanders`` plain viewers
follow a channel on which a caption is published every 50 ms.

The report: messages sent per socket, the server's close codes and error codes, the
errors the server logged (a traceback is a bug: the target is none), whether every
bystander got every caption in order with no unexpected close, and ``/healthz``'s
time before and after.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import threading
import time
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from companion.bus.memory import MemoryBus
from companion.captions import CaptionEvent
from companion.config import parse_config
from service.app import create_app
from service.auth import Tokens
from service.settings import ServiceSettings

EVENT = """
[event]
id = "fuzz"
[[channels]]
id = "ko"
language = "ko"
[[channels]]
id = "en"
language = "en"
[[booths]]
id = "booth-en"
channel = "en"
source = "console"
interpreters = [{ id = "kim" }, { id = "lee" }]
[[booths]]
id = "booth-ko"
channel = "ko"
source = "console"
interpreters = [{ id = "park" }, { id = "choi" }]
"""
SOCKETS = ("/ws/viewer", "/ws/console", "/ws/booth-audio")
ACTIONS: list[Any] = ["go_live", "request_handover", "accept", "decline", "cancel"]
ACTIONS += ["take_over", "mute", "cough", "listen", "carry", "sign_off", "floor", "x", None, 3]
FUZZERS_PER_SOCKET = 4
PUBLISH_EVERY = 0.05


class ErrorLog(logging.Handler):
    """Counts what the service logs at ERROR or above (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}"[:300])


class Server:
    """The service on 127.0.0.1 in a background thread (its own event loop)."""

    def __init__(self, tokens: Tokens) -> None:
        config = parse_config(EVENT, "fuzz.toml", env={})
        settings = ServiceSettings(channels=("ko", "en"), max_sockets_per_address=20_000)
        self.bus = MemoryBus()
        self.app = create_app(settings, self.bus, tokens=tokens, config=config)
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(self.app, handle_signals=False)
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server")
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stop(self) -> None:
        try:
            self.call(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def viewer_message(rng: random.Random) -> str | bytes:
    kind = rng.random()
    channels = ["en", "ko", "fr", "", None, 1, ["en"], "x" * 300]
    if kind < 0.3:
        doc: Any = {
            "type": rng.choice(["hello", "subscribe", "ping", "pong", "caption", "", None, 7]),
            "channel": rng.choice(channels),
            "resume": rng.choice([None, 0, -1, 10**18, "3", 2.5, True, float("nan")]),
            "v": rng.choice([1, 2, "1", None]),
        }
        return json.dumps(doc)
    return shared_message(rng, kind)


def console_message(rng: random.Random) -> str | bytes:
    kind = rng.random()
    if kind < 0.3:
        doc = {
            "type": rng.choice(["action", "login", "ping", "", None]),
            "action": rng.choice(ACTIONS),
            "arg": rng.choice(["on", "off", "floor", "booth-ko", "en", "", None, 5, "z" * 500]),
            "token": rng.choice([None, "", "x" * 20, "\ud800", 12]),
        }
        return json.dumps(doc)
    return shared_message(rng, kind)


def audio_message(rng: random.Random) -> str | bytes:
    kind = rng.random()
    if kind < 0.4:  # PCM of any length, odd ones included
        return rng.randbytes(rng.choice([0, 1, 3, 3200, 3201, 64 * 1024, 64 * 1024 + 2]))
    return shared_message(rng, kind)


def shared_message(rng: random.Random, kind: float) -> str | bytes:
    """Malformed for any socket."""
    if kind < 0.45:
        return rng.choice(["{", "[]", "null", "1", '"x"', "{}", '{"type": {}}', "\x00" * 10])
    if kind < 0.6:
        depth = rng.randint(1, 2000)
        return "[" * depth + "]" * depth
    if kind < 0.7:
        return json.dumps({"type": "hello", "channel": "en", "pad": "x" * rng.randint(1, 9000)})
    if kind < 0.8:
        return rng.randbytes(rng.randint(1, 300))  # binary, invalid UTF-8 and all
    if kind < 0.9:
        return "".join(_char(rng) for _ in range(rng.randint(1, 50)))
    return json.dumps({"type": "ping"})


def _char(rng: random.Random) -> str:
    """Any character a text frame can carry (UTF-8 has no lone surrogates)."""
    code = rng.randint(1, 0x10FFFF - 0x800)
    return chr(code + 0x800 if code >= 0xD800 else code)


MAKERS = {"/ws/viewer": viewer_message, "/ws/console": console_message}
MAKERS["/ws/booth-audio"] = audio_message


async def fuzzer(
    session: aiohttp.ClientSession,
    base: str,
    path: str,
    seed: int,
    budget: list[int],
    tally: dict[str, Counter[Any]],
    token: str | None,
) -> None:
    """Send random messages at ``path`` until the shared budget is spent."""
    rng = random.Random(seed)
    make = MAKERS[path]
    while budget[0] > 0:
        try:
            async with session.ws_connect(base + path, max_msg_size=0) as ws:
                tally["opened"][path] += 1
                if token is not None and rng.random() < 0.5:
                    await ws.send_json({"type": "login", "token": token})
                reader = asyncio.create_task(_read(ws, path, tally))
                try:
                    while budget[0] > 0 and not ws.closed:
                        budget[0] -= 1
                        message = make(rng)
                        tally["sent"][path] += 1
                        if isinstance(message, bytes):
                            await ws.send_bytes(message)
                        else:
                            await ws.send_str(message)
                        if tally["sent"][path] % 64 == 0:
                            await asyncio.sleep(0)  # let the reader keep up
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                tally["closed"][(path, ws.close_code)] += 1
        except (aiohttp.ClientError, ConnectionError) as exc:
            tally["client_errors"][(path, type(exc).__name__)] += 1
            await asyncio.sleep(0.01)


async def _read(ws: aiohttp.ClientWebSocketResponse, path: str, tally: dict[str, Any]) -> None:
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            try:
                data = json.loads(msg.data)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "error":
                tally["errors"][(path, data.get("code"))] += 1


async def bystander(
    session: aiohttp.ClientSession, base: str, stop: asyncio.Event, seen: list[int]
) -> int | None:
    """A plain viewer of ``en``: the seqs it got; its close code if it was closed."""
    async with session.ws_connect(base + "/ws/viewer") as ws:
        await ws.send_json({"type": "hello", "v": 1, "channel": "en"})
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue
            if msg.type is not WSMsgType.TEXT:
                return ws.close_code
            data = json.loads(msg.data)
            if data.get("type") == "caption":
                seen.append(int(data["seq"]))
            elif data.get("type") == "ping":
                await ws.send_json({"type": "pong"})
        return None


async def _healthz(session: aiohttp.ClientSession, base: str) -> float:
    started = time.perf_counter()
    async with session.get(base + "/healthz") as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
    return round((time.perf_counter() - started) * 1000, 2)


async def _run(
    server: Server, messages: int, seed: int, bystanders: int, tokens: Tokens
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{server.port}"
    tally: dict[str, Counter[Any]] = {
        k: Counter() for k in ("sent", "opened", "closed", "errors", "client_errors")
    }
    budget = [messages]
    stop = asyncio.Event()
    seen: list[list[int]] = [[] for _ in range(bystanders)]
    published = 0
    token_of = {"/ws/console": tokens.interpreters["kim"]}
    token_of["/ws/booth-audio"] = tokens.interpreters["lee"]
    async with aiohttp.ClientSession() as session:
        health_before = await _healthz(session, base)
        watchers = [
            asyncio.create_task(bystander(session, base, stop, seen[i])) for i in range(bystanders)
        ]
        await asyncio.sleep(0.3)
        fuzzers = [
            asyncio.create_task(
                fuzzer(
                    session, base, path, seed * 100 + i * 10 + k, budget, tally, token_of.get(path)
                )
            )
            for i, path in enumerate(SOCKETS)
            for k in range(FUZZERS_PER_SOCKET)
        ]
        started = time.perf_counter()
        while not all(f.done() for f in fuzzers):
            published += 1
            text = f"caption {published}"
            event = CaptionEvent("en", 0, True, text, "en", 0.0, 0.0, 0.0, published)
            asyncio.run_coroutine_threadsafe(server.bus.publish(event), server.loop).result(10)
            await asyncio.sleep(PUBLISH_EVERY)
        elapsed = time.perf_counter() - started
        await asyncio.gather(*fuzzers)
        await asyncio.sleep(1.0)  # the last captions reach the bystanders
        health_after = await _healthz(session, base)
        stop.set()
        closes = await asyncio.gather(*watchers)
    in_order = [s == list(range(1, published + 1)) for s in seen]
    return {
        "messages_sent": sum(tally["sent"].values()),
        "seconds": round(elapsed, 1),
        "messages_per_second": round(sum(tally["sent"].values()) / max(elapsed, 1e-3)),
        "sent_per_socket": dict(tally["sent"]),
        "sockets_opened": dict(tally["opened"]),
        "server_closes": {f"{p} {c}": n for (p, c), n in sorted(tally["closed"].items(), key=str)},
        "server_error_codes": {
            f"{p} {c}": n for (p, c), n in sorted(tally["errors"].items(), key=str)
        },
        "client_errors": {f"{p} {e}": n for (p, e), n in tally["client_errors"].items()},
        "captions_published": published,
        "bystanders": bystanders,
        "bystanders_with_every_caption_in_order": sum(in_order),
        "bystanders_closed": sum(c is not None for c in closes),
        "healthz_ms_before": health_before,
        "healthz_ms_after": health_after,
    }


def run_fuzz(messages: int = 100_000, seed: int = 1, bystanders: int = 3) -> dict[str, Any]:
    """Run the fuzz and return its report (see the module docstring)."""
    tokens = Tokens(
        organizer=secrets.token_urlsafe(16),
        interpreters={p: secrets.token_urlsafe(16) for p in ("kim", "lee", "park", "choi")},
    )
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    server = Server(tokens)
    server.start()
    try:
        report = asyncio.run(_run(server, messages, seed, bystanders, tokens))
    finally:
        server.stop()
        root.removeHandler(errors)
    report["server_errors_logged"] = len(errors.records)
    report["server_errors_first"] = errors.records[:5]
    return report
