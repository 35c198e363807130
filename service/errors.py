"""How the service answers an error: one table, from the exception to the HTTP answer
and to the websocket close.

``ANSWERS`` holds one row per exception class of ``companion.errors``' tree that the
service answers in its own way, most specific first; the first row that matches an
error answers it, so every ``CompanionError`` has an answer, at least its root's::

    error                     HTTP  "error"              close  reason
    ProtocolError too_large   413   (its code)           1009   message too big
    ProtocolError             400   (its code)           1008   too many bad messages
    TooManyBadFrames          400   bad_frame            1008   too many frames that are not …
    MicrophoneFloodError      400   too_fast             1008   audio faster than real time
    BadRequestError           400   (its code)           1008   (its message)
    TooLargeError             413   too_large            1009   message too big
    TokenRequiredError        401   token_required       1008   sign in with your token
    TokenRefusedError         403   token_refused        1008   sign in with your token
    Refused                   409   refused              1008   (its reason)
    ProgrammeError            409   programme            1008   (its message)
    TranscriptError           404   not_found            1008   (its message)
    TooManySocketsError       503   too_many_sockets     1013   the service is full: try …
    CaptionTrialError no_poster 503 no_poster          1013   (its message)
    CaptionTrialError         409   (its code)           1008   (its message)
    RequestError              400   bad_request          1008   (its message)
    BusUnavailableError       503   bus_unavailable      1013   captions are unavailable …
    ArchiveUnavailableError   503   archive_unavailable  1013   the archive is unavailable …
    CompanionError            500   internal_error       1011   internal error: reconnect …

An HTTP answer is a JSON body ``{"error": code, "message": message}``: the message is
the error's own for a ``RequestError`` (it is written to be shown), else the row's
fixed one, which never holds server internals. ``error_middleware`` (installed by
``create_app``) answers every mapped ``CompanionError`` a route raises; an error that
only the root row matches is passed on, so aiohttp logs its traceback and answers its
own 500, as for any other bug. ``close_for`` gives a socket's close code and reason
(anything that is not a ``CompanionError`` closes with 1011).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from companion.errors import (
    ArchiveUnavailableError,
    BadRequestError,
    BusUnavailableError,
    CaptionTrialError,
    CompanionError,
    MicrophoneFloodError,
    ProgrammeError,
    ProtocolError,
    Refused,
    RequestError,
    TokenRefusedError,
    TokenRequiredError,
    TooLargeError,
    TooManyBadFrames,
    TooManySocketsError,
    TranscriptError,
)
from service.protocol import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
)

SIGN_IN = "sign in with your token"


@dataclass(frozen=True)
class Answer:
    """How the service answers one kind of error, over HTTP and on a websocket."""

    error: type[CompanionError]
    status: type[web.HTTPException]
    code: str | None  # the JSON "error"; None: the exception's own ``code``
    close: int  # the websocket close code
    reason: str | None  # the close reason; None: the exception's own message
    message: str | None = None  # the JSON "message"; None: the exception's own message
    when_code: str | None = None  # the row answers only an error with this ``code``

    def matches(self, error: BaseException) -> bool:
        if not isinstance(error, self.error):
            return False
        return self.when_code is None or getattr(error, "code", None) == self.when_code


ANSWERS: tuple[Answer, ...] = (
    Answer(
        ProtocolError,
        web.HTTPRequestEntityTooLarge,
        None,
        CLOSE_TOO_BIG,
        "message too big",
        when_code="too_large",
    ),
    Answer(ProtocolError, web.HTTPBadRequest, None, CLOSE_POLICY, "too many bad messages"),
    Answer(
        TooManyBadFrames,
        web.HTTPBadRequest,
        "bad_frame",
        CLOSE_POLICY,
        "too many frames that are not 16-bit PCM",
    ),
    Answer(
        MicrophoneFloodError,
        web.HTTPBadRequest,
        "too_fast",
        CLOSE_POLICY,
        "audio faster than real time",
    ),
    Answer(BadRequestError, web.HTTPBadRequest, None, CLOSE_POLICY, None),
    Answer(
        TooLargeError, web.HTTPRequestEntityTooLarge, "too_large", CLOSE_TOO_BIG, "message too big"
    ),
    Answer(TokenRequiredError, web.HTTPUnauthorized, "token_required", CLOSE_POLICY, SIGN_IN),
    Answer(TokenRefusedError, web.HTTPForbidden, "token_refused", CLOSE_POLICY, SIGN_IN),
    Answer(Refused, web.HTTPConflict, "refused", CLOSE_POLICY, None),
    Answer(ProgrammeError, web.HTTPConflict, "programme", CLOSE_POLICY, None),
    Answer(TranscriptError, web.HTTPNotFound, "not_found", CLOSE_POLICY, None),
    Answer(
        TooManySocketsError,
        web.HTTPServiceUnavailable,
        "too_many_sockets",
        CLOSE_TRY_AGAIN,
        "the service is full: try again later",
    ),
    Answer(
        CaptionTrialError,
        web.HTTPServiceUnavailable,
        "no_poster",
        CLOSE_TRY_AGAIN,
        None,
        when_code="no_poster",
    ),
    Answer(CaptionTrialError, web.HTTPConflict, None, CLOSE_POLICY, None),
    Answer(RequestError, web.HTTPBadRequest, "bad_request", CLOSE_POLICY, None),
    Answer(
        BusUnavailableError,
        web.HTTPServiceUnavailable,
        "bus_unavailable",
        CLOSE_TRY_AGAIN,
        "captions are unavailable for a moment: reconnect and resume",
        message="the event state is unavailable",
    ),
    Answer(
        ArchiveUnavailableError,
        web.HTTPServiceUnavailable,
        "archive_unavailable",
        CLOSE_TRY_AGAIN,
        "the archive is unavailable: try again later",
        message="the archive is unavailable",
    ),
    Answer(
        CompanionError,
        web.HTTPInternalServerError,
        "internal_error",
        CLOSE_INTERNAL_ERROR,
        "internal error: reconnect and resume",
        message="internal error",
    ),
)
ROOT = ANSWERS[-1]


def answer_for(error: BaseException) -> Answer:
    """The first row of ``ANSWERS`` that matches ``error`` (the root's for any other)."""
    return next((answer for answer in ANSWERS if answer.matches(error)), ROOT)


def _own_message(error: BaseException) -> str:
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else str(error)


def error_code(error: BaseException) -> str:
    """The JSON ``"error"`` code for ``error``."""
    answer = answer_for(error)
    if answer.code is not None:
        return answer.code
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else "bad_request"


def safe_message(error: BaseException) -> str:
    """The JSON ``"message"`` for ``error``: its own for a ``RequestError``, else the row's."""
    answer = answer_for(error)
    return answer.message if answer.message is not None else _own_message(error)


def json_error(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    """An HTTP error with a JSON body ``{"error": code, "message": message}``."""
    body = json.dumps({"error": code, "message": message})
    if issubclass(status, web.HTTPRequestEntityTooLarge):  # it wants the sizes, for its text
        return status(max_size=0, actual_size=0, text=body, content_type="application/json")
    return status(text=body, content_type="application/json")


def http_error(error: BaseException) -> web.HTTPException:
    """The HTTP answer to ``error``, by ``ANSWERS``, ready to raise."""
    return json_error(answer_for(error).status, error_code(error), safe_message(error))


def close_for(error: BaseException) -> tuple[int, str]:
    """The close code and a reason safe to show, for an error that ends a socket."""
    answer = answer_for(error)
    return answer.close, answer.reason if answer.reason is not None else _own_message(error)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a ``CompanionError`` that a route raises by ``ANSWERS``.

    One only the root row matches is not one the service expects: it goes on to
    aiohttp, which logs it with its traceback and answers 500.
    """
    try:
        return await handler(request)
    except CompanionError as error:
        if answer_for(error) is ROOT:
            raise
        raise http_error(error) from None
