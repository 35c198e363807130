"""YouTube's clock as the poster sees it, and which cues it will still take. Pure.

YouTube refuses a cue whose time is more than 60 s from its own clock (HTTP 400,
"Timestamp skew … larger than 60 sec"), and answers each accepted post with its
server time (``YYYY-MM-DDTHH:MM:SS.mmm``) in the body. ``Skew`` turns those answers
into an estimate of YouTube's clock minus ours: each reply gives one sample, the
server time minus the midpoint of the request's round trip (so a sample is off by at
most half the round trip), smoothed so that one slow reply does not move it far.

``refresh`` is asked before every try of a post, the first and each retry, and on
the post saved for a restart: a cue older than ``MAX_AGE`` by YouTube's clock (our
clock plus the skew) is left out. Why dropped, and not restamped to now:

* A cue's time places it in the broadcast: YouTube shows it with the video of that
  moment, live and in the recording. Stamped with now, a caption of speech a minute
  or more ago would be shown over other speech, and kept there in the recording.
* A restamped cue needs care not to be shown twice: a post that got no answer may
  have reached YouTube, and the same words under a new time (or a new ``seq``) would
  be new captions. Dropping never sends anything that was not in the post before.
* Nothing is lost to the event: every final caption is in the transcript archive and
  was shown on the viewer page; only YouTube's player misses it.

A post that loses some cues is sent again with the rest under the *same* ``seq``: if
YouTube took the first try, it takes this one as a retry (nothing twice); if it did
not, it shows what is still in time. A post left with none is settled unsent.

``MAX_AGE`` is 50 s: YouTube's limit, 60 s, less what our estimate of its clock can
be off by (half a round trip, and the smoothing) and the time a post spends in
flight; in the tests and the drill a post takes milliseconds, and a retry after a
timeout at most ``TIMEOUT`` (10 s) more, after which the check is made again.
Cues ahead of YouTube's clock (a large ``caption_delay``) are left alone: they come
into range as time passes, and YouTube's refusal says if they do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from workers.poster.format import STAMP, Post, body, parse_body, parse_timestamp

MAX_AGE = 50.0  # seconds: an older cue (by YouTube's clock) is dropped, not sent
SKEW_WARN = 10.0  # seconds: a larger skew is logged and shown as a warning
SKEW_WARN_EVERY = 600.0  # seconds between two warnings while it lasts
SMOOTHING = 0.25  # weight of a new sample in the estimate


def server_time(reply: str) -> float | None:
    """The server time in a reply body (its first line that is a timestamp), or None."""
    for line in reply.splitlines()[:5]:
        match = STAMP.fullmatch(line.strip())
        if match:
            try:
                return parse_timestamp(match.group(1))
            except ValueError:  # 2026-13-45…: not a time
                return None
    return None


def http_date(value: str) -> float | None:
    """An HTTP ``Date`` header as Unix time, at the middle of its second; None if none.

    Only a refusal for skew is read this way: its body holds no server time."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() + 0.5


REPLY_SHOWN = 200  # characters of a reply's body (YouTube's reason) kept for organizers


def said(reply: str) -> str:
    """A reply's body on one line, shortened: what organizers are shown of it."""
    return " ".join(reply.split())[:REPLY_SHOWN]


def skew_warning(skew: float | None) -> str:
    """The warning for organizers past ``SKEW_WARN``, or ''."""
    if skew is None or abs(skew) <= SKEW_WARN:
        return ""
    side = "ahead of" if skew > 0 else "behind"
    return (
        f"YouTube's clock is {abs(skew):.1f} s {side} this machine's "
        f"(more than {SKEW_WARN:.0f} s): check its time (NTP)"
    )


@dataclass
class Skew:
    """YouTube's clock minus ours (seconds), measured from the replies' server times."""

    value: float | None = None  # smoothed; None until a reply gave a time
    last: float | None = None  # the latest sample
    round_trip: float | None = None  # of the latest sample's request
    samples: int = 0
    warned_at: float | None = None

    def measure(self, sent: float, answered: float, server: float) -> float:
        """Take one sample: ``server`` time in a reply to a request ``sent`` and
        ``answered`` at those times of our clock. Returns the new estimate."""
        sample = server - (sent + answered) / 2
        self.last = sample
        self.round_trip = max(answered - sent, 0.0)
        self.samples += 1
        if self.value is None:
            self.value = sample
        else:
            self.value += SMOOTHING * (sample - self.value)
        return self.value

    def youtube_now(self, now: float) -> float:
        """YouTube's clock at ``now`` (ours), as far as we know it."""
        return now + (self.value or 0.0)

    @property
    def large(self) -> bool:
        return self.value is not None and abs(self.value) > SKEW_WARN

    def warn(self, now: float) -> bool:
        """Whether to log the large skew now: at most every ``SKEW_WARN_EVERY`` seconds."""
        if not self.large:
            self.warned_at = None
            return False
        if self.warned_at is not None and now - self.warned_at < SKEW_WARN_EVERY:
            return False
        self.warned_at = now
        return True


def stale(at: float, youtube_now: float, max_age: float = MAX_AGE) -> bool:
    """Whether a cue at ``at`` is too old to send at ``youtube_now`` (YouTube's clock)."""
    return youtube_now - at > max_age


def refresh(post: Post, youtube_now: float, max_age: float = MAX_AGE) -> tuple[Post | None, int]:
    """``post`` as it may be sent at ``youtube_now``, and how many cues were left out.

    The same post when none is stale; else the same ``seq`` with the rest (fewer
    ``cues``); ``None`` when nothing is left, or a heartbeat has gone stale (the next
    one will say the poster is there). A heartbeat left out counts no cue.
    """
    cues = parse_body(post.body)
    keep = [cue for cue in cues if not stale(cue.at, youtube_now, max_age)]
    if len(keep) == len(cues):
        return post, 0
    if post.heartbeat:
        return None, 0
    if not keep:
        return None, len(cues)
    return Post(post.seq, body(keep), post.last_event, len(keep)), len(cues) - len(keep)
