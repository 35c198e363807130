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
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from companion.config.sections import (
    _URL,
    CONSOLE_SOURCE,
    ArchiveSettings,
    BoothConfig,
    CaptionerSettings,
    ChannelConfig,
    ChannelYouTube,
    EventInfo,
    FloorConfig,
    InterpreterConfig,
    ServiceTable,
    SessionConfig,
    WhisperSettings,
    YouTubeSettings,
    _Strict,
)
from companion.errors import ConfigError

__all__ = [
    "CONSOLE_SOURCE",
    "DEFAULT_CONFIG",
    "ArchiveSettings",
    "BoothConfig",
    "CaptionerSettings",
    "CaptionerSpec",
    "ChannelConfig",
    "ChannelYouTube",
    "EventConfig",
    "EventInfo",
    "FloorConfig",
    "InterpreterConfig",
    "ServiceTable",
    "SessionConfig",
    "WhisperSettings",
    "YouTubeSettings",
    "default_config_path",
    "load_config",
    "parse_config",
    "parse_override",
    "settings_table",
]

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "event.toml"


@dataclass(frozen=True)
class CaptionerSpec:
    """One captioner the event runs: its id (a channel's, ``floor`` or a booth's), the
    language it decodes (``auto`` for the floor: detected per utterance), its source
    (resolved; ``console`` for a booth fed by its interpreter's console), and its kind."""

    id: str
    language: str
    source: str
    kind: str  # "channel", "floor" or "booth"


def default_config_path(env: Mapping[str, str]) -> Path:
    """``$COMPANION_CONFIG``, else ``./config/event.toml``, else the checkout's own."""
    if env.get("COMPANION_CONFIG"):
        return Path(env["COMPANION_CONFIG"])
    here = Path("config") / "event.toml"
    return here if here.is_file() else DEFAULT_CONFIG


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
    service: ServiceTable = Field(default_factory=lambda: ServiceTable())
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
        # each reads its token from COMPANION_TOKEN_<ID> (upper case, - as _): two ids
        # that give one name would share a token
        names: dict[str, str] = {}
        for person in people:
            name = person.upper().replace("-", "_")
            if name in names:
                raise ValueError(
                    f"interpreter ids '{names[name]}' and '{person}' share the token "
                    f"variable COMPANION_TOKEN_{name}: rename one"
                )
            names[name] = person
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

    def captioners(self) -> tuple[CaptionerSpec, ...]:
        """Every captioner the event runs: the one list that ``serve``, ``worker
        caption``, ``replay``, the dashboard, ``/readyz`` and ``/metrics`` all use.

        With a floor source: the floor (language detected per utterance) and each booth
        that has a source; the router sends their captions to the channels that carry
        them. Without: one per channel, from the channel's own source.
        """
        if self.floor.source:
            language = {c.id: c.language for c in self.channels}
            return (
                CaptionerSpec("floor", "auto", self.resolve(self.floor.source), "floor"),
                *(
                    CaptionerSpec(b.id, language[b.channel], self.resolve(b.source), "booth")
                    for b in self.booths
                    if b.source
                ),
            )
        return tuple(
            CaptionerSpec(c.id, c.language, self.resolve(c.source), "channel")
            for c in self.channels
        )

    def captioner_spec(self, captioner_id: str) -> CaptionerSpec:
        """The captioner called ``captioner_id`` (a channel, ``floor`` or a booth), as
        ``companion worker caption`` runs it, even one ``captioners()`` leaves out (a
        channel's own captioner when the event has a floor); ``ConfigError`` if none."""
        for spec in self.captioners():
            if spec.id == captioner_id:
                return spec
        if captioner_id == "floor":
            return CaptionerSpec("floor", "auto", self.resolve(self.floor.source), "floor")
        for b in self.booths:
            if b.id == captioner_id:
                lang = self.channel(b.channel).language
                return CaptionerSpec(b.id, lang, self.resolve(b.source), "booth")
        c = self.channel(captioner_id)
        return CaptionerSpec(c.id, c.language, self.resolve(c.source), "channel")

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
        ("service", ServiceTable),
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
