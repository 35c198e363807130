"""Interpretation booths and what each channel carries: pure state, no I/O, no clock.

A booth (``booth-en``: interpretation into English) has interpreters who work in
turns; exactly one of them is *live* at a time, or none while the booth is off air.
``apply(booth, action, by, at, arg)`` is the whole state machine: it returns the new
booth and the event that records the change, or raises ``Refused`` with a reason a
person can read. Actions (``by`` is the interpreter acting):

    go_live            take the microphone of a booth nobody is live in
    request_handover   the live interpreter offers the microphone to ``arg`` (the
                       partner by default), or a partner asks the live one for it
    accept / decline   the other side of a pending request answers it
    cancel             the requester withdraws a pending request (``expire``
                       drops one nobody answered for ``REQUEST_SECONDS``)
    take_over          a partner takes the microphone without asking (forced)
    cough              ``arg`` "on"/"off": a momentary mute while the key is held
    mute               ``arg`` "on"/"off"
    listen             ``arg`` "floor" or another booth's id (relay)
    carry              ``arg`` "auto", "floor" or "booth": what the booth's channel
                       carries (auto follows the floor's language)
    sign_off           the live interpreter leaves; the booth is off air

``route`` decides, from the booths and the floor's language, what each channel
carries now: the floor (its captions come from the floor's audio) when the floor
speaks the channel's language, else the booth that feeds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from companion.errors import Refused  # importable from here as before

ACTIONS = (
    "go_live",
    "request_handover",
    "accept",
    "decline",
    "cancel",
    "take_over",
    "cough",
    "mute",
    "listen",
    "carry",
    "sign_off",
)
CARRY = ("auto", "floor", "booth")
REQUEST_SECONDS = 60.0  # a handover request nobody answers expires after this


@dataclass(frozen=True)
class HandoverRequest:
    """A pending handover: ``giver`` (live) to ``taker``, asked by ``asked_by``."""

    giver: str
    taker: str
    asked_by: str
    at: float


@dataclass(frozen=True)
class Booth:
    """One booth's state."""

    id: str
    channel: str
    interpreters: tuple[str, ...]
    relays: tuple[str, ...] = ()  # the other booths it may listen to
    live: str | None = None
    muted: bool = False
    coughing: bool = False
    listening: str = "floor"
    carry: str = "auto"
    request: HandoverRequest | None = None
    shift_started: float | None = None
    last_handover: float | None = None

    @property
    def on_air(self) -> bool:
        """Someone is live and their microphone is open."""
        return self.live is not None and not self.muted and not self.coughing

    def to_dict(self) -> dict[str, Any]:
        """The state document viewers and consoles get (``booth:<id>``)."""
        data = asdict(self)
        data["interpreters"] = list(self.interpreters)
        data["relays"] = list(self.relays)
        data["on_air"] = self.on_air
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Booth:
        """The booth of a ``booth:<id>`` document (its ``on_air`` and the bus's
        ``version`` are not state of their own)."""
        values = {k: v for k, v in data.items() if k not in ("on_air", "version")}
        values["interpreters"] = tuple(values.get("interpreters", ()))
        values["relays"] = tuple(values.get("relays", ()))
        if values.get("request"):
            values["request"] = HandoverRequest(**values["request"])
        return cls(**values)


@dataclass(frozen=True)
class BoothEvent:
    """One change of a booth, for the event log and the consoles."""

    at: float
    booth: str
    action: str
    by: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply(booth: Booth, action: str, by: str, at: float, arg: str = "") -> tuple[Booth, BoothEvent]:
    """The booth after ``by`` does ``action`` at time ``at``; raises ``Refused``."""
    if action not in ACTIONS:
        raise Refused(f"unknown action {action!r}")
    if by not in booth.interpreters:
        raise Refused(f"{by} is not an interpreter of {booth.id}")
    new, detail = _STEPS[action](booth, by, at, arg)
    return new, BoothEvent(at, booth.id, action, by, detail)


