"""Audio pushed to a captioner: the interpreter console's microphone (``source = "console"``).

A booth whose source is ``console`` has no stream to open: its live interpreter's
console sends PCM over ``/ws/booth-audio`` (``service/booth_audio.py``) to whichever
replica it is connected to, which publishes each frame on the bus
(``Bus.publish_audio``: in memory, or a short Redis stream per booth). The booth's
captioner, in ``companion serve`` or in ``companion worker caption --booth`` on
another machine, ``relay``s the booth's frames from the bus into a ``PushSource`` of
its own, and reads ``chunks()`` in its own thread, as it would read a live source.
Going through the bus in one process too keeps one path everywhere: the service
never needs to know where the booth's captioner runs.

The format is little-endian signed 16-bit mono PCM at 16 kHz (``SAMPLE_RATE``).

A live stream never stops, but a console does (the interpreter mutes the browser,
hands over, the network hiccups). When nothing arrives for ``idle`` seconds,
``chunks()`` yields silence for the time that passed, so the captioner's audio
clock keeps real time and the voice activity detector ends the utterance that was
going on, as it would on a real microphone's silence.

The queue between the two threads is bounded (10 s of audio, whatever the frames'
sizes): when the captioner's reader falls behind, the oldest audio is dropped (the
live edge matters more) and counted in ``dropped``. This module imports numpy only
when ``chunks()`` runs, so the service can import it and still start fast.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from companion.bus.base import Bus

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # as workers.captioner.audio.SAMPLE_RATE, without importing PyAV
BYTES_PER_SAMPLE = 2
MAX_QUEUED = 10 * SAMPLE_RATE  # samples (10 s) queued before the oldest frames are dropped
IDLE_SECONDS = 0.25  # after this long without audio, silence keeps the clock going
MAX_SILENCE_SECONDS = 2.0  # the longest silence yielded at once (after a stall)


class PushSource:
    """One booth's pushed audio: ``feed`` from one thread, ``chunks`` in another."""

    def __init__(
        self,
        name: str,
        max_queued: int = MAX_QUEUED,
        idle: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.idle = idle
        self.clock = clock
        self._queue: deque[bytes] = deque()
        self._max_queued = max_queued  # samples, whatever the frames' sizes
        self._queued = 0
        self._ready = threading.Condition()
        self._closed = False
        self.fed = 0  # frames taken
        self.dropped = 0  # frames dropped because the queue was full

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, pcm: bytes) -> bool:
        """Queue one frame of PCM; ``False`` when closed. The oldest frame goes when full.

        Raises ``ValueError`` for a frame that is not whole 16-bit samples.
        """
        if len(pcm) % BYTES_PER_SAMPLE:
            raise ValueError(f"{len(pcm)} bytes is not a whole number of 16-bit samples")
        with self._ready:
            if self._closed:
                return False
            self._queue.append(bytes(pcm))
            self._queued += len(pcm) // BYTES_PER_SAMPLE
            while self._queued > self._max_queued and len(self._queue) > 1:
                self._queued -= len(self._queue.popleft()) // BYTES_PER_SAMPLE
                self.dropped += 1
            self.fed += 1
            self._ready.notify()
        return True

    def chunks(self) -> Iterator[np.ndarray]:
        """Float32 chunks of what was fed, or of silence while nothing comes; until closed.

        Blocking: for the captioner's thread. Every ``idle`` seconds at the latest it
        yields something, so a reader can check whether it should stop.
        """
        import numpy as np

        scale = np.float32(1 / 32768)
        last = self.clock()
        while True:
            with self._ready:
                if not self._queue and not self._closed:
                    self._ready.wait(self.idle)
                frames = list(self._queue)
                self._queue.clear()
                self._queued = 0
                closed = self._closed
            now = self.clock()
            if frames:
                pcm = np.frombuffer(b"".join(frames), dtype="<i2")
                yield pcm.astype(np.float32) * scale
            elif closed:
                return
            else:
                gap = min(now - last, MAX_SILENCE_SECONDS)
                samples = int(gap * SAMPLE_RATE)
                if samples <= 0:
                    continue
                yield np.zeros(samples, dtype=np.float32)
            last = now

    def close(self) -> None:
        """End ``chunks()`` (after what is queued) and refuse any further ``feed``."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


async def relay(bus: Bus, booth: str, source: PushSource) -> None:
    """Feed ``source`` the frames of ``booth``'s microphone from ``bus``, from now on,
    until cancelled, the bus closes or ``source`` is closed."""
    async for pcm in bus.follow_audio(booth):
        try:
            if not source.feed(pcm):
                return
        except ValueError as exc:  # the service checks frames; only a foreign publisher's
            log.warning("%s: a microphone frame was skipped: %s", booth, exc)
