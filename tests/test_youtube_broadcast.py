"""Reading the YouTube Data API's video JSON into broadcast documents: pure."""

from __future__ import annotations

from typing import Any

from companion.errors import (
    QuotaExceededError,
    SearchQuotaExceededError,
    YouTubeError,
    YouTubeUnavailableError,
)
from service.youtube.broadcast import (
    Broadcast,
    Status,
    from_video,
    iso,
    not_found,
    parse_time,
    pick_current,
)
from service.youtube.client import classify
from tests.support.youtube_fake import SEARCH_QUOTA_MESSAGE


def video(
    vid: str, content: str, details: dict[str, Any] | None = None, title: str = "Plenary"
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": "youtube#video",
        "id": vid,
        "snippet": {"title": title, "liveBroadcastContent": content},
    }
    if details is not None:
        item["liveStreamingDetails"] = details
    return item


def test_upcoming_live_and_ended() -> None:
    upcoming = from_video(
        "en", video("aaaaaaaaaaa", "upcoming", {"scheduledStartTime": "2026-05-14T01:00:00Z"})
    )
    assert upcoming.status is Status.UPCOMING
    assert upcoming.scheduled_start == parse_time("2026-05-14T01:00:00Z")
    live = from_video(
        "en",
        video(
            "aaaaaaaaaaa",
            "live",
            {
                "scheduledStartTime": "2026-05-14T01:00:00Z",
                "actualStartTime": "2026-05-14T01:02:03Z",
                "concurrentViewers": "1234",
                "activeLiveChatId": "chat",
            },
        ),
    )
    assert (live.status, live.concurrent_viewers) == (Status.LIVE, 1234)
    ended = from_video(
        "en",
        video(
            "aaaaaaaaaaa",
            "none",
            {
                "actualStartTime": "2026-05-14T01:02:03Z",
                "actualEndTime": "2026-05-14T03:00:00+00:00",
            },
        ),
    )
    assert ended.status is Status.ENDED
    assert ended.to_doc()["actual_end"] == "2026-05-14T03:00:00Z"
    plain = from_video("en", video("bbbbbbbbbbb", "none"))
    assert plain.status is Status.ENDED and "not a live broadcast" in plain.note


def test_the_document() -> None:
    doc = from_video(
        "ko",
        video(
            "aaaaaaaaaaa",
            "live",
            {"actualStartTime": "2026-05-14T01:02:03.5Z", "concurrentViewers": "7"},
            "사회연대경제",
        ),
    ).to_doc()
    assert doc == {
        "channel": "ko",
        "status": "live",
        "video_id": "aaaaaaaaaaa",
        "title": "사회연대경제",
        "scheduled_start": None,
        "actual_start": "2026-05-14T01:02:03Z",
        "actual_end": None,
        "concurrent_viewers": 7,
        "embed_url": "https://www.youtube.com/embed/aaaaaaaaaaa",
        "tracking": "on",
        "note": "",
    }
    assert Broadcast("en").to_doc()["embed_url"] == ""
    assert iso(None) is None and parse_time("garbage") is None and parse_time(None) is None


def test_not_found_says_private_or_deleted() -> None:
    gone = not_found("en", "aaaaaaaaaaa")
    assert gone.status is Status.NOT_FOUND
    assert "private, deleted, or the id is wrong" in gone.note


def test_pick_current_prefers_live_then_the_soonest_upcoming() -> None:
    def b(vid: str, status: Status, start: float | None = None) -> Broadcast:
        return Broadcast("en", vid, status, scheduled_start=start, actual_start=start)

    old = b("old", Status.ENDED, 1.0)
    later, sooner = b("later", Status.UPCOMING, 500.0), b("sooner", Status.UPCOMING, 100.0)
    live1, live2 = b("live1", Status.LIVE, 10.0), b("live2", Status.LIVE, 20.0)
    assert pick_current(iter([old, later, sooner])) == sooner
    assert pick_current(iter([later, live1, live2, sooner])) == live2
    assert pick_current([old]) is None
    assert pick_current([]) is None


def test_errors_are_classified() -> None:
    assert isinstance(classify(403, ["quotaExceeded"], "q"), QuotaExceededError)
    for status, reasons in [(500, []), (503, []), (429, []), (403, ["rateLimitExceeded"])]:
        assert isinstance(classify(status, reasons, ""), YouTubeUnavailableError)
    refused = classify(400, ["keyInvalid"], "API key not valid. Please pass a valid API key.")
    assert type(refused) is YouTubeError and "keyInvalid" in str(refused)
    assert type(classify(404, [], "")) is YouTubeError


def test_an_end_time_means_ended_whatever_the_content_says() -> None:
    details = {
        "actualStartTime": "2026-05-14T01:02:03Z",
        "actualEndTime": "2026-05-14T03:00:00Z",
        "concurrentViewers": "12",
    }
    for content in ("live", "upcoming", "none"):
        ended = from_video("en", video("aaaaaaaaaaa", content, details))
        assert (ended.status, ended.concurrent_viewers) == (Status.ENDED, None), content


def test_a_spent_search_bucket_is_told_apart() -> None:
    for status, reasons, message in [
        (403, ["quotaExceeded"], "q"),
        (429, ["rateLimitExceeded"], SEARCH_QUOTA_MESSAGE),
        (429, [], "Quota exceeded for quota metric 'Search Queries'"),
    ]:
        error = classify(status, reasons, message, "search.list")
        assert isinstance(error, SearchQuotaExceededError), (status, message)
    assert "Search Queries per day" in str(classify(429, [], SEARCH_QUOTA_MESSAGE, "search.list"))
    # The units: the same 403 to any other call; a plain 429 to a search is an outage,
    # and so is the search metric's per-minute limit.
    units = classify(403, ["quotaExceeded"], "q", "videos.list")
    assert type(units) is QuotaExceededError
    per_minute = SEARCH_QUOTA_MESSAGE.replace("per day", "per minute")
    for message in ("Too Many Requests", per_minute):
        assert type(classify(429, [], message, "search.list")) is YouTubeUnavailableError
