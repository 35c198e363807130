"""``companion bench decode``: the decode timings behind ``whisper.cpu_threads``."""

from __future__ import annotations

import pytest

from bench.decode import run_decode
from companion.config import load_config
from tests.support.paths import REPO, data
from workers.captioner.audio import decode_file

pytestmark = pytest.mark.model


def test_decodes_are_timed_per_window_alone_and_side_by_side(base_model_dir: str) -> None:
    config = load_config(REPO / "config" / "event.toml")
    whisper = config.whisper.model_copy(update={"model": base_model_dir})
    config = config.model_copy(update={"whisper": whisper})
    report = run_decode(config, decode_file(data("jfk.flac")), "en", threads=2, repeats=1)
    assert report["threads"] == [1, 2]
    assert list(report["windows"]) == ["3s", "6s"]  # an 11 s clip has no 12 s window
    for figures in report["windows"].values():
        assert set(figures) == {
            "final_1_thread", "partial_1_thread", "final_2_thread", "partial_2_thread",
            "final_beside_a_partial_1_thread", "partial_beside_a_final_1_thread",
        }  # fmt: skip
        assert all(0 < seconds < 30 for seconds in figures.values()), figures
