"""deploy/compose.yaml read back: its services and the command line each one runs.

``tests/test_compose.py`` checks them against the CLI and the docs;
``tests/test_topology.py`` runs them as plain processes.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml

from tests.support.paths import REPO

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT (exec form): what a built service's command follows."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.M)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    return list(yaml.safe_load(match.group(1)))


def argv(service: dict[str, Any]) -> list[str]:
    """The full command line the service's container runs."""
    command = service.get("command", [])
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    return (entrypoint() if "build" in service else []) + args
