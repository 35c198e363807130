"""The programme: which session was running at a given moment. Pure, no I/O, no clock.

Sessions have scheduled times (the config's ``[[sessions]]``). Organizers start and
end sessions live (``Action``) when the day does not follow the schedule.
``Programme`` replays the actions, in time order, over the schedule and answers
``session_at(t)``. The rules, which docs/archive.md gives organizers too:

1. Without live actions, the schedule decides.
2. A live *start* of S at t: whatever runs at t ends there, and S runs from t for its
   scheduled length, until it is ended live, or until another session is started.
   The sessions after S in the programme that have not begun move by S's delay
   (late: later; early: earlier), as a programme that runs late does.
3. When S starts late right after the session before it (back to back in the
   schedule), that session is taken to have overrun: it is stretched to t.
4. A live *end* of S at t ends S at t.
5. Where spans overlap, a live span wins over a scheduled one; of two alike, the one
   that started later (or, started at once, the one recorded later).

Illegal actions raise ``ProgrammeError`` (``check`` tells before anything is
recorded): an unknown session, starting the session already running live, ending
one that is not running, an action older than the last one recorded.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, Literal

from companion.errors import ProgrammeError

UNSCHEDULED = "unscheduled"
"""Where captions spoken outside every session are filed (so that none is lost)."""

BACK_TO_BACK = 60.0
"""Seconds between two sessions that still count as back to back (rule 3)."""

ActionKind = Literal["start", "end"]


@dataclass(frozen=True)
class Session:
    """One session of the programme with its scheduled times (Unix seconds)."""

    id: str
    title: str
    title_ko: str
    start: float
    end: float
    tz: tzinfo = UTC  # how its times are shown


@dataclass(frozen=True)
class Action:
    """An organizer started or ended a session at ``at`` (Unix seconds)."""

    session: str
    kind: ActionKind
    at: float
    by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session, "kind": self.kind, "at": self.at, "by": self.by}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        kind = data["kind"]
        if kind not in ("start", "end"):
            raise ValueError(f"unknown action kind {kind!r}")
        return cls(str(data["session"]), kind, float(data["at"]), str(data.get("by", "")))


@dataclass
class Span:
    """A stretch of time during which a session runs (mutable while actions replay)."""

    session: str
    start: float
    end: float
    live: bool = False
    ended_live: bool = False
    order: int = 0  # of two live spans that start together, the later recorded wins

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class Segment:
    """A resolved, non-overlapping stretch of the day: ``session`` ran from ``start`` to ``end``."""

    session: str
    start: float
    end: float
    live: bool


class Programme:
    """The schedule plus the live actions so far."""

    def __init__(self, sessions: Sequence[Session], actions: Iterable[Action] = ()) -> None:
        self.sessions = {s.id: s for s in sessions}
        self.order = [s.id for s in sessions]
        self.actions: list[Action] = []
        self.skipped: list[tuple[Action, str]] = []  # replayed actions no longer legal
        self._spans = [Span(s.id, s.start, s.end) for s in sessions]
        for action in sorted(actions, key=lambda a: a.at):
            try:
                self.record(action)
            except ProgrammeError as exc:  # e.g. the config lost a session since
                self.skipped.append((action, str(exc)))

    # -- questions ----------------------------------------------------------------

    def session_at(self, t: float) -> str | None:
        """The session running at ``t`` (rule 5 between overlapping spans), or None."""
        best = self._best(t)
        return best.session if best is not None else None

    def running_live(self, t: float) -> str | None:
        """The session running at ``t`` because an organizer started it, or None."""
        best = self._best(t)
        return best.session if best is not None and best.live else None

    def segments(self) -> list[Segment]:
        """The day as consecutive stretches, each with the one session that ran then."""
        edges = sorted({e for span in self._spans for e in (span.start, span.end)})
        out: list[Segment] = []
        for start, end in itertools.pairwise(edges):
            best = self._best(start)
            if best is None:
                continue
            if out and out[-1].session == best.session and out[-1].end == start:
                out[-1] = Segment(best.session, out[-1].start, end, out[-1].live or best.live)
            else:
                out.append(Segment(best.session, start, end, best.live))
        return out

    def locator(self) -> Callable[[float], str | None]:
        """``session_at`` for many times at once: a binary search over ``segments``."""
        segments = self.segments()
        starts = [s.start for s in segments]

        def locate(t: float) -> str | None:
            i = bisect.bisect_right(starts, t) - 1
            return segments[i].session if i >= 0 and t < segments[i].end else None

        return locate

    def bounds(self, session: str) -> tuple[float, float] | None:
        """When ``session`` actually ran: its first start and last end, or None if never."""
        mine = [s for s in self.segments() if s.session == session]
        return (mine[0].start, mine[-1].end) if mine else None

    # -- actions ------------------------------------------------------------------

    def check(self, action: Action) -> None:
        """Raise ``ProgrammeError`` if ``action`` cannot be recorded now."""
        if action.session not in self.sessions:
            known = ", ".join(self.order) or "none"
            raise ProgrammeError(f"no session '{action.session}' in the programme ({known})")
        if self.actions and action.at < self.actions[-1].at:
            raise ProgrammeError("an action cannot be older than the last one recorded")
        if action.kind == "start" and self.running_live(action.at) == action.session:
            raise ProgrammeError(f"session '{action.session}' is already running")
        if action.kind == "end" and self.session_at(action.at) != action.session:
            raise ProgrammeError(f"session '{action.session}' is not running")

    def record(self, action: Action) -> None:
        """Check ``action`` and apply it; ``ProgrammeError`` leaves everything unchanged."""
        self.check(action)
        if action.kind == "start":
            self._start(action.session, action.at)
        else:
            self._end(action.session, action.at)
        self.actions.append(action)
        self._spans = [s for s in self._spans if s.end > s.start]

    def _best(self, t: float) -> Span | None:
        best: Span | None = None
        for span in self._spans:
            if span.covers(t) and (
                best is None
                or (span.live, span.start, span.order) > (best.live, best.start, best.order)
            ):
                best = span
        return best

    def _start(self, session: str, t: float) -> None:
        mine = [s for s in self._spans if s.session == session]
        planned = next((s for s in mine if not s.live), None)
        if planned is not None and not planned.ended_live and not any(s.live for s in mine):
            # The first live start: S really begins now, ``delay`` after its plan.
            delay = t - planned.start
            self._spans.remove(planned)
            # Rule 2: the sessions after it that have not begun move by its delay.
            later = set(self.order[self.order.index(session) + 1 :])
            for span in self._spans:
                if span.session in later and not span.live and not span.ended_live:
                    span.start += delay
                    span.end += delay
            # Rule 3: the session right before it overran, if they were back to back.
            if delay > 0 and not any(s.start < t <= s.end for s in self._spans):
                before = [
                    s
                    for s in self._spans
                    if s.end <= t and not s.ended_live and planned.start - s.end <= BACK_TO_BACK
                ]
                if before:
                    max(before, key=lambda s: s.end).end = t
        for span in self._spans:  # whatever runs at t ends there
            if span.start < t < span.end:
                span.end = t
        scheduled = self.sessions[session]
        length = scheduled.end - scheduled.start
        self._spans.append(Span(session, t, t + length, live=True, order=len(self.actions) + 1))

    def _end(self, session: str, t: float) -> None:
        running = self._best(t)
        assert running is not None and running.session == session  # checked
        running.end = t
        running.ended_live = True


def sessions_from_config(items: Iterable[Any]) -> list[Session]:
    """``Session``s from the config's ``[[sessions]]`` (pydantic models with datetimes)."""
    return [
        Session(
            item.id,
            item.title,
            item.title_ko,
            item.start.timestamp(),
            item.end.timestamp(),
            item.start.tzinfo or UTC,
        )
        for item in items
    ]