def expire(
    booth: Booth, at: float, after: float = REQUEST_SECONDS
) -> tuple[Booth, BoothEvent] | None:
    """The booth without its handover request if nobody answered it for ``after`` s."""
    request = booth.request
    if request is None or at - request.at < after:
        return None
    detail = f"{request.giver} -> {request.taker} not answered"
    return replace(booth, request=None), BoothEvent(
        at, booth.id, "expire", request.asked_by, detail
    )


Step = tuple[Booth, str]


def _require_live(booth: Booth, by: str, what: str) -> None:
    if booth.live is None:
        raise Refused(f"nobody is live in {booth.id}: go live first")
    if booth.live != by:
        raise Refused(f"only the live interpreter ({booth.live}) can {what}")


def _on(arg: str) -> bool:
    if arg not in ("on", "off"):
        raise Refused(f"say 'on' or 'off', not {arg!r}")
    return arg == "on"


def _go_live(booth: Booth, by: str, at: float, arg: str) -> Step:
    if booth.live is not None:
        who = "you are" if booth.live == by else f"{booth.live} is"
        raise Refused(f"{who} already live: ask for a handover or take over")
    return replace(booth, live=by, muted=False, coughing=False, shift_started=at), ""


def _request(booth: Booth, by: str, at: float, arg: str) -> Step:
    if booth.live is None:
        raise Refused(f"nobody is live in {booth.id}: go live instead")
    if booth.request is not None:
        raise Refused(f"a handover is already pending ({booth.request.asked_by} asked)")
    if by == booth.live:
        partners = [i for i in booth.interpreters if i != by]
        taker = arg or (partners[0] if len(partners) == 1 else "")
        if taker not in partners:
            raise Refused(
                "name the partner to hand over to" if not arg else f"{arg!r} is no partner"
            )
    else:
        taker = by
    request = HandoverRequest(giver=booth.live, taker=taker, asked_by=by, at=at)
    return replace(booth, request=request), f"{request.giver} -> {request.taker}"


def _answerer(booth: Booth, by: str) -> HandoverRequest:
    request = booth.request
    if request is None:
        raise Refused("no handover is pending")
    other = request.taker if request.asked_by == request.giver else request.giver
    if by != other:
        raise Refused(f"only {other} can answer this handover")
    return request


def _hand_to(booth: Booth, taker: str, at: float) -> Booth:
    """``taker`` has the microphone from ``at``: a new shift, open, nothing pending."""
    return replace(
        booth,
        live=taker,
        request=None,
        muted=False,
        coughing=False,
        shift_started=at,
        last_handover=at,
    )


def _accept(booth: Booth, by: str, at: float, arg: str) -> Step:
    request = _answerer(booth, by)
    return _hand_to(booth, request.taker, at), f"{request.giver} -> {request.taker}"


def _decline(booth: Booth, by: str, at: float, arg: str) -> Step:
    request = _answerer(booth, by)
    return replace(booth, request=None), f"{request.giver} -> {request.taker} declined"


def _cancel(booth: Booth, by: str, at: float, arg: str) -> Step:
    if booth.request is None or booth.request.asked_by != by:
        raise Refused("you have no pending handover request")
    return replace(booth, request=None), ""


def _take_over(booth: Booth, by: str, at: float, arg: str) -> Step:
    if booth.live is None:
        raise Refused(f"nobody is live in {booth.id}: go live instead")
    if booth.live == by:
        raise Refused("you are already live")
    return _hand_to(booth, by, at), f"from {booth.live}"


def _cough(booth: Booth, by: str, at: float, arg: str) -> Step:
    _require_live(booth, by, "cough")
    return replace(booth, coughing=_on(arg)), arg


def _mute(booth: Booth, by: str, at: float, arg: str) -> Step:
    _require_live(booth, by, "mute")
    return replace(booth, muted=_on(arg)), arg


def _listen(booth: Booth, by: str, at: float, arg: str) -> Step:
    if arg != "floor" and arg not in booth.relays:
        options = ", ".join(("floor", *booth.relays))
        raise Refused(f"{booth.id} can listen to {options}, not {arg!r}")
    return replace(booth, listening=arg), arg


