"""The programme: sessions by schedule, and organizers' live starts and ends. Pure."""

from __future__ import annotations

import contextlib
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.errors import ProgrammeError
from companion.transcripts.programme import Action, Programme, Session

SEOUL = timezone(timedelta(hours=9))
DAY = datetime(2026, 12, 10, tzinfo=SEOUL)


def at(hhmm: str) -> float:
    """Unix seconds of HH:MM on the conference day, Seoul time."""
    hours, minutes = hhmm.split(":")
    return (DAY + timedelta(hours=int(hours), minutes=int(minutes))).timestamp()


def session(sid: str, start: str, end: str) -> Session:
    return Session(sid, sid.title(), "", at(start), at(end), SEOUL)


SESSIONS = [
    session("opening", "09:30", "10:00"),
    session("korea", "10:00", "10:40"),
    session("japan", "10:40", "11:20"),
    session("china", "11:20", "12:00"),
    session("philippines", "13:30", "14:10"),
]


def test_without_actions_the_schedule_decides() -> None:
    programme = Programme(SESSIONS)
    assert programme.session_at(at("09:29")) is None
    assert programme.session_at(at("09:30")) == "opening"
    assert programme.session_at(at("10:39")) == "korea"
    assert programme.session_at(at("10:40")) == "japan"
    assert programme.session_at(at("12:30")) is None  # lunch
    assert programme.bounds("korea") == (at("10:00"), at("10:40"))


def test_a_late_start_stretches_the_session_before_and_moves_the_rest() -> None:
    programme = Programme(SESSIONS, [Action("japan", "start", at("10:50"), "kim")])
    assert programme.session_at(at("10:45")) == "korea"  # korea overran
    assert programme.session_at(at("10:50")) == "japan"
    assert programme.session_at(at("11:25")) == "japan"  # its 40 minutes, from 10:50
    assert programme.session_at(at("11:35")) == "china"  # moved by 10 minutes
    assert programme.bounds("japan") == (at("10:50"), at("11:30"))
    assert programme.bounds("china") == (at("11:30"), at("12:10"))
    assert programme.running_live(at("11:00")) == "japan"
    assert programme.running_live(at("11:40")) is None


def test_a_late_start_after_a_break_does_not_stretch_across_it() -> None:
    actions = [Action("philippines", "start", at("13:40"))]
    programme = Programme(SESSIONS, actions)
    assert programme.session_at(at("12:05")) is None
    assert programme.session_at(at("13:35")) is None
    assert programme.session_at(at("13:40")) == "philippines"


def test_an_early_start_ends_what_runs_and_an_end_leaves_a_gap() -> None:
    programme = Programme(SESSIONS)
    programme.record(Action("japan", "start", at("10:30")))
    assert programme.session_at(at("10:29")) == "korea"
    assert programme.session_at(at("10:30")) == "japan"
    programme.record(Action("japan", "end", at("11:00")))
    assert programme.session_at(at("11:00")) != "japan"
    assert programme.bounds("japan") == (at("10:30"), at("11:00"))


def test_a_session_can_be_resumed_after_it_was_ended() -> None:
    programme = Programme(SESSIONS)
    programme.record(Action("korea", "end", at("10:20")))
    programme.record(Action("korea", "start", at("10:25")))
    assert programme.session_at(at("10:10")) == "korea"  # the part before the break is kept
    assert programme.session_at(at("10:22")) is None
    assert programme.session_at(at("10:26")) == "korea"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (Action("keynote", "start", at("10:00")), "no session 'keynote'"),
        (Action("japan", "end", at("10:10")), "'japan' is not running"),
        (Action("korea", "start", at("09:00")), "older than the last"),
    ],
)
def test_illegal_actions_are_refused_and_change_nothing(action: Action, message: str) -> None:
    programme = Programme(SESSIONS, [Action("korea", "start", at("10:05"))])
    before = programme.segments()
    with pytest.raises(ProgrammeError, match=message):
        programme.record(action)
    assert programme.segments() == before


def test_starting_the_session_already_running_live_is_refused() -> None:
    programme = Programme(SESSIONS, [Action("korea", "start", at("10:05"))])
    with pytest.raises(ProgrammeError, match="already running"):
        programme.check(Action("korea", "start", at("10:10")))
    # Running by schedule only, it may be started: that says when it really began.
    programme.check(Action("japan", "start", at("10:41")))


def test_replayed_actions_skip_what_is_no_longer_legal() -> None:
    saved = [
        Action("korea", "start", at("10:05")).to_dict(),
        {"session": "gone", "kind": "end", "at": at("10:06")},
    ]
    programme = Programme(SESSIONS, [Action.from_dict(d) for d in saved])
    assert [a.session for a in programme.actions] == ["korea"]
    assert [a.session for a, _ in programme.skipped] == ["gone"]


times = st.integers(min_value=0, max_value=10 * 60).map(lambda m: at("09:00") + m * 60.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([s.id for s in SESSIONS]), st.booleans(), times), max_size=12
    )
)
def test_live_actions_keep_the_day_consistent(steps: list[tuple[str, bool, float]]) -> None:
    programme = Programme(SESSIONS)
    clock = at("09:00")
    for sid, start, t in sorted(steps, key=lambda s: s[2]):
        action = Action(sid, "start" if start else "end", max(t, clock))
        try:
            programme.record(action)
        except ProgrammeError:
            continue
        clock = action.at
        if start:
            assert programme.session_at(action.at) == sid
            assert programme.running_live(action.at) == sid
        else:
            assert programme.session_at(action.at) != sid
    segments = programme.segments()
    for a, b in itertools.pairwise(segments):
        assert a.end <= b.start
        assert a.session != b.session or a.end < b.start  # neighbours are merged
    for segment in segments:
        assert segment.start < segment.end
        assert programme.session_at((segment.start + segment.end) / 2) == segment.session


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([s.id for s in SESSIONS]), st.booleans(), times), max_size=8
    ),
    st.lists(times, min_size=1, max_size=20),
)
def test_the_locator_agrees_with_session_at(
    steps: list[tuple[str, bool, float]], probes: list[float]
) -> None:
    programme = Programme(SESSIONS)
    for sid, start, t in sorted(steps, key=lambda s: s[2]):
        with contextlib.suppress(ProgrammeError):
            programme.record(Action(sid, "start" if start else "end", t))
    locate = programme.locator()
    for t in [*probes, at("10:00"), at("10:40"), at("12:00")]:
        assert locate(t) == programme.session_at(t)
