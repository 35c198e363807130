"""Audio sources: anything PyAV (FFmpeg) opens, decoded to 16 kHz mono float32.

A source spec is a file path, a URL (http(s), HLS ``.m3u8``, ``rtmp://``,
``srt://``, ``udp://``, ``rtsp://`` …) or a capture device written
``FORMAT:DEVICE`` (``alsa:default``, ``pulse:default``, ``avfoundation::0``,
``dshow:audio=Mic``, ``lavfi:sine=f=440``). ``open_source`` opens it at once, so a
bad source fails before any model is loaded, with a ``SourceError`` that says
what could not be opened and why.

Recordings can be paced at ``speed`` times real time so that they behave like a
live feed (``speed=0``: as fast as they decode). Live sources are never paced.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from companion.errors import SourceError
from companion.redact import redact_source, redact_text

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DEVICE_FORMATS = ("alsa", "pulse", "avfoundation", "dshow", "jack", "oss", "lavfi", "openal")
LIVE_SCHEMES = ("rtmp", "rtmps", "srt", "udp", "rtp", "rtsp", "tcp")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)


@dataclass(frozen=True)
class SourceSpec:
    """How to open a source: the URL or path, the FFmpeg input format, and liveness."""

    url: str
    format: str | None
    live: bool


def parse_source(spec: str) -> SourceSpec:
    """Classify a source spec (pure)."""
    spec = spec.strip()
    if not spec:
        raise SourceError("no audio source given (set the channel's source or pass one)")
    head, sep, rest = spec.partition(":")
    if sep and head in DEVICE_FORMATS and not rest.startswith("//"):
        return SourceSpec(rest, head, live=head != "lavfi")
    match = _SCHEME.match(spec)
    if match:
        scheme = match.group(1).lower()
        live = scheme in LIVE_SCHEMES or ".m3u8" in spec.lower()
        return SourceSpec(spec, None, live)
    return SourceSpec(spec, None, live=False)


class AudioSource:
    """An opened source that yields chunks of 16 kHz mono float32 audio."""

    def __init__(
        self, spec: str, speed: float = 1.0, chunk_seconds: float = 0.1, timeout: float = 10.0
    ) -> None:
        import av

        self.spec = parse_source(spec)
        shown = redact_source(self.spec.url)  # error messages reach /readyz and the logs
        self.speed = 0.0 if self.spec.live else speed
        self.chunk = int(SAMPLE_RATE * chunk_seconds)
        options = {"rw_timeout": str(int(timeout * 1e6))} if _SCHEME.match(self.spec.url) else {}
        try:
            self._container: Any = av.open(
                self.spec.url, format=self.spec.format, options=options, timeout=timeout
            )
        except FileNotFoundError:
            raise SourceError(f"cannot open audio source {shown!r}: no such file") from None
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"cannot open audio source {shown!r}: {_reason(exc)}") from None
        if not self._container.streams.audio:
            self._container.close()
            raise SourceError(f"audio source {shown!r} has no audio stream (is it an audio file?)")
        self._stream = self._container.streams.audio[0]
        self.samples_read = 0

    @property
    def duration(self) -> float | None:
        """Seconds of audio in a recording, when the container says."""
        d = self._container.duration
        return float(d) / 1e6 if d else None

    def _decoded(self) -> Iterator[np.ndarray]:
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in self._container.decode(self._stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
        except av.FFmpegError as exc:
            raise SourceError(
                f"audio source {redact_source(self.spec.url)!r} failed: {_reason(exc)}"
            ) from None

    def chunks(self) -> Iterator[np.ndarray]:
        """Chunks of ``chunk_seconds``, paced at ``speed`` x real time for recordings."""
        began = time.monotonic()
        pending = np.zeros(0, dtype=np.float32)
        got_any = False
        for block in self._decoded():
            pending = np.concatenate([pending, block]) if len(pending) else block
            while len(pending) >= self.chunk:
                piece, pending = pending[: self.chunk], pending[self.chunk :]
                got_any = True
                yield self._paced(piece, began)
        if len(pending):
            got_any = True
            yield self._paced(pending, began)
        if not got_any:
            raise SourceError(
                f"audio source {redact_source(self.spec.url)!r} holds no decodable audio"
            )

    def _paced(self, piece: np.ndarray, began: float) -> np.ndarray:
        self.samples_read += len(piece)
        if self.speed > 0:
            due = began + self.samples_read / SAMPLE_RATE / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return piece.astype(np.float32, copy=False)

    def close(self) -> None:
        self._container.close()


def _reason(exc: BaseException) -> str:
    """Why PyAV failed, without the address it may quote (``redact_text``)."""
    text = getattr(exc, "strerror", None) or str(exc)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(text)).strip() or type(exc).__name__
    return redact_text(text)


def decode_file(path: str) -> np.ndarray:
    """A whole recording as one 16 kHz mono float32 array (for offline baselines)."""
    source = AudioSource(path, speed=0.0, chunk_seconds=10.0)
    try:
        parts = list(source.chunks())
    finally:
        source.close()
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
