"""``companion replay``: caption a recording (or the event's sources) as if live."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.options import CONFIG_OPTION, event_config
from companion.config import CONSOLE_SOURCE
from companion.errors import ConfigError
from companion.redact import redact_source


@click.command()
@click.argument("audio", required=False)
@click.option(
    "--lang",
    default=None,
    help="Language of AUDIO (ko, en, …, or auto: detected per utterance); default: the channel's.",
)
@click.option("--channel", default=None, help="Caption as this configured channel.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Pace recordings at this multiple of real time (0: as fast as possible).",
)
@click.option(
    "--jsonl",
    type=click.File("w", encoding="utf-8", lazy=False),
    default=None,
    help="Write every caption event as one JSON line to this file ('-': stdout).",
)
@click.option("--model", default=None, help="Override whisper.model.")
@CONFIG_OPTION
def replay(
    audio: str | None,
    lang: str | None,
    channel: str | None,
    speed: float,
    jsonl: Any,
    model: str | None,
    config_path: Path | None,
) -> None:
    """Caption AUDIO as if it were live, printing captions as they come.

    Without AUDIO, every configured channel's source is captioned at once (the
    default event replays its bundled Korean and English recordings).
    """
    from companion.glossary import load_event_glossary
    from workers.captioner.audio import AudioSource
    from workers.captioner.factory import build_captioner, load_engine
    from workers.captioner.replay import Printer
    from workers.captioner.replay import replay as run_replay

    config = event_config(config_path, model)
    if audio is not None:
        ch = config.channel(channel) if channel else None
        language = lang or (ch.language if ch else None)
        if not language:
            raise ConfigError("--lang is required with AUDIO (or give --channel)")
        jobs = [(ch.id if ch else ("floor" if language == "auto" else language), language, audio)]
    elif channel:
        c = config.channel(channel)
        jobs = [(c.id, lang or c.language, config.resolve(c.source))]
    else:  # the event's captioners: the floor and the booths, or each channel's own
        jobs = [(c.id, lang or c.language, c.source) for c in config.captioners()]
        skipped = [cid for cid, _, src in jobs if src == CONSOLE_SOURCE]
        if skipped:
            click.echo(f"not replayed (console microphone): {', '.join(skipped)}", err=True)
        jobs = [job for job in jobs if job[2] != CONSOLE_SOURCE]
    sources = [AudioSource(src, speed=speed) for _, _, src in jobs]
    engine = load_engine(config, channels=len(jobs))
    glossary = load_event_glossary(config)
    pairs = [
        (build_captioner(config, engine, cid, language, speed, glossary), source)
        for (cid, language, _), source in zip(jobs, sources, strict=True)
    ]
    out = sys.stderr if jsonl is sys.stdout else sys.stdout
    shown = ", ".join(f"{c}={redact_source(s)}" for c, _, s in jobs)
    click.echo(f"captioning {shown} at {speed}x …", err=True)
    stats = run_replay(pairs, Printer(out, jsonl, show_partials=len(pairs) == 1))
    for (cid, _, _), s in zip(jobs, stats, strict=True):
        click.echo(
            f"{cid}: {s.finals} finals, {s.partials} partials, real-time factor "
            f"{s.real_time_factor:.2f}",
            err=True,
        )
