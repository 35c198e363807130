"""The service's view of the captioners, from their state documents."""

from __future__ import annotations

from service.captioners import captioner_report, unready_reasons


def test_alive_stale_stopped_and_missing() -> None:
    state = {
        "captioner:en": {"alive": True, "updated": 100.0, "real_time_factor": 0.5},
        "captioner:ko": {"alive": True, "updated": 80.0},
        "captioner:ja": {"alive": False, "updated": 99.0, "error": "cannot open audio source"},
        "captioner:fr": {"alive": False, "updated": 99.0, "error": ""},
    }
    report = captioner_report(state, ["en", "ko", "ja", "zh", "fr"], now=101.0)
    assert {ch: r["status"] for ch, r in report.items()} == {
        "en": "alive",
        "ko": "stale",
        "ja": "stopped",
        "zh": "missing",
        "fr": "ended",
    }
    assert report["en"]["real_time_factor"] == 0.5
    reasons = unready_reasons(report)
    assert reasons == [
        "captioner for 'ko' is stale",
        "captioner for 'ja' is stopped: cannot open audio source",
    ]


def test_missing_captioners_do_not_make_the_service_unready() -> None:
    assert unready_reasons(captioner_report({}, ["en"], now=0.0)) == []


def test_listeners_add_up_over_fresh_replicas() -> None:
    from service.captioners import total_listeners

    state = {
        "listeners:a": {"channels": {"en": 3, "ko": 1}, "updated": 100.0},
        "listeners:b": {"channels": {"en": 2, "fr": 9}, "updated": 99.0},
        "listeners:gone": {"channels": {"en": 50}, "updated": 10.0},
        "captioner:en": {"alive": True, "updated": 100.0},
    }
    assert total_listeners(state, ["en", "ko"], now=101.0) == {"en": 5, "ko": 1}


def test_reports_that_may_name_secrets_are_not_public() -> None:
    from service.captioners import is_public

    assert not is_public("captioner:en")  # its source URL may carry a passphrase
    assert not is_public("listeners:abc") and not is_public("boothlog")
    assert is_public("channel:en") and is_public("booth:booth-en") and is_public("floor")
