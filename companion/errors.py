"""The one exception tree of the project.

::

    CompanionError                 anything this project raises on purpose
    ├── ConfigError                a config file or setting is wrong (names the key)
    ├── ModelError                 a Whisper model cannot be found or prepared
    │   └── ModelMissingError      ... and names the ``pip install`` that fixes it
    ├── SourceError                an audio source cannot be opened or decoded
    ├── BusUnavailableError        the bus cannot answer a read now (Redis is down)
    ├── PublishError               a caption event could not be handed on
    ├── TranscriptError            an archive request names no such session, caption or format
    │   └── ProgrammeError         ... or a session cannot start or end now (already running …)
    └── YouTubeError               the YouTube Data API refused a call (bad key, not found …)
        ├── QuotaExceededError     ... the day's quota is spent: wait for midnight Pacific
        └── YouTubeUnavailableError  ... for now (5xx, 429, rate limit, network): back off

The CLI maps every ``CompanionError`` to its message and a non-zero exit status
(``EXIT_CODES``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CompanionError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(CompanionError):
    """A config file or setting is invalid; the message names the key."""


class ModelError(CompanionError):
    """A Whisper model cannot be found, joined or loaded."""


class ModelMissingError(ModelError):
    """The model's package is not installed; the message names the pip command."""


class SourceError(CompanionError):
    """An audio source cannot be opened or holds no decodable audio."""


class BusUnavailableError(CompanionError):
    """The bus cannot answer a read now (its Redis is down); try again later."""


class PublishError(CompanionError):
    """A caption event could not be handed to its publisher."""


class TranscriptError(CompanionError):
    """A transcript request names no such session, language, caption or format."""


class ProgrammeError(TranscriptError):
    """A session cannot be started or ended now; the message says why."""


class YouTubeError(CompanionError):
    """The YouTube Data API refused a call; the message says why (never the key)."""


class QuotaExceededError(YouTubeError):
    """YouTube answered ``quotaExceeded``: no call until the reset at midnight Pacific."""


class YouTubeUnavailableError(YouTubeError):
    """A 5xx, a 429, a rate limit or a network failure: retry later, with backoff."""


EXIT_CODES: dict[type[CompanionError], int] = {
    ConfigError: 2,
    ModelError: 3,
    ModelMissingError: 3,
    SourceError: 4,
    PublishError: 5,
}


def exit_code(error: CompanionError) -> int:
    """The process exit status for ``error`` (1 for an unlisted subclass)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
