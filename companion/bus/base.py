"""The bus interface, shared by every backend and by the contract tests.

Caption events are kept per channel in order. The bus numbers them: ``publish``
gives each event the channel's next sequence number (1, 2, 3 … for the life of the
stream, whatever worker published it), so viewers resume from the last number they
saw with no gap and no duplicate. Event state is a small dict of JSON documents
(``"channels"``, ``"onair:booth-en"``, ``"broadcast:en"`` …), announced on change.

Publishing never raises because a backend is down: events wait in a bounded buffer
and are delivered when it is back; what falls past the bound is counted in
``BusHealth.dropped`` and logged, never silent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from companion.captions import CaptionEvent


@dataclass(frozen=True)
class BusHealth:
    """What ``/readyz`` and ``/metrics`` say about the bus."""

    backend: str
    connected: bool
    buffered: int = 0
    dropped: int = 0
    last_error: str = ""


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
