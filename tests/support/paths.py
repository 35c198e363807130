"""Where the tests find the repository and the shared test recordings."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
DATA = Path(os.environ.get("COMPANION_TEST_DATA", REPO.parent / "shared" / "data"))


def data(name: str) -> str:
    """The path of the test recording ``name``; fails (never skips) when it is missing."""
    path = DATA / name
    if not path.is_file():
        raise FileNotFoundError(f"test recording {path} is missing (set COMPANION_TEST_DATA)")
    return str(path)
