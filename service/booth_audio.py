"""The console microphone: ``GET /ws/booth-audio`` feeds a booth's captioner from the browser.

For booths with ``source = "console"`` (no other audio path to the server): the live
interpreter's console captures the microphone and sends it here; the service
publishes each frame on the bus (``Bus.publish_audio``), and the booth's captioner,
in this process or in ``companion worker caption --booth`` elsewhere, relays it into
a ``PushSource`` of its own (``companion/push.py``). Every replica does the same, so
the interpreter may be connected to any of them, and none needs to know where the
captioner runs.

Protocol (``docs/interpretation.md``)::

    client  {"type": "login", "token": ...}            first, within login_timeout (5 s)
    server  {"type": "ready", "interpreter", "booth", "sample_rate": 16000,
             "format": "s16le", "max_frame_bytes": 65536}
    client  binary frames: little-endian signed 16-bit mono PCM at 16 kHz, a whole
            number of samples, at most 64 KiB (100 ms = 3,200 bytes is right)
    server  {"type": "level", "rms": 0..1, "live": bool}   about every second
    server  {"type": "error", "code", "message"}
    client  {"type": "ping"}  ->  {"type": "pong"}

Error codes: ``login_required`` / ``token_refused`` (then a close with 1008),
``no_console_source`` (the booth's source is not ``console``; close 1008),
``not_live`` (the interpreter is not the booth's live one: the audio is ignored, said
again each time they stop being live), ``busy`` (another socket of the same
interpreter, on any replica, feeds the booth: one microphone at a time, until it has
sent nothing for about a second or closed), ``bad_frame`` (not whole 16-bit samples),
``too_large`` (over 64 KiB), ``bad_message`` (text other than a ping), ``too_fast``
(audio beyond real time plus a 2-second burst is dropped, before any work is spent on
it). After ``MAX_BAD_FRAMES`` bad frames the socket is closed with 1008
(``TooManyBadFrames``), and after ``MAX_TOO_FAST`` dropped frames too
(``MicrophoneFloodError``); aiohttp itself closes one that sends
a message over ``MAX_MESSAGE_BYTES`` with 1009. The refusals that close the socket are
``RequestError``s, and ``close_for`` (``service/errors.py``) gives their close code.

While the live interpreter is muted or coughing, silence of the same length is fed
in place of the audio: the booth's captioner hears what a booth console would send.

``Microphone`` (one socket) holds the logic, without I/O and with ``now`` passed in;
``MicrophoneLease`` keeps "one microphone at a time" across replicas with a bus lease
(``Bus.claim``); ``booth_audio_socket`` is the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from companion.booths import Booth
from companion.bus.base import Bus
from companion.config import CONSOLE_SOURCE, EventConfig
from companion.errors import (  # TooManyBadFrames importable from here as before
    BadRequestError,
    BusUnavailableError,
    MicrophoneFloodError,
    RequestError,
    TooManyBadFrames,
)
from companion.push import BYTES_PER_SAMPLE, SAMPLE_RATE
from service.auth import Tokens, socket_login
from service.errors import close_for, error_code
from service.keys import BOOTH_AUDIO, BUS, DESK, SETTINGS, SOCKETS
from service.protocol import CLOSE_GOING_AWAY

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024  # 2 s of audio; a console sends 100 ms frames
MAX_MESSAGE_BYTES = 4 * MAX_FRAME_BYTES  # above this aiohttp closes the socket (1009)
MAX_BAD_FRAMES = 20
BYTES_PER_SECOND = SAMPLE_RATE * BYTES_PER_SAMPLE  # real time
PACE_BURST_SECONDS = 2.0  # audio a console may send ahead of real time (after a stall)
MAX_TOO_FAST = 20  # frames over the pace before the socket is closed
LEVEL_SECONDS = 1.0
OWNER_SECONDS = 1.0  # a socket keeps its booth while it sent audio about this recently
LEASE_EVERY = 0.5  # a sending socket claims or renews its lease this often
LEASE_WAIT = 0.25  # the longest a frame waits for the bus's answer (then: fail open)
FULL_SCALE = 32768.0


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


@dataclass
class MicrophoneLease:
    """One microphone per interpreter and booth, across replicas: the bus lease
    ``microphone:<booth>:<interpreter>``, held by one socket.

    Claimed, or renewed, at most every ``LEASE_EVERY`` seconds while its socket sends
    frames, for ``OWNER_SECONDS + LEASE_EVERY``: the interpreter's second tab, on this
    replica or another, stays ``busy`` until the first has been quiet for a second or
    so, or has closed (``release``). Another interpreter has another key, so a handover
    is never held up (and only the live one is fed anyway). When the bus cannot answer
    (within ``LEASE_WAIT``) the socket goes on as if it held the lease: the audio cannot
    reach the captioner then anyway, and the live edge matters more.
    """

    key: str
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    held: bool = False
    _tried: float = -math.inf

    async def keep(self, bus: Bus, now: float) -> bool:
        """Whether this socket holds the lease, claimed again if it is time to."""
        if now - self._tried >= LEASE_EVERY:
            self._tried = now
            try:
                async with asyncio.timeout(LEASE_WAIT):
                    self.held = await bus.claim(self.key, self.holder, OWNER_SECONDS + LEASE_EVERY)
            except (BusUnavailableError, TimeoutError):
                self.held = True
        return self.held

    async def release(self, bus: Bus) -> None:
        """Let the lease lapse now: claimed again, if still ours, for a millisecond."""
        if not self.held:
            return
        with contextlib.suppress(BusUnavailableError, TimeoutError):
            async with asyncio.timeout(LEASE_WAIT):
                await bus.claim(self.key, self.holder, 0.001)


@dataclass
class Fed:
    """What one frame came to: the PCM to feed (``None``: nothing) and the replies."""

    audio: bytes | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Microphone:
    """One console microphone socket, without I/O: frames in, audio and replies out."""

    interpreter: str
    booth: str
    started: float
    bad_frames: int = 0
    too_fast: int = 0  # frames dropped for coming faster than real time
    told: str = ""  # the last refusal said ("not_live", "busy"), so it is said once
    _squares: float = 0.0
    _samples: int = 0
    _level_at: float = field(init=False)
    _budget: float = field(init=False)  # bytes it may send now (a token bucket)
    _paced_at: float = field(init=False)

    def __post_init__(self) -> None:
        self._level_at = self.started
        self._budget = PACE_BURST_SECONDS * BYTES_PER_SECOND
        self._paced_at = self.started

    def _paced(self, size: int, now: float) -> bool:
        """Whether a frame of ``size`` bytes keeps to real time (plus the burst)."""
        burst = PACE_BURST_SECONDS * BYTES_PER_SECOND
        self._budget = min(burst, self._budget + (now - self._paced_at) * BYTES_PER_SECOND)
        self._paced_at = now
        if size > self._budget:
            return False
        self._budget -= size
        return True

    def frame(self, data: bytes, booth: Booth, now: float, held: bool = True) -> Fed:
        """Check one binary frame against the booth's state and whether this socket
        holds the booth's microphone (``held``: ``MicrophoneLease``); raises
        ``TooManyBadFrames`` and ``MicrophoneFloodError``."""
        fed = Fed()
        problem = _frame_problem(data)
        if problem is not None:
            self.bad_frames += 1
            if self.bad_frames >= MAX_BAD_FRAMES:
                raise TooManyBadFrames(problem["message"])
            fed.replies.append(problem)
            return fed
        if not self._paced(len(data), now):  # dropped before any work is spent on it
            self.too_fast += 1
            if self.too_fast >= MAX_TOO_FAST:
                raise MicrophoneFloodError("audio sent faster than real time")
            self._tell(fed, error("too_fast", "audio faster than real time is dropped"))
            return fed
        self._measure(data)
        live = booth.live == self.interpreter
        if not live:
            self._tell(fed, error("not_live", "you are not live: your microphone is not sent on"))
        elif not held:
            self._tell(fed, error("busy", "another console is sending this booth's microphone"))
        else:
            self.told = ""
            silent = booth.muted or booth.coughing
            fed.audio = bytes(len(data)) if silent else data
        if now - self._level_at >= LEVEL_SECONDS:
            fed.replies.append({"type": "level", "rms": self._level(), "live": live})
            self._level_at = now
        return fed

    def _tell(self, fed: Fed, refusal: dict[str, Any]) -> None:
        if self.told != refusal["code"]:
            self.told = refusal["code"]
            fed.replies.append(refusal)

    def _measure(self, data: bytes) -> None:
        import numpy as np  # here, not at the top: the service starts without numpy

        samples = np.frombuffer(data, dtype="<i2").astype(np.float64)
        self._squares += float(np.dot(samples, samples))
        self._samples += len(samples)

    def _level(self) -> float:
        """The RMS of the audio since the last report, 0 to 1 of full scale."""
        rms = math.sqrt(self._squares / self._samples) / FULL_SCALE if self._samples else 0.0
        self._squares, self._samples = 0.0, 0
        return round(rms, 4)


def _frame_problem(data: bytes) -> dict[str, Any] | None:
    if len(data) > MAX_FRAME_BYTES:
        return error("too_large", f"a frame holds at most {MAX_FRAME_BYTES} bytes")
    if len(data) % BYTES_PER_SAMPLE:
        return error("bad_frame", "send whole 16-bit samples (an even number of bytes)")
    return None


# ------------------------------------------------------------------ the route
@dataclass
class BoothAudio:
    """The app's console microphones: tokens, the booths that take them, open sockets."""

    tokens: Tokens
    consoles: frozenset[str]  # the ids of the booths whose source is ``console``
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


