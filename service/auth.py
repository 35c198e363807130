"""Who may do what: organizer and interpreter tokens, checked on every request.

Viewers are anonymous. Organizers and interpreters are not: each holds a token given
to the service through the environment (never through a file of the repository):

    COMPANION_ORGANIZER_TOKEN          the organizers' token (admin API, dashboard,
                                       transcript corrections)
    COMPANION_TOKEN_<INTERPRETER>      one interpreter's token; <INTERPRETER> is the
                                       interpreter id upper-cased, "-" as "_"

A request carries its token as ``Authorization: Bearer <token>``; a page that cannot
set headers (a download link) may use ``?token=``. Tokens are compared in constant
time. A missing token is 401, a wrong one 403, each with a JSON body that says which
(``TokenRequiredError`` and ``TokenRefusedError``, answered by ``service/errors.py``).
``require_organizer`` and ``require_interpreter`` raise that answer themselves, an
aiohttp ``HTTPException``, so they work in any handler; a socket that refuses a login
closes as ``close_for`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from companion.errors import TokenRefusedError, TokenRequiredError
from service.errors import close_for, http_error

ORGANIZER_ENV = "COMPANION_ORGANIZER_TOKEN"
MIN_TOKEN_CHARS = 16


def interpreter_env(interpreter: str) -> str:
    """The environment variable that holds ``interpreter``'s token."""
    return "COMPANION_TOKEN_" + interpreter.upper().replace("-", "_")


@dataclass(frozen=True)
class Tokens:
    """The tokens this service accepts; empty means that role cannot sign in."""

    organizer: str = ""
    interpreters: Mapping[str, str] = field(default_factory=dict)  # id -> token

    def __repr__(self) -> str:  # never print a secret
        return f"Tokens(organizer={'set' if self.organizer else 'unset'}, interpreters=…)"

    def is_organizer(self, token: str | None) -> bool:
        return bool(self.organizer and token) and _same(token or "", self.organizer)

    def interpreter_for(self, token: str | None) -> str | None:
        """The interpreter id whose token ``token`` is, or ``None``."""
        if not token:
            return None
        found = None
        for interpreter, expected in self.interpreters.items():
            if expected and _same(token, expected):
                found = interpreter  # no early return: the time does not tell which
        return found


def _same(given: str, expected: str) -> bool:
    # surrogatepass: a token with a lone surrogate (from a query string) is compared,
    # and refused, like any other wrong token, instead of failing to encode
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def tokens_from_env(env: Mapping[str, str], interpreters: Iterable[str] = ()) -> Tokens:
    """The organizer's and each interpreter's token, from ``env``.

    Raises ``ValueError`` naming the variable when a token is set but too short to be
    a secret (under 16 characters).
    """
    organizer = env.get(ORGANIZER_ENV, "")
    _check(ORGANIZER_ENV, organizer)
    found: dict[str, str] = {}
    for interpreter in interpreters:
        name = interpreter_env(interpreter)
        token = env.get(name, "")
        _check(name, token)
        if token:
            found[interpreter] = token
    return Tokens(organizer, found)


def _check(name: str, token: str) -> None:
    if token and len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{name} is too short: use at least {MIN_TOKEN_CHARS} random characters")


def request_token(request: web.Request) -> str | None:
    """The bearer token of ``request`` (header first, then ``?token=``)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip() or None
    return request.query.get("token") or None


def require_organizer(request: web.Request, tokens: Tokens) -> None:
    """Raise 401 without a token, 403 with a wrong one; return for an organizer."""
    token = request_token(request)
    if token is None:
        raise http_error(TokenRequiredError("an organizer token is required"))
    if not tokens.is_organizer(token):
        raise http_error(TokenRefusedError("this token is not an organizer's"))


def require_interpreter(request: web.Request, tokens: Tokens) -> str:
    """The interpreter whose token ``request`` carries; 401 without one, 403 if wrong."""
    token = request_token(request)
    interpreter = tokens.interpreter_for(token)
    if interpreter is None:
        if token is None:
            raise http_error(TokenRequiredError("an interpreter token is required"))
        raise http_error(TokenRefusedError("this token is not an interpreter's"))
    return interpreter


async def socket_login(
    ws: web.WebSocketResponse, tokens: Tokens, timeout: float = 5.0
) -> str | None:
    """The interpreter whose token the socket's first message carries.

    That message is ``{"type": "login", "token": ...}``; anything else, a wrong token or
    ``timeout`` seconds of silence gets ``{"type": "error", "code": "token_refused" |
    "login_required"}`` and a close with 1008, and ``None``.
    """
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        data = json.loads(msg.data) if msg.type is WSMsgType.TEXT else {}
    except (TimeoutError, ValueError, RecursionError):  # RecursionError: nested too deep
        data = {}
    token = data.get("token") if isinstance(data, dict) and data.get("type") == "login" else None
    interpreter = tokens.interpreter_for(token if isinstance(token, str) else None)
    if interpreter is None:
        code = "token_refused" if token else "login_required"
        close, reason = close_for(
            TokenRefusedError("a wrong token") if token else TokenRequiredError("no token")
        )
        with contextlib.suppress(ConnectionError):
            await ws.send_json({"type": "error", "code": code, "message": reason})
        await ws.close(code=close, message=reason.encode())
    return interpreter
