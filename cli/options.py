"""What several commands share: the ``--config`` option, loading the event config,
and ``REDIS_URL`` (read here and nowhere else)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import click

from companion.config import EventConfig, load_config
from companion.errors import ConfigError

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Event config (default: $COMPANION_CONFIG or config/event.toml).",
)


def event_config(path: Path | None, model: str | None = None) -> EventConfig:
    """The event config at ``path`` (or the default one), with ``--model`` applied."""
    config = load_config(path)
    if model:
        config = config.model_copy(
            update={"whisper": config.whisper.model_copy(update={"model": model})}
        )
    return config


def redis_url(env: Mapping[str, str] | None = None) -> str | None:
    """``REDIS_URL``, or ``None``: the in-memory bus."""
    return (os.environ if env is None else env).get("REDIS_URL") or None


def require_redis_url(missing: str) -> str:
    """``REDIS_URL``; ``ConfigError(missing)`` when it is not set."""
    url = redis_url()
    if url is None:
        raise ConfigError(missing)
    return url
