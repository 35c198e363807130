"""web/prompter.js, the console's term prompter, under Node's own test runner
(tests/prompter.test.js); in the browser it is checked by tests/test_console_browser.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO

NODE = shutil.which("node") or "/usr/bin/node"


def test_the_prompter_passes_its_node_tests() -> None:
    if not Path(NODE).exists():
        pytest.fail("node is missing: apt-get install nodejs")
    result = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", str(REPO / "tests" / "prompter.test.js")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
