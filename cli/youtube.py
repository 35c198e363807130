"""``companion youtube …``: checks an organizer runs against YouTube before going live."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import CONFIG_OPTION, event_config, require_redis_url
from companion.errors import ConfigError


@click.group()
def youtube() -> None:
    """Checks against YouTube: a test caption through a channel's ingestion URL."""


@youtube.command("test-caption")
@click.option("--channel", required=True, help="The configured channel to post a test caption to.")
@click.option("--text", default=None, help="The caption's text (default: a fixed test line).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@CONFIG_OPTION
def test_caption(channel: str, text: str | None, as_json: bool, config_path: Path | None) -> None:
    """Post one caption through a channel's ingestion URL (COMPANION_CAPTION_URL_<ID>) under
    its next seq (REDIS_URL), and report YouTube's answer, the round trip and the clock
    skew. Exits 1 when YouTube refuses it or does not answer."""
    import asyncio
    import os

    from companion.bus import open_bus
    from workers.poster import caption_url_env, caption_urls
    from workers.poster.trial import DEFAULT_TEXT, TrialReport, render
    from workers.poster.trial_post import post_test_caption

    config = event_config(config_path)
    channel = config.channel(channel).id
    ingestion = caption_urls(config, os.environ).get(channel)
    if not ingestion:
        raise ConfigError(
            f"{caption_url_env(channel)} is not set (or channels.youtube.post_captions is false)"
        )
    url = require_redis_url(
        "REDIS_URL is not set: the test caption takes the channel's next seq from the posters' "
        "numbering in Redis (see docs/youtube.md, 'A test caption')"
    )

    async def run() -> TrialReport:
        bus = open_bus(url, namespace=config.event.id)
        await bus.start()
        try:
            return await post_test_caption(bus, channel, ingestion, text or DEFAULT_TEXT)
        finally:
            await bus.close()

    report = asyncio.run(run())
    click.echo(json.dumps(report.as_dict()) if as_json else render(report))
    if not report.accepted:
        raise SystemExit(1)
