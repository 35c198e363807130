"""Waiting in tests: poll a condition until it holds, never sleep a fixed time and hope.

The one place that defines waiting. ``until`` is for async tests; the check may be a
plain function or a coroutine function. ``until_sync`` is the same for tests whose
thread is busy otherwise (Playwright's sync API, subprocess workers). Both return the
first true value the check gives, and fail with an ``AssertionError`` that names what
was awaited and for how long. Each caller passes the timeout its wait deserves when
the default does not fit.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 10.0  # seconds


def _timed_out(what: str, timeout: float) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def until(
    check: Callable[[], T | Awaitable[T]], what: str, timeout: float = TIMEOUT, every: float = 0.01
) -> T:
    """Poll ``check`` every ``every`` seconds until it gives something true; that value.

    A check that hangs is cut off at the timeout too.
    """
    try:
        async with asyncio.timeout(timeout) as scope:
            while True:
                value = check()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(every)
    except TimeoutError:
        if scope.expired():
            raise _timed_out(what, timeout) from None
        raise


def until_sync(
    check: Callable[[], T], what: str, timeout: float = TIMEOUT, every: float = 0.05
) -> T:
    """``until`` for a thread of its own: blocks, polling ``check``; its first true value."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(every)
    return value
