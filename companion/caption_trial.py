"""A test caption asked of a channel's live poster over the bus: its documents. Pure.

An organizer (the dashboard's button, through the service; or ``companion youtube
test-caption`` while a poster holds the channel) asks the channel's running poster to
send one test cue as its own next post, so that the channel's ``seq`` goes on in order:
no gap, no number used twice (``workers/poster/trial.py`` says why that matters to
YouTube). The two sides share only the bus:

    poster-trial:<channel>          the request: ``{"id", "channel", "text", "by", "at"}``
                                    (written by whoever asks)
    poster-trial-result:<channel>   the answer to the latest request the poster took:
                                    ``TrialResult`` (written by the poster)
    lease poster-trial:<channel>    held by the request's id while it is open, so a
                                    second request is refused (``Bus.claim``, atomic)

The poster reads the request every ``CHECK_EVERY`` seconds, posting or idle. One it
has answered (the result names its id) is left alone; one older than ``MAX_AGE`` is
answered ``expired`` and not sent; any other is sent as the poster's next post, after
the post in flight if there is one. The result is written first as ``sending`` (with
its ``seq``), then as YouTube's answer: ``accepted``, ``refused`` (YouTube's reason) or
``no_answer``. No document holds the ingestion URL. None is shown to viewers
(``service/captioners.py`` keeps ``poster-trial`` documents internal).

This module only builds and reads the documents, with ``now`` passed in.
``caption_trial_ask`` asks over the bus; ``workers/poster/trial_desk.py`` answers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

MAX_AGE = 60.0  # seconds: an older request is answered "expired", never sent
CHECK_EVERY = 1.0  # seconds between two looks of a poster at its channel's request
MAX_TEXT = 200  # characters of the test cue's own text
MAX_BY = 80  # characters of who asked
MAX_ID = 64
DEFAULT_TEXT = "Test caption from companion"
MARK = "[test caption]"

SENDING = "sending"
ACCEPTED = "accepted"
REFUSED = "refused"
NO_ANSWER = "no_answer"
EXPIRED = "expired"
OUTCOMES = (SENDING, ACCEPTED, REFUSED, NO_ANSWER, EXPIRED)


REQUEST_PREFIX = "poster-trial:"
RESULT_PREFIX = "poster-trial-result:"


def poster_key(channel: str) -> str:
    """The state key of a channel's poster report (``workers/poster``'s numbering)."""
    return f"poster:{channel}"


def request_key(channel: str) -> str:
    """The state key of a channel's test caption request (also its lease's key)."""
    return REQUEST_PREFIX + channel


def result_key(channel: str) -> str:
    """The state key of the answer to a channel's latest test caption request."""
    return RESULT_PREFIX + channel


def poster_running(report: dict[str, Any] | None) -> bool:
    """Whether a channel's poster report says a poster is running (it may have been
    killed since: only its answer tells for sure)."""
    return bool(report and report.get("active"))


def clean_text(text: str | None) -> str:
    """The test cue's own text: on one line, at most ``MAX_TEXT`` characters."""
    line = " ".join((text or "").split())[:MAX_TEXT]
    return line or DEFAULT_TEXT


@dataclass(frozen=True)
class TrialRequest:
    """One organizer's request for a test caption on ``channel``."""

    id: str
    channel: str
    text: str
    by: str
    at: float  # Unix seconds, when it was asked

    def as_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: object, channel: str) -> TrialRequest | None:
        """The request a document holds, or None when it is not one for ``channel``."""
        if not isinstance(doc, dict):
            return None
        rid, text, by, at = doc.get("id"), doc.get("text"), doc.get("by"), doc.get("at")
        if not (isinstance(rid, str) and 0 < len(rid) <= MAX_ID):
            return None
        if doc.get("channel") != channel or not isinstance(text, str) or not isinstance(by, str):
            return None
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            return None
        return cls(rid, channel, clean_text(text), by[:MAX_BY], float(at))


def new_request(channel: str, text: str | None, by: str, now: float, rid: str) -> TrialRequest:
    """A request asked ``now`` by ``by`` (its text cleaned, ``DEFAULT_TEXT`` if empty)."""
    return TrialRequest(rid, channel, clean_text(text), (by.strip() or "organizer")[:MAX_BY], now)


def expired(request: TrialRequest, now: float) -> bool:
    """Whether ``request`` is too old to send (or stamped far in the future)."""
    return not -MAX_AGE <= now - request.at <= MAX_AGE


@dataclass(frozen=True)
class TrialResult:
    """The answer to a test caption request, as the poster writes it.

    The fields after ``by`` are the report of ``companion youtube test-caption``
    (``seq``, ``accepted``, ``status``, ``message``, ``round_trip_ms``, ``clock_skew``,
    ``skew_warning``); ``seq`` is None for a request that was not sent.
    """

    request: str  # the request's id
    channel: str
    outcome: str  # one of OUTCOMES
    at: float  # when this was written
    asked_at: float
    by: str
    seq: int | None = None
    accepted: bool = False
    status: int | None = None  # YouTube's HTTP status; None: no answer (yet)
    message: str = ""
    round_trip_ms: float | None = None
    clock_skew: float | None = None  # YouTube's clock minus the poster's, s
    skew_warning: str = ""

    @property
    def final(self) -> bool:
        return self.outcome != SENDING

    def as_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: object) -> TrialResult | None:
        """The result a document holds, or None when it is not one."""
        if not isinstance(doc, dict) or doc.get("outcome") not in OUTCOMES:
            return None
        try:
            return cls(**{f.name: doc[f.name] for f in fields(cls) if f.name in doc})
        except TypeError:  # a field missing
            return None


def result_for(doc: object, request_id: str) -> TrialResult | None:
    """The result in ``doc`` if it answers request ``request_id``."""
    result = TrialResult.from_doc(doc)
    return result if result is not None and result.request == request_id else None


def open_request(request_doc: object, result_doc: object, channel: str) -> TrialRequest | None:
    """The channel's request a poster has yet to take: a valid one that the latest
    result does not answer already (sent, or found expired)."""
    request = TrialRequest.from_doc(request_doc, channel)
    if request is None or result_for(result_doc, request.id) is not None:
        return None
    return request


def expired_result(request: TrialRequest, now: float) -> TrialResult:
    """The answer to a request found too old: not sent."""
    return TrialResult(
        request.id,
        request.channel,
        EXPIRED,
        now,
        request.at,
        request.by,
        message=f"the request was {now - request.at:.0f} s old (more than {MAX_AGE:.0f} s): "
        "not sent",
    )


def sending_result(request: TrialRequest, seq: int, now: float) -> TrialResult:
    """What the poster writes once it has numbered the test post, before sending it."""
    return TrialResult(request.id, request.channel, SENDING, now, request.at, request.by, seq)


def pending_message(request_doc: object, channel: str, now: float) -> str:
    """Why a second request is refused while one is open, for the organizer."""
    request = TrialRequest.from_doc(request_doc, channel)
    asked = f" (asked by {request.by} {max(now - request.at, 0):.0f} s ago)" if request else ""
    return (
        f"a test caption of channel {channel} is already on its way{asked}: "
        "wait for its answer, then ask again"
    )
