"""YouTube's caption ingestion format and the numbering of posts. Pure: no I/O.

A POST to the broadcast's caption ingestion URL carries, as ``text/plain`` UTF-8,
one or more cues, each a UTC time with milliseconds and no zone letter, a newline,
and the text, with ``<br>`` where a line breaks::

    2026-05-14T01:02:03.456
    The social and solidarity economy<br>in six Asian countries

The URL gets a ``seq`` parameter that rises by one for each new post and stays the
same when a post is sent again (YouTube treats it as a retry, not new captions).
``Outbox`` hands out those numbers: a post keeps its number until it is delivered
or given up, and no new post is numbered while one is pending.

A cue's time is when its words were spoken. A long utterance is cut into several
cues (``cues_for``), each at the time of its first word, so that none is stamped much
earlier than the words it shows: YouTube refuses a cue more than 60 s from its clock,
and a caption of 25 s of speech, stamped with its start, is already 25 s old when
its final arrives (see ``workers/poster/clock.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from companion.captions import CaptionEvent, Word
from companion.errors import OutboxError  # importable from here as before
from companion.layout import layout_lines, normalize

MAX_CUES = 10  # cues gathered into one post after a slow or failed one
REJECT_ATTEMPTS = 3  # a post the endpoint refuses (4xx) is given up after this many tries
RETRY_BASE = 0.5
RETRY_MAX = 30.0
CUE_SPAN = 8.0  # a final whose words span longer is cut into cues of at most about this
STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})")


def timestamp(unix: float) -> str:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SS.mmm`` in UTC (rounded to the millisecond)."""
    millis = round(unix * 1000)
    when = datetime.fromtimestamp(millis // 1000, UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}"


def caption_text(event: CaptionEvent) -> str:
    """The event's text with ``<br>`` between its lines (its laid-out lines when it has them)."""
    lines: Iterable[str] = event.lines or event.text.splitlines()
    return "<br>".join(line.strip() for line in lines if line.strip())


@dataclass(frozen=True)
class Cue:
    """One caption as posted: when it is shown (Unix seconds) and its text."""

    at: float
    text: str


def cue_for(event: CaptionEvent, delay: float, received: float) -> Cue:
    """The cue of a final caption: the time its audio began (else when it was
    received), moved by ``delay`` seconds to match the broadcast."""
    return Cue((event.at or received) + delay, caption_text(event))


def cues_for(event: CaptionEvent, delay: float, received: float) -> list[Cue]:
    """The cues of a final caption: one (``cue_for``), or, when its words span more
    than ``CUE_SPAN`` seconds, that many even pieces, cut before a word and each
    stamped with its first word's time (``at`` plus the word's offset in the audio).

    Only a caption whose audio start is known (``at``) and whose words make up its
    text is cut; another is one cue, as before.
    """
    words = event.words
    if (
        not event.at
        or not words
        or normalize("".join(w.text for w in words)) != normalize(event.text)
    ):
        return [cue_for(event, delay, received)]
    span = words[-1].end - words[0].start
    pieces = math.ceil(span / CUE_SPAN - 1e-9)
    if pieces <= 1:
        return [cue_for(event, delay, received)]
    groups: list[list[Word]] = [[]]
    for word in words:
        due = words[0].start + span * len(groups) / pieces  # where the next piece starts
        if groups[-1] and word.start >= due and len(groups) < pieces:
            groups.append([])
        groups[-1].append(word)
    cues = []
    for n, group in enumerate(groups):
        text = "".join(w.text for w in group)
        offset = 0.0 if n == 0 else group[0].start - event.start  # the first keeps ``at``
        cues.append(
            Cue(event.at + max(offset, 0.0) + delay, "<br>".join(layout_lines(text, event.lang)))
        )
    return [cue for cue in cues if cue.text]


def parse_timestamp(stamp: str) -> float:
    """The inverse of ``timestamp``: Unix seconds of ``YYYY-MM-DDTHH:MM:SS.mmm`` (UTC)."""
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return when.timestamp()


def parse_body(text: str) -> list[Cue]:
    """The cues of a POST body written by ``body`` (a heartbeat: one cue, no text)."""
    lines = text.split("\n")
    return [
        Cue(parse_timestamp(lines[i]), lines[i + 1])
        for i in range(0, len(lines) - 1, 2)
        if STAMP.fullmatch(lines[i])
    ]


def body(cues: Sequence[Cue]) -> str:
    """A POST body of ``cues``, in order; a heartbeat is one cue with no text."""
    return "".join(f"{timestamp(cue.at)}\n{cue.text}\n" for cue in cues)


def heartbeat_body(now: float) -> str:
    """A heartbeat post: the time ``now`` and no text, so YouTube knows the poster is there."""
    return body([Cue(now, "")])


def postable(event: CaptionEvent) -> bool:
    """Whether an event is posted: final captions with text; partials never are."""
    return event.final and event.kind == "caption" and bool(caption_text(event))


@dataclass(frozen=True)
class Post:
    """One POST: its ``seq``, body, and the last caption (bus seq) it carries."""

    seq: int
    body: str
    last_event: int = 0  # 0: a heartbeat
    cues: int = 0

    @property
    def heartbeat(self) -> bool:
        return self.cues == 0


class Outbox:
    """Numbers posts 1, 2, 3 …; a pending post keeps its number through retries."""

    def __init__(self, last_seq: int = 0, pending: Post | None = None) -> None:
        self.last_seq = last_seq  # the last post delivered or given up
        self.pending = pending

    def next(self, body: str, last_event: int = 0, cues: int = 0) -> Post:
        """The next post, numbered ``last_seq + 1``; it is pending until settled."""
        if self.pending is not None:
            raise OutboxError(f"post {self.pending.seq} is still pending")
        self.pending = Post(self.last_seq + 1, body, last_event, cues)
        return self.pending

    def settle(self, post: Post) -> None:
        """The pending post was delivered, or given up: its number is used."""
        if self.pending is None or self.pending.seq != post.seq:
            raise OutboxError(f"post {post.seq} is not the pending one")
        self.pending = None
        self.last_seq = post.seq

    def replace(self, post: Post) -> None:
        """The pending post is sent again with less in it (its stale cues left out);
        it keeps its number, so YouTube still takes it as a retry."""
        if self.pending is None or self.pending.seq != post.seq:
            raise OutboxError(f"post {post.seq} is not the pending one")
        self.pending = post


def is_transient(status: int | None) -> bool:
    """A failure worth retrying for as long as it lasts: no answer, 408, 429 or 5xx."""
    return status is None or status in (408, 429) or status >= 500


def give_up(status: int | None, attempts: int) -> bool:
    """Whether to stop retrying a post after ``attempts`` failed tries."""
    return not is_transient(status) and attempts >= REJECT_ATTEMPTS


def retry_delay(attempts: int, draw: float) -> float:
    """Seconds before try ``attempts + 1``: doubling to ``RETRY_MAX``, with jitter."""
    base = min(RETRY_MAX, RETRY_BASE * 2.0 ** min(max(attempts, 1) - 1, 20))
    return base * (0.5 + 0.5 * min(max(draw, 0.0), 1.0))
