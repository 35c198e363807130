"""The console microphone: ``GET /ws/booth-audio`` feeds a booth's captioner from the browser.

For booths with ``source = "console"`` (no other audio path to the server): the live
interpreter's console captures the microphone and sends it here; the service feeds
it into the booth's ``PushSource`` (``companion/push.py``), which the booth's
captioner in this process reads. With ``--no-workers`` the captioners run elsewhere
and nothing reads it.

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
interpreter feeds the booth: one microphone at a time, until it has sent nothing for
a second), ``bad_frame`` (not whole 16-bit samples), ``too_large`` (over 64 KiB),
``bad_message`` (text other than a ping), ``too_fast`` (audio beyond real time plus a
2-second burst is dropped, before any work is spent on it). After ``MAX_BAD_FRAMES``
bad frames the socket is closed with 1008 (``TooManyBadFrames``), and after
``MAX_TOO_FAST`` dropped frames too (``MicrophoneFloodError``); aiohttp itself closes one that sends
a message over ``MAX_MESSAGE_BYTES`` with 1009. The refusals that close the socket are
``RequestError``s, and ``close_for`` (``service/errors.py``) gives their close code.

While the live interpreter is muted or coughing, silence of the same length is fed
in place of the audio: the booth's captioner hears what a booth console would send.

``Microphone`` (one socket) and ``Owners`` (which socket feeds a booth) hold the
logic, without I/O and with ``now`` passed in; ``booth_audio_socket`` is the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from companion.booths import Booth
from companion.config import CONSOLE_SOURCE, EventConfig
from companion.errors import (  # TooManyBadFrames importable from here as before
    BadRequestError,
    MicrophoneFloodError,
    RequestError,
    TooManyBadFrames,
)
from companion.push import BYTES_PER_SAMPLE, SAMPLE_RATE, PushSources
from service.auth import Tokens, socket_login
from service.errors import close_for, error_code
from service.keys import BOOTH_AUDIO, DESK, SETTINGS, SOCKETS
from service.protocol import CLOSE_GOING_AWAY

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024  # 2 s of audio; a console sends 100 ms frames
MAX_MESSAGE_BYTES = 4 * MAX_FRAME_BYTES  # above this aiohttp closes the socket (1009)
MAX_BAD_FRAMES = 20
BYTES_PER_SECOND = SAMPLE_RATE * BYTES_PER_SAMPLE  # real time
PACE_BURST_SECONDS = 2.0  # audio a console may send ahead of real time (after a stall)
MAX_TOO_FAST = 20  # frames over the pace before the socket is closed
LEVEL_SECONDS = 1.0
OWNER_SECONDS = 1.0  # a booth's feeding socket keeps it while it sent audio this recently
FULL_SCALE = 32768.0


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


class Owners:
    """Which socket feeds each booth: one microphone at a time (pure, ``now`` passed in).

    Only the live interpreter claims a booth, so an owner who is another interpreter
    has handed over and gives way at once; two sockets of the same interpreter (two
    tabs) do not interleave: the second waits until the first has been quiet ``hold``
    seconds or closes.
    """

    def __init__(self, hold: float = OWNER_SECONDS) -> None:
        self.hold = hold
        self._owners: dict[str, tuple[object, str, float]] = {}  # booth -> (mic, who, last fed)

    def claim(self, booth: str, microphone: object, interpreter: str, now: float) -> bool:
        """``microphone`` of the live ``interpreter`` may feed ``booth`` now."""
        owner = self._owners.get(booth)
        if (
            owner is None
            or owner[0] is microphone
            or owner[1] != interpreter
            or now - owner[2] > self.hold
        ):
            self._owners[booth] = (microphone, interpreter, now)
            return True
        return False

    def release(self, booth: str, microphone: object) -> None:
        """``microphone`` stops feeding ``booth`` (its socket closed)."""
        owner = self._owners.get(booth)
        if owner is not None and owner[0] is microphone:
            del self._owners[booth]


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

    def frame(self, data: bytes, booth: Booth, owners: Owners, now: float) -> Fed:
        """Check one binary frame against the booth's state; raises ``TooManyBadFrames``."""
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
        elif not owners.claim(self.booth, self, self.interpreter, now):
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
    """The app's console microphones: tokens, the booths' push sources, who feeds each."""

    tokens: Tokens
    pushes: PushSources
    owners: Owners = field(default_factory=Owners)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


def install(app: web.Application, tokens: Tokens, config: EventConfig) -> None:
    """Add ``/ws/booth-audio`` and a push source per ``console`` booth (with booths)."""
    if not config.booths:
        return
    consoles = [b.id for b in config.booths if b.source == CONSOLE_SOURCE]
    audio = BoothAudio(tokens, PushSources(consoles))
    app[BOOTH_AUDIO] = audio

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        audio.pushes.close_all()  # the captioners' threads stop reading

    async def close_sockets(app: web.Application) -> None:
        for ws in list(audio.sockets):
            await ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")

    app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/ws/booth-audio", booth_audio_socket)


async def booth_audio_socket(request: web.Request) -> web.WebSocketResponse:
    """A console's microphone, admitted by the socket caps (``SocketGate``)."""
    with request.app[SOCKETS].admit_from(
        request.remote, request.headers.getall("X-Forwarded-For", ())
    ):
        return await _booth_audio_socket(request)


async def _booth_audio_socket(request: web.Request) -> web.WebSocketResponse:
    """Log in (within ``login_timeout``), then feed the booth's captioner with the live
    interpreter's microphone."""
    audio = request.app[BOOTH_AUDIO]
    desk = request.app[DESK]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    interpreter = await socket_login(ws, audio.tokens, request.app[SETTINGS].login_timeout)
    if interpreter is None:
        return ws
    booth_id = desk.booth_of[interpreter]
    push = audio.pushes.get(booth_id)
    if push is None:
        await _refuse(
            ws, BadRequestError("no_console_source", f"{booth_id} does not take console audio")
        )
        return ws
    clock = asyncio.get_running_loop().time
    mic = Microphone(interpreter, booth_id, clock())
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
                fed = mic.frame(msg.data, desk.booths[booth_id], audio.owners, clock())
                if fed.audio:
                    push.feed(fed.audio)
                for reply in fed.replies:
                    await _send(ws, reply)
            elif msg.type is WSMsgType.TEXT:
                await _send(ws, _text_reply(msg.data))
    except (TooManyBadFrames, MicrophoneFloodError) as exc:
        log.info("booth audio of %s closed: %s", interpreter, exc)
        await _refuse(ws, exc)
    finally:
        audio.sockets.discard(ws)
        audio.owners.release(booth_id, mic)
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
