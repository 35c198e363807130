"""``companion worker …``: one part of the event on its own, connected to the service
by Redis (``REDIS_URL``): a captioner, a YouTube caption poster, the archiver."""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import CONFIG_OPTION, event_config, require_redis_url
from companion.config import CONSOLE_SOURCE
from companion.errors import ConfigError


@click.group()
def worker() -> None:
    """Workers that run on their own, connected to the service by Redis."""


@worker.command("caption")
@click.option("--channel", default=None, help="The configured channel to caption.")
@click.option("--floor", is_flag=True, help="Caption the floor (language per utterance).")
@click.option("--booth", default=None, help="Caption this configured booth.")
@click.option("--source", default=None, help="Audio source (default: the configured one).")
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--loop", is_flag=True, help="Start a recording again when it ends.")
@CONFIG_OPTION
def worker_caption(
    channel: str | None,
    floor: bool,
    booth: str | None,
    source: str | None,
    speed: float,
    loop: bool,
    config_path: Path | None,
) -> None:
    """Caption one channel, the floor or one booth into the Redis bus (REDIS_URL).

    A booth whose source is ``console`` hears its live interpreter's microphone, which
    any service replica passes on through Redis.
    """
    import asyncio

    from companion.bus import open_bus
    from workers.captioner.factory import build_captioner, load_engine
    from workers.captioner.live import caption_channel
    from workers.captioner.routing import Router

    config = event_config(config_path)
    url = require_redis_url("REDIS_URL is not set: a separate worker reaches the service by Redis")
    if sum((channel is not None, floor, booth is not None)) != 1:
        raise ConfigError("give exactly one of --channel, --floor and --booth")
    if booth is not None and booth not in {b.id for b in config.booths}:
        raise ConfigError(f"no booth '{booth}' in the config")
    spec = config.captioner_spec(channel or booth or "floor")
    source_spec = source or spec.source
    if not source_spec:
        raise ConfigError(f"'{spec.id}' has no source: give --source")
    if source_spec == CONSOLE_SOURCE and booth is None:
        raise ConfigError("'console' is a booth's source: give --booth")

    async def run() -> None:
        bus = open_bus(url, namespace=config.event.id)
        await bus.start()
        try:
            engine = await asyncio.to_thread(load_engine, config, 1)
            captioner = build_captioner(config, engine, spec.id, spec.language, speed)
            router = await Router.start(spec.id, bus) if spec.kind != "channel" else None
            await caption_channel(
                captioner, source_spec, bus, speed=speed, loop=loop, router=router
            )
        finally:
            await bus.close()

    asyncio.run(run())


@worker.command("post")
@click.option("--channel", required=True, help="The configured channel whose captions to post.")
@CONFIG_OPTION
def worker_post(channel: str, config_path: Path | None) -> None:
    """Post one channel's final captions to YouTube (REDIS_URL, COMPANION_CAPTION_URL_<ID>)."""
    import asyncio
    import os

    from companion.bus import open_bus
    from workers.poster import build_poster, caption_url_env, caption_urls

    config = event_config(config_path)
    url = require_redis_url("REDIS_URL is not set: a separate worker reaches the service by Redis")
    ingestion = caption_urls(config, os.environ).get(config.channel(channel).id)
    if not ingestion:
        raise ConfigError(
            f"{caption_url_env(channel)} is not set (or channels.youtube.post_captions is false)"
        )

    async def run() -> None:
        bus = open_bus(url, namespace=config.event.id)
        await bus.start()
        try:
            await build_poster(bus, config, channel, ingestion).run()
        finally:
            await bus.close()

    asyncio.run(run())


@worker.command("archive")
@click.option(
    "--group", default="archiver", show_default=True, help="Consumer group (one per archive)."
)
@click.option("--consumer", default="archiver", show_default=True, help="Consumer name in it.")
@CONFIG_OPTION
def worker_archive(group: str, consumer: str, config_path: Path | None) -> None:
    """Archive every channel's final captions from Redis (REDIS_URL); see docs/archive.md."""
    import asyncio

    from workers.archiver.run import run_worker

    config = event_config(config_path)
    url = require_redis_url("REDIS_URL is not set: the archiver reads the caption streams in Redis")
    asyncio.run(run_worker(config, url, group, consumer))
