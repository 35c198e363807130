"""A fake YouTube caption ingestion endpoint, and the test clock it and the posters share.

The endpoint records every POST (its ``seq``, headers and body) and answers as the
test tells it: 200, an error status, or not at all until released. Like YouTube, it
refuses a post with a cue more than 60 s from its clock (HTTP 400, "Timestamp skew"),
and an accepted one gets its server time in the body. Its clock and the posters' are
the test's (``TestClock``): real time from a chosen start, moved on at will, so an
outage of minutes passes at once; ``skew`` puts YouTube's clock ahead of it.

``cut()`` makes it unreachable, as a network outage looks to a poster: a post never
reaches YouTube (it is counted in ``lost``, not ``received``) and gets no answer;
``restore()`` ends the outage, and the posts held meanwhile lose their connection,
as they would to the poster's timeout.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web

from workers.poster.format import parse_timestamp, timestamp

CUE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\n([^\n]*)\n")
SKEW_REFUSED = "Timestamp skew"
LIMIT = 60.0  # seconds: YouTube refuses a cue further than this from its clock


@dataclass
class Received:
    seq: int
    query: dict[str, str]
    content_type: str
    body: str
    status: int = 0  # 0: never answered


class TestClock:
    """The test's wall clock: real time from ``start``, moved on by ``advance``."""

    __test__ = False

    def __init__(self, start: float | None = None) -> None:
        self._base = time.time() if start is None else start
        self._began = time.monotonic()

    def now(self) -> float:
        return self._base + time.monotonic() - self._began

    def advance(self, seconds: float) -> None:
        self._base += seconds

    def set(self, unix: float) -> None:
        self._base, self._began = unix, time.monotonic()


class FakeIngest:
    """Records posts; ``answers`` scripts the next statuses (``None``: hold until released);
    ``down`` answers 503 to everything; a cue more than 60 s from the clock is refused;
    ``cut()`` and ``restore()`` make a network outage."""

    def __init__(self, clock: TestClock | None = None) -> None:
        self.received: list[Received] = []
        self.answers: list[int | None] = []
        self.release = asyncio.Event()
        self.clock = clock or TestClock()
        self.skew = 0.0  # YouTube's clock minus the test's
        self.down = False
        self.reasons: list[str] = []
        self.lost: list[tuple[str, int]] = []  # (cid, seq) of posts lost to an outage
        self._reachable = asyncio.Event()
        self._reachable.set()

    def youtube_now(self) -> float:
        return self.clock.now() + self.skew

    def cut(self) -> None:
        """The network is down: posts get no answer until ``restore``."""
        self._reachable.clear()

    def restore(self) -> None:
        """The network is back: the posts held since ``cut`` lose their connection."""
        self._reachable.set()

    async def handle(self, request: web.Request) -> web.Response:
        if not self._reachable.is_set():
            self.lost.append((request.query.get("cid", ""), int(request.query["seq"])))
            await self._reachable.wait()
            if request.transport is not None:
                request.transport.abort()  # the client sees its connection dropped
            return web.Response(status=503)
        got = Received(
            int(request.query["seq"]),
            dict(request.query),
            request.headers.get("Content-Type", ""),
            (await request.read()).decode("utf-8"),
        )
        self.received.append(got)
        answer = self.answers.pop(0) if self.answers else 503 if self.down else 200
        if answer is None:
            await self.release.wait()
            answer = 200
        reason = ""
        if answer == 200:
            for stamp, _ in CUE.findall(got.body):
                off = parse_timestamp(stamp) - self.youtube_now()
                if abs(off) > LIMIT:
                    answer = 400
                    reason = f"{SKEW_REFUSED} ({abs(off):.0f} sec) is larger than 60 sec"
                    break
        got.status = answer
        self.reasons.append(reason if answer != 200 else "")
        text = timestamp(self.youtube_now()) if answer == 200 else reason
        # Every HTTP reply carries its server's clock in Date (to the second), a refusal too
        date = formatdate(self.youtube_now(), usegmt=True)
        return web.Response(status=answer, text=text, headers={"Date": date})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/closedcaption", self.handle)
        return app

    def refused_for_skew(self) -> int:
        return sum(SKEW_REFUSED in reason for reason in self.reasons)

    def delivered(self, cid: str | None = None) -> list[Received]:
        """The accepted posts (of the stream ``cid``, if given)."""
        return [
            r
            for r in self.received
            if r.status == 200 and (cid is None or r.query.get("cid") == cid)
        ]

    def texts(self, post: Received) -> list[str]:
        return [text for _, text in CUE.findall(post.body) if text]
