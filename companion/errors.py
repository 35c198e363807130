"""The one exception tree of the project.

::

    CompanionError                 anything this project raises on purpose
    ├── ConfigError                a config file or setting is wrong (names the key)
    │   └── GlossaryError          ... the glossary file (names file and line; also a ValueError)
    ├── ModelError                 a Whisper model cannot be found or prepared
    │   └── ModelMissingError      ... and names the ``pip install`` that fixes it
    ├── SourceError                an audio source cannot be opened or decoded
    ├── BusUnavailableError        the bus cannot answer a read now (Redis is down)
    ├── PublishError               a caption event could not be handed on
    ├── ArchiveUnavailableError    the archive cannot be read or written now (disk, rights)
    │   └── ArchiveLockedError     ... another archiver holds its lock (also an OSError)
    ├── PosterError                a caption poster cannot go on as it was
    │   ├── LostClaim              ... another poster took the channel: stand by
    │   ├── OutboxError            ... a post was numbered out of turn (a bug in the caller)
    │   └── TrialRefused           ... a test caption cannot take the channel's next seq now
    ├── RequestError               a client asked for something wrong (the message is safe to show)
    │   ├── BadRequestError        ... a body or field the route cannot take (``code`` says which)
    │   ├── TooLargeError          ... a body over the limit
    │   ├── TokenRequiredError     ... no token where one is needed
    │   ├── TokenRefusedError      ... a token that is not the right one
    │   ├── ProtocolError          ... a viewer broke the viewer protocol (``code``, ``message``)
    │   ├── TooManyBadFrames       ... a console sent too many frames that are not PCM
    │   ├── MicrophoneFloodError   ... a console sent audio much faster than real time
    │   ├── Refused                ... the booth desk's rules refuse an action now (``reason``)
    │   ├── TooManySocketsError    ... the service holds all the sockets it takes: try again later
    │   ├── CaptionTrialError      ... a test caption cannot be asked now (no poster, one pending)
    │   └── TranscriptError        ... an archive request names no such session, caption or format
    │       └── ProgrammeError     ... or a session cannot start or end now (already running …)
    └── YouTubeError               the YouTube Data API refused a call (bad key, not found …)
        ├── QuotaExceededError     ... the day's units are spent: wait for midnight Pacific
        │   └── SearchQuotaExceededError  ... only search.list's own bucket: other calls go on
        ├── QuotaRefused           ... not made: the shared ledger's budget does not allow it
        ├── YouTubeUnavailableError  ... for now (5xx, 429, rate limit, network): back off
        └── YouTubeFeedError       ... a channel's public feed could not be read: use the API

The CLI maps every ``CompanionError`` to its message and a non-zero exit status
(``EXIT_CODES``); anything else is a bug and keeps its traceback. The service maps
each to an HTTP status, a JSON error code and a websocket close code in one table,
``service/errors.py``. This module imports nothing of the project: the core, the
service, the workers and the CLI all raise from it.
"""

from __future__ import annotations


class CompanionError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(CompanionError):
    """A config file or setting is invalid; the message names the key."""


class GlossaryError(ConfigError, ValueError):
    """A glossary file that cannot be read or parsed; the message names file and line.

    Still a ``ValueError``, as it was before it joined the tree: it is a bad value read
    from a file, and code outside this project may catch it as one.
    """


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


class ArchiveUnavailableError(CompanionError):
    """The transcript archive cannot be read or written now (a disk or permission fault)."""


class ArchiveLockedError(ArchiveUnavailableError, OSError):
    """Another archiver holds this archive's lock.

    Also an ``OSError``: the archiver's retry loop and ``CaptionStore.open``'s callers
    treat it as one of the file system's failures (one they wait out quietly).
    """


class PosterError(CompanionError):
    """A YouTube caption poster cannot go on as it was."""


class LostClaim(PosterError):
    """Another poster holds this channel's claim now (this one was silent too long)."""


class OutboxError(PosterError):
    """A post was numbered while another is pending: a bug in the caller."""


class TrialRefused(PosterError):
    """A test caption cannot take the channel's next ``seq`` now (a poster holds the
    channel, or a post is pending); the message says why, for the organizer."""


class RequestError(CompanionError):
    """A client (a page, a console, a viewer) asked for something wrong.

    The message says what, and is safe to show the client: it never holds server
    internals.
    """


class BadRequestError(RequestError):
    """A body or field a route cannot take; ``code`` names the mistake (``bad_json`` …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TooLargeError(RequestError):
    """A request body larger than the route takes."""


class TokenRequiredError(RequestError):
    """No token, where a route or socket needs an organizer's or interpreter's."""


class TokenRefusedError(RequestError):
    """A token that is not one of the tokens the route or socket accepts."""


PROTOCOL_ERROR_CODES: tuple[str, ...] = (
    "bad_json",
    "bad_message",
    "unknown_type",
    "too_large",
    "unknown_channel",
    "flood",
)
"""The ``code`` of a ``ProtocolError`` (``service.protocol.ERROR_CODES``; docs/protocol.md)."""


class ProtocolError(RequestError):
    """A viewer's message cannot be accepted; ``message`` is safe to send back."""

    def __init__(self, code: str, message: str) -> None:
        if code not in PROTOCOL_ERROR_CODES:
            raise ValueError(f"unknown protocol error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TooManyBadFrames(RequestError):
    """A console sent ``MAX_BAD_FRAMES`` frames that are not PCM: its socket closes (1008)."""


class MicrophoneFloodError(RequestError):
    """A console kept sending audio faster than real time: its socket closes (1008)."""


class Refused(RequestError):
    """A booth action that is not allowed now; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManySocketsError(RequestError):
    """The service holds as many sockets as it takes, in all or from this address."""


class CaptionTrialError(RequestError):
    """A test caption cannot be asked of a channel's poster now; ``code`` says why:
    ``no_poster`` (none is running, or none answered) or ``pending`` (one is already
    on its way). The message is written for the organizer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TranscriptError(RequestError):
    """A transcript request names no such session, language, caption or format."""


class ProgrammeError(TranscriptError):
    """A session cannot be started or ended now; the message says why."""


class YouTubeError(CompanionError):
    """The YouTube Data API refused a call; the message says why (never the key)."""


class QuotaExceededError(YouTubeError):
    """YouTube answered ``quotaExceeded``: no call until the reset at midnight Pacific."""


class SearchQuotaExceededError(QuotaExceededError):
    """``search.list``'s own daily bucket is spent (a 403 ``quotaExceeded`` to a search,
    or a 429 naming the search quota metric): no search until the reset, the other
    methods go on."""


class QuotaRefused(YouTubeError):
    """A call was not made because the day's budget does not allow it (``str`` says why)."""


class YouTubeUnavailableError(YouTubeError):
    """A 5xx, a 429, a rate limit or a network failure: retry later, with backoff."""


class YouTubeFeedError(YouTubeError):
    """A channel's public feed failed (network, an error status, not a feed): discovery
    reads the uploads playlist instead. The message is short and holds no address."""


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
