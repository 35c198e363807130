"""How many websockets the service holds: in all, and from each address.

Every socket route admits its connection here before the upgrade; past
``max_sockets`` in all or ``max_sockets_per_address`` from one address, it is refused
with ``TooManySocketsError`` (503, ``too_many_sockets``; service/errors.py). The caps
are the event config's ``[service]`` settings. Pure bookkeeping: no I/O.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from companion.errors import TooManySocketsError


class SocketGate:
    """Counts the open sockets; ``admit`` holds one for the block's lifetime."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.open: Counter[str] = Counter()

    @property
    def count(self) -> int:
        return sum(self.open.values())

    @contextlib.contextmanager
    def admit(self, address: str | None) -> Iterator[None]:
        """Hold a socket from ``address`` (``None``: unknown) or raise ``TooManySocketsError``."""
        key = address or "?"
        if self.count >= self.total:
            raise TooManySocketsError("the service holds all the sockets it takes")
        if self.open[key] >= self.per_address:
            raise TooManySocketsError("too many sockets from this address")
        self.open[key] += 1
        try:
            yield
        finally:
            self.open[key] -= 1
            if self.open[key] <= 0:
                del self.open[key]
