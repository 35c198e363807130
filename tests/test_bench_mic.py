"""``companion bench mic``: a short run prints every figure for both set-ups (not its speed)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main

# a private redis-server, a child process, a few seconds of frames at real time
pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_the_bench_times_every_frame_in_process_and_through_redis() -> None:
    result = CliRunner().invoke(main, ["bench", "mic", "--seconds", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["redis"] == "private, appendonly, fsync always"
    for set_up in ("in_process", "through_redis"):
        figures = report[set_up]
        assert figures["frames"] == 30 and figures["lost"] == 0, figures
        assert figures["bus_audio_dropped"] == 0
        quantiles = [figures[f"{q}_ms"] for q in ("p50", "p95", "p99", "max")]
        assert all(isinstance(q, float) and q > 0 for q in quantiles), figures
        assert quantiles == sorted(quantiles)
    added = report["added_by_redis_ms"]
    assert set(added) == {"p50", "p95", "p99", "max"}
    assert added["p95"] == pytest.approx(
        report["through_redis"]["p95_ms"] - report["in_process"]["p95_ms"], abs=0.01
    )
    assert report["target_met"] == (added["p95"] <= report["target_added_p95_ms"])
