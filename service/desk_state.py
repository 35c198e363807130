"""The booth desk's documents on the bus, and what a transaction stores: pure, no I/O.

``BoothDesk`` (``service/booth_desk.py``) changes the desk in transactions: it reads
``desk_keys`` with their versions, a change edits a ``Draft`` of them (booths, floor,
the events it logs), and ``documents`` says which documents to store: those that
differ from what was read, the channels derived by ``route`` from the draft's booths
and floor, and the log with the draft's events appended. The documents as stored
carry the bus's ``version``, which ``bare`` leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from companion.booths import Booth, BoothEvent, expire, route
from companion.config import EventConfig

PUBLISHED_LOG = 100  # events in the ``boothlog`` document
_EVENT_FIELDS = tuple(f.name for f in fields(BoothEvent))


def booths_from_config(config: EventConfig) -> dict[str, Booth]:
    """Every configured booth, off air; each may relay any other."""
    ids = [b.id for b in config.booths]
    return {
        b.id: Booth(
            b.id,
            b.channel,
            tuple(i.id for i in b.interpreters),
            relays=tuple(other for other in ids if other != b.id),
        )
        for b in config.booths
    }


def desk_keys(booths: Mapping[str, Booth], channels: Mapping[str, str]) -> tuple[str, ...]:
    """The desk's documents, in the order a transaction stores them: the log first, so
    a follower has a change's event by the time the booth's document comes."""
    return (
        "boothlog",
        *(f"booth:{b}" for b in booths),
        "floor",
        *(f"channel:{c}" for c in channels),
    )


@dataclass
class Draft:
    """The desk as a transaction read it, and what a change makes of it."""

    booths: dict[str, Booth]
    floor: dict[str, Any]
    events: list[BoothEvent] = field(default_factory=list)


def no_change(draft: Draft) -> None:
    """A transaction that stores only what the desk lacks or derives (the channels)."""


def expire_request(draft: Draft, booth_id: str, now: float) -> None:
    """Drop the booth's handover request in ``draft`` if it went unanswered too long."""
    expired = expire(draft.booths[booth_id], now)
    if expired is not None:
        draft.booths[booth_id], event = expired
        draft.events.append(event)


def documents(
    read: Mapping[str, dict[str, Any] | None], draft: Draft, channels: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The documents of ``draft`` that differ from those ``read``, in ``desk_keys`` order.

    ``channels`` (id -> language) are routed from the draft's booths and floor.
    """
    wanted: dict[str, dict[str, Any]] = {}
    if draft.events:
        wanted["boothlog"] = log_document(read["boothlog"], draft.events)
    wanted.update({f"booth:{b}": booth.to_dict() for b, booth in draft.booths.items()})
    wanted["floor"] = draft.floor
    carriages = route(dict(channels), draft.booths, str(draft.floor["lang"]))
    wanted.update({f"channel:{c}": carriage.to_dict() for c, carriage in carriages.items()})
    return {key: doc for key, doc in wanted.items() if bare(read[key]) != doc}


def bare(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored document without the version the bus wrote into it."""
    return None if doc is None else {k: v for k, v in doc.items() if k != "version"}


def log_document(stored: dict[str, Any] | None, events: list[BoothEvent]) -> dict[str, Any]:
    """The ``boothlog`` document with ``events`` appended, each numbered (``n``) on from
    the last: the number says, on every replica, which events it has already taken."""
    previous = list((stored or {}).get("events") or [])
    last = int(previous[-1].get("n", 0)) if previous else 0
    new = [{**event.to_dict(), "n": last + i} for i, event in enumerate(events, 1)]
    return {"events": (previous + new)[-PUBLISHED_LOG:]}


def logged_event(doc: dict[str, Any]) -> BoothEvent:
    """An event of the log (its ``n`` is the log's, not the event's)."""
    return BoothEvent(**{k: v for k, v in doc.items() if k in _EVENT_FIELDS})


def merge_booth(booth: Booth, doc: dict[str, Any]) -> Booth:
    """``booth`` with the live state of ``doc``; the configured membership is kept."""
    stored = Booth.from_dict({**doc, "id": booth.id, "channel": booth.channel})
    return replace(
        stored,
        interpreters=booth.interpreters,
        relays=booth.relays,
        live=stored.live if stored.live in booth.interpreters else None,
        listening=stored.listening if stored.listening in ("floor", *booth.relays) else "floor",
    )
