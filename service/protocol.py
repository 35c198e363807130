"""The viewer websocket protocol, without I/O: parse what a viewer sends, encode what it gets.

Every message is one JSON object in one text frame, with a ``"type"``. Viewers send
``hello`` (pick a channel, maybe resume), ``subscribe`` (switch channel on the same
socket) and ``ping``; the server sends ``welcome``, ``subscribed``, ``caption``,
``gap``, ``state``, ``error`` and ``pong``. ``docs/protocol.md`` shows each with an
example, and a test keeps it in step with ``CLIENT_TYPES`` and ``SERVER_TYPES``.

Errors::

    ProtocolError(code, message)   a viewer's message cannot be accepted; ``code`` is
                                   one of ``ERROR_CODES`` and ``message`` is safe to
                                   show the viewer (it never holds server internals);
                                   defined in ``companion.errors``, a ``RequestError``

``FloodGuard`` is a token bucket that takes ``now`` as an argument, so it is tested
without a clock. Nothing here imports asyncio or aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from companion.captions import CaptionEvent
from companion.errors import PROTOCOL_ERROR_CODES, ProtocolError  # importable from here as before

PROTOCOL_VERSION = 1

CLIENT_TYPES: tuple[str, ...] = ("hello", "subscribe", "ping")
SERVER_TYPES: tuple[str, ...] = (
    "welcome",
    "subscribed",
    "caption",
    "gap",
    "state",
    "error",
    "pong",
)

ERROR_CODES: tuple[str, ...] = PROTOCOL_ERROR_CODES  # a ProtocolError's codes

# Websocket close codes the server uses (RFC 6455 §7.4 and one private code).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server shuts down: reconnect later and resume
CLOSE_POLICY = 1008  # too many bad messages, or an origin that is not allowed
CLOSE_TOO_BIG = 1009  # a frame larger than the limit
CLOSE_INTERNAL_ERROR = 1011  # a bug on the server: reconnect and resume
CLOSE_TRY_AGAIN = 1013  # the bus cannot answer now (Redis down): reconnect and resume
CLOSE_SLOW = 4000  # the viewer fell behind and was dropped: reconnect and resume

CLOSE_CODES: dict[int, str] = {
    CLOSE_NORMAL: "normal",
    CLOSE_GOING_AWAY: "going away",
    CLOSE_TRY_AGAIN: "try again later",
    CLOSE_POLICY: "policy",
    CLOSE_TOO_BIG: "too big",
    CLOSE_INTERNAL_ERROR: "internal error",
    CLOSE_SLOW: "slow: reconnect and resume",
}

MAX_CHANNEL_CHARS = 64


@dataclass(frozen=True, slots=True)
class Hello:
    """The first message: the channel to watch and, after a reconnect, the last seq seen."""

    channel: str
    resume: int | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Switch to another channel on the same socket (``resume`` as in ``Hello``)."""

    channel: str
    resume: int | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Ask for a ``pong``; lets a page check the connection."""


ClientMessage = Hello | Subscribe | Ping


def parse_client(text: str, max_bytes: int) -> ClientMessage:
    """One viewer message; raises ``ProtocolError`` (and nothing else) if it is not valid."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("too_large", f"a message may hold at most {max_bytes} bytes")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers too long to convert.
        raise ProtocolError("bad_json", "the message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", 'a message needs a string "type"')
    version = data.get("v", PROTOCOL_VERSION)
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(
            "bad_message", f"this server speaks protocol version {PROTOCOL_VERSION}"
        )
    if kind == "ping":
        return Ping()
    if kind in ("hello", "subscribe"):
        channel = _channel(data)
        resume = _resume(data)
        return Hello(channel, resume) if kind == "hello" else Subscribe(channel, resume)
    shown = kind[:40]
    raise ProtocolError("unknown_type", f"unknown message type {shown!r}")


def _channel(data: dict[str, Any]) -> str:
    channel = data.get("channel")
    if not isinstance(channel, str) or not 0 < len(channel) <= MAX_CHANNEL_CHARS:
        raise ProtocolError("bad_message", '"channel" must be a channel id (a short string)')
    return channel


def _resume(data: dict[str, Any]) -> int | None:
    resume = data.get("resume")
    if resume is None:
        return None
    if type(resume) is not int or resume < 0:
        raise ProtocolError("bad_message", '"resume" must be a sequence number (0 or more)')
    return resume


def _encode(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def caption_message(event: CaptionEvent) -> str:
    """A partial or final caption, with every field of ``CaptionEvent``."""
    return _encode({"type": "caption", **event.to_dict()})


def state_message(key: str, value: dict[str, Any]) -> str:
    """One event-state document that changed (or is current, right after ``welcome``)."""
    return _encode({"type": "state", "key": key, "value": value})


def error_message(code: str, message: str) -> str:
    """Why a viewer's message was refused; the socket stays open until the limit."""
    return _encode({"type": "error", "code": code, "message": message})


def welcome_message(channels: Iterable[str], version: int = PROTOCOL_VERSION) -> str:
    """The answer to ``hello``: the protocol version and the channels there are."""
    return _encode({"type": "welcome", "v": version, "channels": list(channels)})


def subscribed_message(channel: str, resume: int | None) -> str:
    """Sent before a channel's backlog: captions of ``channel`` follow."""
    return _encode({"type": "subscribed", "channel": channel, "resume": resume})


def gap_message(channel: str, first: int, last: int) -> str:
    """Captions ``first`` to ``last`` of ``channel`` are gone from the bus: a resume skips them."""
    return _encode({"type": "gap", "channel": channel, "from": first, "to": last})


def pong_message() -> str:
    """The answer to ``ping``."""
    return _encode({"type": "pong"})


class FloodGuard:
    """A token bucket: ``rate`` messages a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token for a message arriving at ``now``; False if there is none."""
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, uncompressed websocket text frame (RFC 6455, 5.2).

    The fan-out encodes a caption once into this frame and writes the same bytes to
    every idle viewer's transport, as ``websockets.broadcast`` does.
    """
    payload = text.encode("utf-8")
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload
