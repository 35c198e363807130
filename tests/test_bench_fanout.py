"""``companion bench fanout``, in process: a small run prints every figure."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main

pytestmark = pytest.mark.slow  # a 3 s run with viewer processes of its own

KEYS = {
    "viewers_requested",
    "viewers_connected",
    "viewers_failed_to_connect",
    "captions_published",
    "messages_expected",
    "latency_sample",
    "latency_ms_p50",
    "latency_ms_p99",
    "latency_ms_max",
    "messages_delivered",
    "messages_per_second",
    "viewers_closed_early",
    "server_fanout_ms_p50",
    "server_fanout_ms_p99",
    "server_send_ms_p50",
    "server_send_ms_p99",
    "captions_sent_after_next_publish",
    "viewers_dropped",
    "server_rss_kib_before",
    "server_rss_kib_after",
    "server_kib_per_viewer",
}


def test_fanout_to_fifty_viewers() -> None:
    # 5 probes per process (aiohttp clients); the other 40 viewers are light ones.
    args = ["bench", "fanout", "--viewers", "50", "--seconds", "3", "--processes", "2"]
    args += ["--sample", "5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == KEYS
    assert report["viewers_connected"] == 50
    assert report["viewers_dropped"] == 0
    assert report["captions_published"] == 6
    assert report["messages_delivered"] == report["messages_expected"] == 300
    assert report["latency_sample"].startswith("10 probe viewers")
    for key in ("latency_ms_p50", "latency_ms_p99", "latency_ms_max"):
        assert isinstance(report[key], float) and report[key] > 0, key
    for key in ("server_fanout_ms_p50", "server_send_ms_p99", "messages_per_second"):
        assert report[key] > 0, key
