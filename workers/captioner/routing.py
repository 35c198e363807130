"""Which channels a floor's or a booth's captions go to, following the booths' state.

With interpretation booths, captioners listen to sources, not channels: one to the
floor (its language detected per utterance) and one per booth. ``Router`` keeps the
channels' carriage (the ``channel:<id>`` documents the service's booth desk
publishes) and tells ``caption_channel`` where each event goes
(``companion.booths.targets``). The floor's router also follows the floor's language
from its final captions (``FloorLanguage``) and publishes it as the ``floor``
document when it changes, which re-routes the channels.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from companion.booths import Carriage, FloorLanguage, targets
from companion.bus.base import Bus
from companion.captions import CaptionEvent

log = logging.getLogger(__name__)


def carriages_from_state(state: dict[str, dict[str, Any]]) -> dict[str, Carriage]:
    """The ``channel:<id>`` documents of the event state, as ``Carriage``s."""
    out: dict[str, Carriage] = {}
    for key, doc in state.items():
        if key.startswith("channel:"):
            try:
                out[key[len("channel:") :]] = Carriage.from_dict(doc)
            except TypeError as exc:
                log.warning("ignoring a malformed %s document: %r", key, exc)
    return out


class Router:
    """Where the events of one source (``"floor"`` or a booth id) go."""

    def __init__(self, source: str, bus: Bus, carriages: dict[str, Carriage]) -> None:
        self.source = source
        self.bus = bus
        self.carriages = dict(carriages)
        self.floor: FloorLanguage | None = None
        if source == "floor":
            first = next(iter(carriages.values()), None)
            self.floor = FloorLanguage(first.floor_lang if first else "")

    @classmethod
    async def start(cls, source: str, bus: Bus) -> Router:
        """A router with the carriage the bus holds now."""
        return cls(source, bus, carriages_from_state(await bus.get_state()))

    def targets(self, event: CaptionEvent) -> list[str]:
        """The channels ``event`` goes to now."""
        return targets(self.source, event.lang, self.carriages)

    def heard(self, event: CaptionEvent) -> dict[str, Any] | None:
        """A final floor caption was heard: the new ``floor`` document if the language changed."""
        if self.floor is None or not event.final:
            return None
        if self.floor.observe(event.lang, len(event.words) or len(event.text.split())):
            log.info("the floor now speaks %s", self.floor.lang)
            return {"lang": self.floor.lang, "at": time.time(), "by": "detected"}
        return None

    async def follow(self) -> None:
        """Keep the carriage up to date; forever."""
        async for key, value in self.bus.state_changes():
            if key.startswith("channel:"):
                self.carriages.update(carriages_from_state({key: value}))
            elif key == "floor" and self.floor is not None and value.get("lang"):
                self.floor.lang = str(value["lang"])  # an interpreter set it, or a replica