def _carry(booth: Booth, by: str, at: float, arg: str) -> Step:
    _require_live(booth, by, "choose what the channel carries")
    if arg not in CARRY:
        raise Refused(f"carry is one of {', '.join(CARRY)}, not {arg!r}")
    return replace(booth, carry=arg), arg


def _sign_off(booth: Booth, by: str, at: float, arg: str) -> Step:
    _require_live(booth, by, "sign off")
    off = replace(booth, live=None, request=None, muted=False, coughing=False, shift_started=None)
    return off, ""


_STEPS = {
    "go_live": _go_live,
    "request_handover": _request,
    "accept": _accept,
    "decline": _decline,
    "cancel": _cancel,
    "take_over": _take_over,
    "cough": _cough,
    "mute": _mute,
    "listen": _listen,
    "carry": _carry,
    "sign_off": _sign_off,
}


# ------------------------------------------------------------------- routing
@dataclass(frozen=True)
class Carriage:
    """What one channel carries now (the ``channel:<id>`` state document)."""

    channel: str
    language: str
    carries: str  # "floor", a booth id, or "" (nothing on air)
    floor_lang: str
    booth: str = ""  # the booth that feeds the channel
    live: str | None = None  # who is live in that booth
    carry: str = "auto"  # the booth's choice: auto, floor or booth

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Carriage:
        """The carriage of a ``channel:<id>`` document, without the bus's ``version``."""
        return cls(**{k: v for k, v in data.items() if k != "version"})


def route(
    channels: dict[str, str], booths: dict[str, Booth], floor_lang: str
) -> dict[str, Carriage]:
    """What each channel (id -> language) carries, given the booths and the floor's language.

    A channel carries the floor when the floor speaks its language (or its booth's
    live interpreter says ``carry floor``); otherwise its booth, when the booth's
    interpreter is live and not muted, or ``carry booth`` forces it.
    """
    out: dict[str, Carriage] = {}
    for channel, language in channels.items():
        booth = next((b for b in booths.values() if b.channel == channel), None)
        follows_floor = booth is None or booth.carry == "floor"
        if follows_floor or (
            booth is not None and booth.carry == "auto" and floor_lang == language
        ):
            carries = "floor"
        elif booth is not None and booth.live is not None and not booth.muted:
            carries = booth.id
        else:
            carries = ""
        out[channel] = Carriage(
            channel,
            language,
            carries,
            floor_lang,
            booth.id if booth else "",
            booth.live if booth else None,
            booth.carry if booth else "auto",
        )
    return out


def targets(source: str, lang: str, carriages: dict[str, Carriage]) -> list[str]:
    """The channels a caption from ``source`` ("floor" or a booth id) in ``lang`` goes to.

    A floor caption goes to the channel of its own language (whatever the floor
    language was a moment ago, so the first sentence after a switch is not lost),
    unless that channel's booth forces ``carry booth``; a booth's caption goes to the
    channel that carries the booth now.
    """
    if source == "floor":
        return [c.channel for c in carriages.values() if c.language == lang and c.carry != "booth"]
    return [c.channel for c in carriages.values() if c.carries == source]


class FloorLanguage:
    """The floor's language, followed from its final captions with a little hysteresis.

    One final caption of ``min_words`` words or more in another language switches it,
    as do ``confirm`` shorter ones in a row: a stray "OK" or a name read out in the
    other language does not flip every channel.
    """

    def __init__(self, lang: str, min_words: int = 4, confirm: int = 2) -> None:
        self.lang = lang
        self.min_words = min_words
        self.confirm = confirm
        self._pending = ""
        self._count = 0

    def observe(self, lang: str, words: int) -> bool:
        """A final caption of ``words`` words in ``lang``; True if the language changed."""
        if not lang or lang == "und" or words <= 0:
            return False
        if lang == self.lang:
            self._pending, self._count = "", 0
            return False
        self._count = self._count + 1 if lang == self._pending else 1
        self._pending = lang
        if words >= self.min_words or self._count >= self.confirm:
            self.lang, self._pending, self._count = lang, "", 0
            return True
        return False
