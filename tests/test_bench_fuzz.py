"""``companion bench fuzz``: a small run, the same checks as the big one."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main

pytestmark = pytest.mark.slow  # a few seconds of random messages at a live service


def test_random_and_malformed_messages_break_nothing() -> None:
    result = CliRunner().invoke(main, ["bench", "fuzz", "--messages", "3000", "--seed", "7"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["messages_sent"] == 3000
    assert set(report["sent_per_socket"]) == {"/ws/viewer", "/ws/console", "/ws/booth-audio"}
    assert report["server_errors_logged"] == 0, report["server_errors_first"]
    assert report["bystanders_with_every_caption_in_order"] == report["bystanders"] == 3
    assert report["bystanders_closed"] == 0 and report["captions_published"] > 0
    assert report["server_error_codes"]  # the server answered the bad ones
