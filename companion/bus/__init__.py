"""The bus between captioners and services: caption streams and shared event state.

``Bus`` (in ``base``) is the one small interface; ``MemoryBus`` is the one-process
default and ``RedisBus`` (Redis Streams, redis-py's asyncio client) is how several
processes on several machines share one truth. ``open_bus(redis_url)`` picks one.
"""

from __future__ import annotations

from companion.bus.base import Bus, BusHealth, StateEntry
from companion.bus.memory import MemoryBus

__all__ = ["Bus", "BusHealth", "MemoryBus", "StateEntry", "open_bus"]


def open_bus(redis_url: str | None, namespace: str = "companion") -> Bus:
    """A ``RedisBus`` on ``redis_url`` when one is given, else a one-process ``MemoryBus``.

    redis is imported only when a URL is given, so the embedded default never loads it.
    """
    if redis_url:
        from companion.bus.redis import RedisBus

        return RedisBus(redis_url, namespace=namespace)
    return MemoryBus()
