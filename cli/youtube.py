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
    skew. While a poster runs for the channel, that poster sends it as its next post.
    Exits 1 when YouTube refuses it or does not answer."""
    import asyncio
    import os

    from companion.bus import open_bus
    from companion.caption_trial import TrialResult
    from workers.poster import caption_url_env, caption_urls
    from workers.poster.trial import TrialReport, render, render_result
    from workers.poster.trial_post import send_test_caption

    config = event_config(config_path)
    channel = config.channel(channel).id
    ingestion = caption_urls(config, os.environ).get(channel)
    if not ingestion:
        raise ConfigError(
            f"{caption_url_env(channel)} is not set (or channels.youtube.post_captions is false)"
        )
    url = require_redis_url(
        "REDIS_URL is not set: the test caption takes the channel's next seq from the posters' "
        "numbering in Redis; with companion serve on its in-memory bus, use the dashboard's "
        "'Send a test caption' (see docs/youtube.md, 'A test caption')"
    )

    async def run() -> TrialReport | TrialResult:
        bus = open_bus(url, namespace=config.event.id)
        await bus.start()
        try:
            return await send_test_caption(
                bus, channel, ingestion, text, by="companion youtube test-caption"
            )
        finally:
            await bus.close()

    report = asyncio.run(run())
    if isinstance(report, TrialResult):
        click.echo(json.dumps(report.as_doc()) if as_json else render_result(report))
    else:
        click.echo(json.dumps(report.as_dict()) if as_json else render(report))
    if not report.accepted:
        raise SystemExit(1)
