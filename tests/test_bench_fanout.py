"""``companion bench fanout``, in process: a small run prints every figure."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow  # a 3 s run with viewer processes of its own

KEYS = {
    "bus",
    "crowd",
    "crowd_joined_seconds",
    "backlog_per_viewer",
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


@pytest.mark.redis
def test_a_crowd_joining_at_once_through_redis_gets_every_caption() -> None:
    """More viewers than redis-py's default pool (100) join at one signal, each reading
    the backlog from Redis: every one is admitted and gets the backlog and every caption."""
    with RedisServer() as redis:
        args = ["bench", "fanout", "--viewers", "300", "--seconds", "2", "--processes", "2"]
        args += ["--sample", "5", "--redis", redis.url, "--crowd"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["bus"], report["crowd"]) == ("redis", True)
    assert report["viewers_connected"] == 300 and report["viewers_failed_to_connect"] == 0
    assert report["viewers_closed_early"] == 0 and report["viewers_dropped"] == 0
    assert report["backlog_per_viewer"] == 20 and report["captions_published"] == 4
    assert report["messages_delivered"] == report["messages_expected"] == 300 * (4 + 20)
    assert report["crowd_joined_seconds"] is not None
