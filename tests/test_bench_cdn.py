"""``companion bench cdn``: a short run through the shipped nginx, its figures checked."""

from __future__ import annotations

import pytest

from bench.cdn import run_cdn

pytestmark = pytest.mark.nginx


def test_a_short_cdn_run_counts_viewers_origin_and_availability() -> None:
    report = run_cdn(viewers=40, seconds=4.0, poll=0.5, rate=2.0, segment_seconds=0.5)
    assert report["viewer_errors"] == 0
    # 40 viewers polling twice a second: about 80 polls a second, and a segment each
    assert report["viewer_polls_per_second_each"] > 1.0
    assert report["viewer_requests_per_second"] > 60
    # nginx answers them: the origin sees a few requests a second, not one per viewer
    assert 0 < report["origin_requests_per_second"] < 10
    assert set(report["origin_requests_by_kind"]) <= {"latest", "segment", "captions"}
    # captions were seen, within a few windows of their publication
    assert report["availability_samples"] > 40
    assert 0 < report["availability_ms_p50"] < 3000