def install(app: web.Application, tokens: Tokens, config: EventConfig) -> None:
    """Add ``/ws/booth-audio`` (with booths)."""
    if not config.booths:
        return
    consoles = frozenset(b.id for b in config.booths if b.source == CONSOLE_SOURCE)
    audio = BoothAudio(tokens, consoles)
    app[BOOTH_AUDIO] = audio

    async def close_sockets(app: web.Application) -> None:
        for ws in list(audio.sockets):
            await ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")

    app.on_shutdown.append(close_sockets)
    app.router.add_get("/ws/booth-audio", booth_audio_socket)


async def booth_audio_socket(request: web.Request) -> web.WebSocketResponse:
    """A console's microphone, admitted by the socket caps (``SocketGate``)."""
    with request.app[SOCKETS].admit_from(
        request.remote, request.headers.getall("X-Forwarded-For", ())
    ):
        return await _booth_audio_socket(request)


async def _booth_audio_socket(request: web.Request) -> web.WebSocketResponse:
    """Log in (within ``login_timeout``), then pass the live interpreter's microphone on
    to the booth's captioner, through the bus."""
    audio = request.app[BOOTH_AUDIO]
    desk = request.app[DESK]
    bus = request.app[BUS]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    interpreter = await socket_login(ws, audio.tokens, request.app[SETTINGS].login_timeout)
    if interpreter is None:
        return ws
    booth_id = desk.booth_of[interpreter]
    if booth_id not in audio.consoles:
        await _refuse(
            ws, BadRequestError("no_console_source", f"{booth_id} does not take console audio")
        )
        return ws
    clock = asyncio.get_running_loop().time
    mic = Microphone(interpreter, booth_id, clock())
    lease = MicrophoneLease(f"microphone:{booth_id}:{interpreter}")
    await _send(
        ws,
        {
            "type": "ready",
            "interpreter": interpreter,
            "booth": booth_id,
            "sample_rate": SAMPLE_RATE,
            "format": "s16le",
            "max_frame_bytes": MAX_FRAME_BYTES,
        },
    )
    audio.sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                held = await lease.keep(bus, clock())
                fed = mic.frame(msg.data, desk.booths[booth_id], clock(), held)
                if fed.audio:
                    bus.publish_audio(booth_id, fed.audio)
                for reply in fed.replies:
                    await _send(ws, reply)
            elif msg.type is WSMsgType.TEXT:
                await _send(ws, _text_reply(msg.data))
    except (TooManyBadFrames, MicrophoneFloodError) as exc:
        log.info("booth audio of %s closed: %s", interpreter, exc)
        await _refuse(ws, exc)
    finally:
        audio.sockets.discard(ws)
        await lease.release(bus)
    return ws


def _text_reply(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        data = None
    if isinstance(data, dict) and data.get("type") == "ping":
        return {"type": "pong"}
    return error("bad_message", "send audio as binary frames; text is for pings")


async def _refuse(ws: web.WebSocketResponse, refusal: RequestError) -> None:
    """Say why (``error``) and close, as ``close_for`` says (1008 and the reason)."""
    close, reason = close_for(refusal)
    await _send(ws, error(error_code(refusal), reason))
    await ws.close(code=close, message=reason.encode()[:120])


async def _send(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError):  # the console went away: the loop ends
        await ws.send_json(message)
