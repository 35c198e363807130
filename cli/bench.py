"""``companion bench …``: the benchmarks' command line (they live in ``bench/``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from cli.options import CONFIG_OPTION, event_config
from companion.captions import CaptionEvent
from companion.config import EventConfig
from companion.errors import ConfigError


@click.group()
def bench() -> None:
    """Benchmarks that print their figures as JSON."""


Command = TypeVar("Command", bound=Callable[..., Any])
LANG_OPTION = click.option("--lang", required=True, help="Language of AUDIO (ko, en, …).")


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

        config = event_config(config_path, model)
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
    click.option(
        "--seeds",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Room: renderings to replay (seeds SEED to SEED+N-1), each RUNS times; "
        "room_over_seeds gives each seed's figures and their mean.",
    ),
)


def track_options(f: Command) -> Command:
    decorated: Any = f
    for option in reversed(TRACK_OPTIONS):
        decorated = option(decorated)
    return cast(Command, decorated)


@bench.command("latency")
@click.argument("audio")
@LANG_OPTION
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
    seeds: int,
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
        seeds=seeds,
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


@bench.command("decode")
@click.argument("audio")
@LANG_OPTION
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Beside one thread, time this many (0: the machine's cores).",
)
@click.option("--repeats", type=click.IntRange(min=1), default=2, show_default=True)
@CONFIG_OPTION
def bench_decode(
    audio: str, lang: str, threads: int, repeats: int, config_path: Path | None
) -> None:
    """Time the captioner's decodes on AUDIO's 3, 6 and 12 s windows: a final (beam 5,
    word times) and a partial (greedy), on one thread and on THREADS, and a final and a
    partial at once; print the medians in seconds (bench/decode.py)."""
    from bench.decode import run_decode
    from workers.captioner.audio import decode_file

    report = run_decode(event_config(config_path), decode_file(audio), lang, threads, repeats)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


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
@click.option(
    "--redis",
    "redis_url",
    default=None,
    metavar="URL",
    help="Through Redis at URL (a namespace of its own, deleted after): the scaled-out "
    "path, each join reading the channel's backlog.",
)
@click.option("--crowd", is_flag=True, help="Every viewer connects at once, on one signal.")
def bench_fanout(
    viewers: int,
    rate: float,
    seconds: float,
    processes: int,
    sample: int,
    port: int,
    redis_url: str | None,
    crowd: bool,
) -> None:
    """Fan captions out to VIEWERS websocket viewers on this machine; print the figures."""
    from bench.fanout import run_fanout

    report = run_fanout(
        viewers, rate, seconds, processes, port, sample, redis_url=redis_url, crowd=crowd
    )
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@bench.command("cdn")
@click.option("--viewers", type=click.IntRange(min=1), required=True, help="Viewers polling.")
@click.option("--seconds", type=click.FloatRange(min=1), default=20.0, show_default=True)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between a viewer's polls of latest.json.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Final captions published per second.",
)
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--segment-seconds", type=click.FloatRange(min=0.5, max=10), default=2.0, show_default=True
)
def bench_cdn(
    viewers: int, seconds: float, poll: float, rate: float, processes: int, segment_seconds: float
) -> None:
    """VIEWERS viewers poll the segment feed through nginx (deploy/nginx/nginx.conf) in
    front of the service; print viewer and origin requests per second, availability
    latency and CPU (bench/cdn.py)."""
    from bench.cdn import run_cdn

    report = run_cdn(viewers, seconds, poll, rate, processes, segment_seconds)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@bench.command("fuzz")
@click.option("--messages", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--bystanders", type=click.IntRange(min=1), default=3, show_default=True)
def bench_fuzz(messages: int, seed: int, bystanders: int) -> None:
    """Send MESSAGES random and malformed messages at the viewer, console and microphone
    sockets while BYSTANDERS viewers follow a channel; print what happened (bench/fuzz.py)."""
    from bench.fuzz import run_fuzz

    report = run_fuzz(messages, seed, bystanders)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@bench.command("mic")
@click.option(
    "--seconds",
    type=click.FloatRange(min=1),
    default=180.0,
    show_default=True,
    help="Frames sent per set-up (ten a second).",
)
@click.option(
    "--redis",
    "redis_url",
    default=None,
    help="This Redis (default: a private redis-server, append-only, fsync always).",
)
def bench_mic(seconds: float, redis_url: str | None) -> None:
    """Time each console microphone frame from the socket to the booth captioner's push
    source, in process and through Redis; print p50/p95/p99/max and what Redis adds
    (bench/mic.py)."""
    import asyncio

    from bench.mic import run_mic

    report = asyncio.run(run_mic(seconds, redis_url))
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


@bench.command("drill")
@click.option(
    "--seconds-between",
    type=click.FloatRange(min=0),
    default=12.0,
    show_default=True,
    help="Steady running before the first kill and after each one.",
)
@click.option("--viewers", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--recording",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="What the captioner replays live, in a loop (default: config/demo/jfk.flac).",
)
@click.option(
    "--redis-down",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds Redis stays down before it is started again.",
)
@click.option("--model", default="base", show_default=True, help="The captioner's whisper.model.")
@click.option("--keep", is_flag=True, help="Keep the drill's directory (logs, AOF, archive).")
def bench_drill(
    seconds_between: float,
    viewers: int,
    recording: Path | None,
    redis_down: float,
    model: str,
    keep: bool,
) -> None:
    """Run Redis (append-only), two replicas, a captioner, the archiver, a poster and
    VIEWERS viewers; SIGKILL each kind in turn, Redis last, and start it again; print
    what was published, archived, posted and seen, duplicates, gaps and how long each
    process took to come back (bench/drill.py)."""
    from bench.drill import run_drill

    report = run_drill(
        viewers,
        seconds_between,
        recording,
        keep,
        model,
        redis_down,
        progress=lambda line: click.echo(line, err=True),
    )
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
