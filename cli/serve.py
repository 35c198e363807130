"""``companion serve``: the service, and in the same process whatever the event runs
besides (captioners, archiver, posters): the one place the service and the workers
meet. Each runs for the app's lifetime as one of its cleanup contexts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import click

from cli.options import CONFIG_OPTION, event_config, redis_url, require_redis_url
from companion.aio import running
from companion.bus.base import Bus
from companion.config import EventConfig
from companion.errors import ConfigError

CleanupContext = Callable[[Any], AsyncIterator[None]]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on.")
@click.option(
    "--no-workers",
    is_flag=True,
    help="Run only the service; captioners run elsewhere (needs REDIS_URL).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Replay the channels' recordings in a loop, live (the bundled demo).",
)
@CONFIG_OPTION
def serve(host: str, port: int, no_workers: bool, demo: bool, config_path: Path | None) -> None:
    """Run the service (viewer websockets, state, health, metrics) and the captioners.

    With REDIS_URL set, the bus is Redis and several services and workers can share
    it; otherwise everything runs in this process on the in-memory bus.
    """
    from aiohttp import web

    from companion.bus import open_bus
    from service.app import create_app
    from service.auth import tokens_from_env
    from service.headers import AccessLogger
    from service.settings import ServiceSettings

    config = event_config(config_path)
    if no_workers:
        url: str | None = require_redis_url(
            "--no-workers needs REDIS_URL: captioners elsewhere reach it by Redis"
        )
    else:
        url = redis_url()
    bus = open_bus(url, namespace=config.event.id)
    settings = ServiceSettings.from_config(config, host, port)
    env = dict(os.environ)
    if demo:  # a newcomer gets working console tokens (printed below), real events set them
        import secrets

        from service.auth import interpreter_env

        for interpreter in config.interpreter_ids():
            env.setdefault(interpreter_env(interpreter), secrets.token_urlsafe(16))
    try:
        tokens = tokens_from_env(env, config.interpreter_ids())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    app = create_app(settings, bus, tokens=tokens, config=config, env=os.environ)
    if not url:  # the embedded default archives in process; with Redis: worker archive
        from workers.archiver.run import archiver_context

        app.cleanup_ctx.append(archiver_context(config, bus))
    if not no_workers:
        app.cleanup_ctx.append(captioners_context(config, bus, demo))
        app.cleanup_ctx.append(posters_context(config, bus, os.environ, memory=not url))
    click.echo(f"companion: http://{host}:{port}/  (bus: {'redis' if url else 'memory'})", err=True)
    if config.booths:
        click.echo(f"interpreter console: http://{host}:{port}/console", err=True)
    if demo:
        for interpreter, token in tokens.interpreters.items():
            click.echo(f"  demo token of {interpreter}: {token}", err=True)
    web.run_app(app, host=host, port=port, print=None, access_log_class=AccessLogger)


def background(start: Callable[[Any], Coroutine[Any, Any, Any]], name: str) -> CleanupContext:
    """A cleanup context running ``start(app)`` as a task for the app's lifetime."""

    async def ctx(app: Any) -> AsyncIterator[None]:
        async with running(start(app), name=name):
            yield

    return ctx


def captioners_context(config: EventConfig, bus: Bus, demo: bool) -> CleanupContext:
    """The event's captioners (``config.captioners()``; a ``console`` booth's hears the
    microphone frames the bus carries); in the demo, each booth with a recording has its
    first interpreter live."""

    async def start(app: Any) -> None:
        from service.keys import DESK
        from workers.captioner.live import run_captioners

        desk = app.get(DESK)
        if demo and desk is not None:
            await desk.demo_live()
        await run_captioners(config, bus, config.captioners(), loop=demo)

    return background(start, "captioners")


def posters_context(
    config: EventConfig, bus: Bus, env: Mapping[str, str], *, memory: bool = False
) -> CleanupContext:
    """Posting captions to YouTube for the channels that have an ingestion URL; on the
    in-memory bus (``memory``), each poster keeps its numbering beside the archive."""
    from workers.poster import run_posters

    return background(
        lambda app: run_posters(bus, config, env, seq_files=memory), "caption-posters"
    )
