"""The bus interface, shared by every backend and by the contract tests.

Caption events are kept per channel in order. The bus numbers them: ``publish``
gives each event the channel's next sequence number (1, 2, 3 … for the life of the
stream, whatever worker published it), so viewers resume from the last number they
saw with no gap and no duplicate. Event state is a small dict of JSON documents
(``"channels"``, ``"onair:booth-en"``, ``"broadcast:en"`` …), announced on change.
The bus numbers every write of a document too (its version), so a writer may store
documents only if none has changed since it read them (``set_state_if``): what the
service replicas' booth desks use to act as one.

Publishing never raises because a backend is down: events wait in a bounded buffer
and are delivered when it is back; what falls past the bound is counted in
``BusHealth.dropped`` and logged, never silent.

A booth's console microphone travels on the bus too (``publish_audio``,
``follow_audio``): frames of PCM from the replica the interpreter is connected to,
to the booth's captioner wherever it runs. Audio is live or worthless, so it is
never kept for later: the bus holds a few seconds per booth, a follower starts at
the live edge, and a frame the backend cannot take is dropped and counted in
``BusHealth.audio_dropped``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from companion.captions import CaptionEvent

AUDIO_HELD = 50  # frames of a booth's microphone the bus holds: 5 s of 100 ms frames


@dataclass(frozen=True)
class BusHealth:
    """What ``/readyz`` and ``/metrics`` say about the bus."""

    backend: str
    connected: bool
    buffered: int = 0
    dropped: int = 0
    last_error: str = ""
    audio_dropped: int = 0  # microphone frames the bus could not deliver (``publish_audio``)


@dataclass(frozen=True)
class StateEntry:
    """One state document as ``get_state_entries`` reads it: its version and value.

    Every write of a document gives it a version greater than any before it (on Redis:
    for the life of its data); a key with no document has version 0 and value None.
    """

    version: int
    value: dict[str, Any] | None


def check_transaction(expected: Mapping[str, int], values: Mapping[str, dict[str, Any]]) -> None:
    """Raise ``ValueError`` unless ``set_state_if`` may store ``values`` under ``expected``."""
    if not values:
        raise ValueError("set_state_if has nothing to store")
    unguarded = sorted(set(values) - set(expected))
    if unguarded:
        raise ValueError(f"set_state_if stores {unguarded} without expecting their versions")


def stamped(value: dict[str, Any], version: int) -> dict[str, Any]:
    """``value`` as ``set_state_if`` stores it: with ``version`` first, as ``"version"``."""
    return {"version": version, **{k: v for k, v in value.items() if k != "version"}}


class Bus(Protocol):
    """Caption streams per channel and the shared event state."""

    async def start(self) -> None:
        """Connect and start background work (idempotent)."""

    async def close(self) -> None:
        """Flush what can be flushed, stop background work, disconnect."""

    async def publish(self, event: CaptionEvent) -> None:
        """Append ``event`` to its channel's stream; the bus assigns ``seq``."""

    async def read(self, channel: str, after: int, limit: int = 1000) -> list[CaptionEvent]:
        """Events of ``channel`` with ``seq > after``, oldest first, at most ``limit``."""

    async def recent_finals(self, channel: str, limit: int) -> list[CaptionEvent]:
        """The last ``limit`` final events of ``channel``, oldest first."""

    def follow(self, channel: str, after: int) -> AsyncIterator[CaptionEvent]:
        """Every event of ``channel`` with ``seq > after``, then each new one as it comes."""

    async def set_state(self, key: str, value: dict[str, Any]) -> None:
        """Store one state document and announce the change."""

    async def get_state(self) -> dict[str, dict[str, Any]]:
        """Every state document."""

    async def delete_state(self, key: str) -> None:
        """Forget one state document (best effort, unannounced): a replica's own
        report (``listeners:<instance>``) when it stops."""

    def state_changes(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Each ``(key, value)`` stored from now on, by any process."""

    async def get_state_entries(self, keys: Sequence[str]) -> dict[str, StateEntry]:
        """The documents ``keys`` with their versions, read at one instant.

        Raises ``BusUnavailableError`` when the backend cannot answer: what a caller
        decides from them must rest on the stored documents, never on an old copy.
        """

    async def set_state_if(
        self, expected: Mapping[str, int], values: Mapping[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]] | None:
        """Compare and set: store ``values`` only if every key of ``expected`` still has
        the version given (0: no document); all of them or none, atomic across processes.

        Each stored document gets a new version, written into it as ``"version"``
        (replacing any it had), and is announced to ``state_changes`` like a
        ``set_state``, in the order of ``values`` and in the same step: no other
        change comes between a transaction's documents. Returns the documents as
        stored, or None when a version had moved (someone wrote first: read again and
        decide again). Every key of ``values`` must be in ``expected``, and ``values``
        must not be empty (``ValueError``). Nothing waits for later: raises
        ``BusUnavailableError`` when the backend cannot answer.
        """

    async def add_to_counter(self, key: str, amount: int, ttl_seconds: float) -> int:
        """Add ``amount`` to the shared counter ``key`` and return its new total.

        Atomic across processes; the counter starts at 0 and is forgotten
        ``ttl_seconds`` after its last change (``amount=0`` reads it and refreshes
        that). Raises ``BusUnavailableError`` when the backend cannot answer.
        """

    def health(self) -> BusHealth:
        """Connection, buffer and drop counts, without I/O."""

    async def claim(self, key: str, owner: str, ttl_seconds: float) -> bool:
        """Take, or keep, the lease ``key`` for ``owner``; True if ``owner`` holds it now.

        Atomic across processes: while one owner holds the lease (it renews it within
        ``ttl_seconds``), every other owner's claim is refused; once it lapses the next
        claim wins. Raises ``BusUnavailableError`` when the backend cannot answer.
        """

    async def put_segment(self, channel: str, n: int, doc: str, ttl_seconds: float) -> bool:
        """Store segment ``n`` of ``channel`` unless it is stored already; True if stored.

        Set-if-absent and atomic across processes: a stored segment never changes, so
        a second writer of the same ``n`` is refused (False) and must read it instead.
        Forgotten ``ttl_seconds`` after it was stored. Raises ``BusUnavailableError``
        when the backend cannot answer.
        """

    async def get_segment(self, channel: str, n: int) -> str | None:
        """Segment ``n`` of ``channel`` exactly as stored, or None (not yet, or expired).

        Raises ``BusUnavailableError`` when the backend cannot answer.
        """

    async def set_latest_segment(self, channel: str, n: int, doc: str, ttl_seconds: float) -> bool:
        """Store ``doc`` as ``channel``'s latest segment document if ``n`` is past the
        stored one's (or none is stored); True if stored. It never moves back, even if a
        writer that lost its lease is still finishing. Forgotten ``ttl_seconds`` after
        it was stored. Raises ``BusUnavailableError`` when the backend cannot answer.
        """

    async def get_latest_segment(self, channel: str) -> str | None:
        """The latest segment document of ``channel`` as stored, or None.

        Raises ``BusUnavailableError`` when the backend cannot answer.
        """

    def publish_audio(self, booth: str, pcm: bytes) -> None:
        """Hand one frame of ``booth``'s microphone to the bus, without waiting.

        Never raises and never blocks on the backend: a frame it cannot deliver soon
        (the backend is down, or a bounded handful already waits) is dropped and
        counted in ``BusHealth.audio_dropped``.
        """

    def follow_audio(self, booth: str) -> AsyncIterator[bytes]:
        """The frames of ``booth``, by any process, published once the iterator has
        started (the live edge), in order; after an outage, only those still fresh.
        A follower that falls ``AUDIO_HELD`` frames behind loses the oldest (counted).
        Ends when the bus is closed."""
