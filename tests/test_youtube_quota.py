"""Quota accounting and polling schedule for the YouTube tracker: pure, no clock, no server."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from companion.config import YouTubeSettings
from service.youtube.broadcast import Broadcast, Status
from service.youtube.quota import (
    BUCKETS,
    COSTS,
    PACIFIC,
    Bucket,
    QuotaPolicy,
    QuotaView,
    describe_pacing,
    next_reset,
    pacific_day,
)
from service.youtube.schedule import (
    BACKOFF_MAX,
    SEARCH_GAP,
    UPLOADS_LOOKBACK,
    UPLOADS_MAX_PAGES,
    Slot,
    backoff_delay,
    batches,
    interval_for,
    may_search,
    more_uploads,
    next_wake,
)

# 2026-05-14 00:30 UTC is still 2026-05-13 in California (PDT, UTC-7).
MAY_14_0030_UTC = 1778718600.0
SETTINGS = YouTubeSettings()
times = st.floats(min_value=1.6e9, max_value=2.1e9, allow_nan=False)


def test_the_quota_day_is_pacific() -> None:
    assert pacific_day(MAY_14_0030_UTC) == "2026-05-13"
    assert pacific_day(MAY_14_0030_UTC + 7 * 3600) == "2026-05-14"  # 07:30 UTC = midnight PDT
    reset = next_reset(MAY_14_0030_UTC)
    assert reset == MAY_14_0030_UTC + 6.5 * 3600


def test_resets_follow_daylight_saving() -> None:
    # 2026-03-08 has 23 hours in California; 2026-11-01 has 25.
    march_8 = datetime(2026, 3, 8, 0, 0, tzinfo=PACIFIC).timestamp()
    november_1 = datetime(2026, 11, 1, 0, 0, tzinfo=PACIFIC).timestamp()
    assert next_reset(march_8) - march_8 == 23 * 3600
    assert next_reset(november_1) - november_1 == 25 * 3600


@given(times)
def test_next_reset_is_the_next_pacific_midnight(now: float) -> None:
    reset = next_reset(now)
    assert now < reset <= now + 25 * 3600
    local = datetime.fromtimestamp(reset, PACIFIC)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert pacific_day(reset - 0.001) == pacific_day(now) != pacific_day(reset)


def test_searches_have_a_bucket_of_their_own() -> None:
    # YouTube's quota page: 10,000 units a day for most methods, and 100 search.list
    # calls a day, 1 each, in a bucket of their own.
    assert {m: (BUCKETS[m], COSTS[m]) for m in BUCKETS} == {
        "videos.list": (Bucket.UNITS, 1),
        "playlistItems.list": (Bucket.UNITS, 1),
        "channels.list": (Bucket.UNITS, 1),
        "search.list": (Bucket.SEARCH, 1),
    }
    assert (SETTINGS.daily_quota, SETTINGS.search_budget) == (10_000, 100)


def test_refusals_say_why() -> None:
    policy = QuotaPolicy(daily_quota=1000, search_budget=2)
    day = "2026-05-13"
    assert policy.refusal(QuotaView(day), "videos.list") is None
    assert policy.refusal(QuotaView(day), "search.list") is None
    assert "budget of 2 searches is spent" in str(
        policy.refusal(QuotaView(day, 0, 2), "search.list")
    )
    assert policy.refusal(QuotaView(day, 0, 2), "videos.list") is None  # searches spent only
    # Nothing of the units is kept for searches, and searches do not need units.
    assert policy.refusal(QuotaView(day, 999), "videos.list") is None
    assert policy.refusal(QuotaView(day, 1000, 1), "search.list") is None
    assert "budget of 1000 API units is spent" in str(
        policy.refusal(QuotaView(day, 1000, 2), "videos.list")
    )


def test_a_spent_bucket_stops_its_own_calls_only() -> None:
    policy = QuotaPolicy(daily_quota=10_000, search_budget=100)
    day = "2026-05-13"
    searches_spent = QuotaView(day, exhausted=frozenset({Bucket.SEARCH}))
    assert (
        policy.refusal(searches_spent, "search.list") == "YouTube says today's searches are spent"
    )
    for method in ("videos.list", "playlistItems.list", "channels.list"):
        assert policy.refusal(searches_spent, method) is None
    units_spent = QuotaView(day, exhausted=frozenset({Bucket.UNITS}))
    assert policy.refusal(units_spent, "search.list") is None
    assert policy.refusal(units_spent, "videos.list") == "YouTube says today's API units are spent"


def test_the_organizers_report_has_each_bucket() -> None:
    policy = QuotaPolicy(daily_quota=10_000, search_budget=100)
    now = MAY_14_0030_UTC
    view = QuotaView(pacific_day(now), spent=412, searches=7, exhausted=frozenset({Bucket.SEARCH}))
    assert policy.report(view, now) == {
        "day": "2026-05-13",
        "resets_at": "2026-05-14T07:00:00Z",
        "units": {"used": 412, "limit": 10_000, "left": 9_588, "spent": "", "spent_until": None},
        "searches": {
            "used": 7,
            "limit": 100,
            "left": 0,
            "spent": "YouTube says it is spent",
            "spent_until": "2026-05-14T07:00:00Z",
        },
    }
    used_up = policy.report(QuotaView(view.day, spent=10_000), now)["units"]
    assert (used_up["left"], used_up["spent"]) == (0, "the event's budget is used up")
    assert used_up["spent_until"] == "2026-05-14T07:00:00Z"


def test_pacing_leaves_the_interval_alone_while_the_budget_is_ample() -> None:
    policy = QuotaPolicy(daily_quota=10_000, search_budget=100)
    view = QuotaView(pacific_day(MAY_14_0030_UTC), spent=100)
    assert policy.paced(30.0, view, MAY_14_0030_UTC) == 30.0
    assert describe_pacing(30.0, 30.0) == ""


def test_pacing_reserves_nothing_for_searches() -> None:
    # 100 units left for 23,400 s to the reset: one call per 234 s, whatever the search
    # budget (the old ledger held 100 units back per search still allowed).
    now = MAY_14_0030_UTC
    view = QuotaView(pacific_day(now), spent=9_900)
    for searches_left in (0, 3, 100):
        policy = QuotaPolicy(daily_quota=10_000, search_budget=searches_left)
        assert policy.paced(30.0, view, now) == 234.0
    spent = QuotaView(pacific_day(now), exhausted=frozenset({Bucket.SEARCH}))
    assert QuotaPolicy(10_000, 100).paced(30.0, spent, now) == 30.0  # searches spent: no matter
    units_spent = QuotaView(pacific_day(now), exhausted=frozenset({Bucket.UNITS}))
    assert QuotaPolicy(10_000, 100).paced(30.0, units_spent, now) == next_reset(now) - now


def test_pacing_slows_polls_when_the_budget_runs_short() -> None:
    policy = QuotaPolicy(daily_quota=1000, search_budget=0)
    now = MAY_14_0030_UTC  # 6.5 h = 23,400 s to the reset
    view = QuotaView(pacific_day(now), spent=900)  # 100 units left: one call per 234 s
    assert policy.paced(30.0, view, now) == 234.0
    assert "every 234 s (not 30 s)" in describe_pacing(30.0, 234.0)
    spent = QuotaView(pacific_day(now), spent=1000)
    assert policy.paced(30.0, spent, now) == next_reset(now) - now


@given(
    now=times,
    interval=st.floats(min_value=1, max_value=3600),
    quota=st.integers(min_value=1, max_value=100_000),
    spent_share=st.floats(min_value=0, max_value=1),
    units=st.integers(min_value=1, max_value=3),
)
def test_paced_polls_never_outrun_the_budget(
    now: float, interval: float, quota: int, spent_share: float, units: int
) -> None:
    policy = QuotaPolicy(daily_quota=quota, search_budget=0)
    view = QuotaView(pacific_day(now), spent=int(quota * spent_share))
    paced = policy.paced(interval, view, now, units)
    assert paced >= interval
    left = quota - view.spent
    calls_until_reset = (next_reset(now) - now) // paced  # calls made after the first
    if left >= units:
        assert calls_until_reset * units <= left
    else:
        assert paced >= next_reset(now) - now


# -- schedule ------------------------------------------------------------------------


def upcoming(start: float | None) -> Broadcast:
    return Broadcast("en", "abcdefghijk", Status.UPCOMING, scheduled_start=start)


def test_intervals_by_status() -> None:
    now = MAY_14_0030_UTC
    assert interval_for(Broadcast("en", "v", Status.LIVE), now, SETTINGS) == 30.0
    assert interval_for(Broadcast("en", "v", Status.ENDED), now, SETTINGS) is None
    assert interval_for(Broadcast("en", "v", Status.NOT_FOUND), now, SETTINGS) == 900.0
    assert interval_for(Broadcast("en", "v"), now, SETTINGS) == 0.0
    assert interval_for(upcoming(None), now, SETTINGS) == 60.0
    assert interval_for(upcoming(now + 86_400), now, SETTINGS) == 900.0  # far off
    assert interval_for(upcoming(now + 1800 + 300), now, SETTINGS) == 300.0  # wake at the window
    assert interval_for(upcoming(now + 600), now, SETTINGS) == 60.0  # near
    assert interval_for(upcoming(now - 600), now, SETTINGS) == 60.0  # late: still near


@given(now=times, lead=st.floats(min_value=0, max_value=7 * 86_400))
def test_polls_reach_the_near_window_in_time(now: float, lead: float) -> None:
    """Following the intervals from any moment, a poll lands within poll_near of the
    near window opening, and every poll after that is poll_near apart."""
    start = now + lead
    window_opens = start - SETTINGS.near_window
    t, polls = now, 0
    while t < window_opens:
        step = interval_for(upcoming(start), t, SETTINGS)
        assert step is not None and SETTINGS.poll_near <= step <= SETTINGS.poll_far
        t += step
        polls += 1
    assert t < max(now, window_opens) + SETTINGS.poll_near
    assert polls <= lead / SETTINGS.poll_near + 1
    assert interval_for(upcoming(start), t, SETTINGS) == SETTINGS.poll_near


@given(failures=st.integers(min_value=1, max_value=100), draw=st.floats(0, 1))
def test_backoff_grows_with_jitter_and_a_ceiling(failures: int, draw: float) -> None:
    delay = backoff_delay(failures, draw)
    base = min(BACKOFF_MAX, 5.0 * 2 ** (failures - 1))
    assert base / 2 <= delay <= base
    assert backoff_delay(failures + 1, draw) >= delay


def test_backoff_values() -> None:
    assert [backoff_delay(n, 1.0) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert backoff_delay(1, 0.0) == 2.5
    assert backoff_delay(50, 1.0) == BACKOFF_MAX


def test_search_spacing() -> None:
    assert may_search(None, 0.0)
    assert not may_search(1000.0, 1000.0 + SEARCH_GAP - 1)
    assert may_search(1000.0, 1000.0 + SEARCH_GAP)


def test_uploads_are_read_back_to_the_lookback_within_a_page_cap() -> None:
    now = MAY_14_0030_UTC
    recent = [now - 3600 * i for i in range(50)]
    assert more_uploads(recent, 1, True, now)
    assert not more_uploads(recent, 1, False, now)  # the last page
    assert not more_uploads(recent, UPLOADS_MAX_PAGES, True, now)
    reaching_back = [*recent[:-1], now - UPLOADS_LOOKBACK - 1]
    assert not more_uploads(reaching_back, 1, True, now)
    assert more_uploads([None, None], 1, True, now)  # no dates: on to the page cap


def test_batches_of_at_most_fifty() -> None:
    ids = [f"{i:011d}" for i in range(101)]
    assert [len(b) for b in batches(ids, 50)] == [50, 50, 1]
    assert [i for b in batches(ids, 50) for i in b] == ids
    assert list(batches([], 50)) == []


def test_slots_say_what_they_want() -> None:
    configured = Slot(Broadcast("en", "abcdefghijk"), configured=True, next_poll=5.0)
    assert configured.wants_poll() and not configured.wants_discovery()
    configured.broadcast = Broadcast("en", "abcdefghijk", Status.NOT_FOUND)
    assert configured.wants_poll()  # a configured video may turn public later
    configured.broadcast = Broadcast("en", "abcdefghijk", Status.ENDED)
    assert not configured.wants_poll()

    found = Slot(Broadcast("ko"), configured=False, channel_id="UC" + "x" * 22, next_discovery=9)
    assert found.wants_discovery() and not found.wants_poll()
    found.broadcast = Broadcast("ko", "zyxwvutsrqp", Status.LIVE)
    assert found.wants_poll() and not found.wants_discovery()
    found.broadcast = Broadcast("ko", "zyxwvutsrqp", Status.ENDED)  # the next day's, then
    assert found.wants_discovery() and not found.wants_poll()

    assert next_wake([configured, found]) == 9
    assert next_wake([configured]) is None
