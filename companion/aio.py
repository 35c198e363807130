"""Background tasks that live as long as a block (an app's cleanup context, a worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running(
    *coroutines: Coroutine[Any, Any, Any], name: str = "background"
) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run ``coroutines`` as tasks inside the block; cancel them and wait when it ends.

    A task that failed on its own (not cancelled) is logged with its traceback, so a
    bug in a background task is never silent.
    """
    tasks = [asyncio.create_task(c, name=f"{name}-{i}") for i, c in enumerate(coroutines)]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error("task %s failed", task.get_name(), exc_info=result)
