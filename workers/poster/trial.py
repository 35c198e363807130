"""A test caption for organizers: its number, its body, and its report. Pure.

A test caption is one cue posted through a channel's ingestion URL, to report YouTube's
answer, the round trip and the clock skew. While a poster runs for the channel, the
poster itself sends it as its next post, asked over the bus (the dashboard's button,
or ``companion youtube test-caption``; ``companion/caption_trial.py`` has the
documents, ``trial_desk`` the poster's side). While none runs, the command posts it
itself (``trial_post`` makes the call). This module decides everything else, with no
I/O.

Which ``seq`` it takes. YouTube's caption format requires ``seq`` on every POST and
says the counter "must increase by one between posts of new caption data" and stay
the same for a retry. So a test post cannot go without one, and a number far outside
the live range is not safe either: what YouTube does with a jump is not documented,
and if it keeps the highest number it has seen, every live post after the test would
look like a retry of an old one and be ignored. A number the live poster will use is
worse: the live post would be the retry, and its captions lost.

The test therefore takes the channel's *next* number, in the channel's own numbering
(the poster's report in the bus, ``poster:<channel>``), under the channel's lease
(``Bus.claim``), the one every poster takes before it posts, and writes the number
down as used *before* it is sent (``used_report``). The next poster then goes on
after it, one more, as YouTube asks; no number is taken twice. It cannot post while a
poster holds the channel (that poster numbers the channel's posts: it is asked to send
the test instead), nor while a post is pending (the next poster sends it again first,
under its number).

Sent by the live poster, the test is simply its next post: numbered by its ``Outbox``
like any other, written down as pending before it is sent, and settled once answered,
so the captions after it take the number after it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from companion.caption_trial import (
    ACCEPTED,
    EXPIRED,
    MARK,
    NO_ANSWER,
    REFUSED,
    TrialRequest,
    TrialResult,
    clean_text,
)
from companion.caption_trial import DEFAULT_TEXT as DEFAULT_TEXT  # importable from here
from companion.errors import TrialRefused
from workers.poster.clock import Skew, said, server_time, skew_warning
from workers.poster.format import Cue, body


def next_seq(report: dict[str, Any] | None) -> int:
    """The number the test post takes, from the channel's poster report (or None).

    Raises ``TrialRefused`` while a post is pending: its number is the next one, and
    the next poster sends it again (a retry, for YouTube).
    """
    if not report:
        return 1
    pending = report.get("pending")
    if pending:
        raise TrialRefused(
            f"post {pending.get('seq', '?')} of this channel is pending: the next poster "
            "sends it again under its number; start the poster, then test"
        )
    return int(report.get("seq", 0)) + 1


def used_report(
    report: dict[str, Any] | None, channel: str, seq: int, last_event: int, now: float
) -> dict[str, Any]:
    """The poster report with ``seq`` used, so the next poster numbers after it.

    A channel that had no report gets one whose ``last_event`` is the latest final
    now (as a poster starting afresh would take), so the next poster does not post
    the channel's whole history; an existing report keeps its place.
    """
    doc = dict(report) if report else {"channel": channel, "last_event": last_event}
    doc.update(seq=seq, pending=None, active=False, updated=now, test_caption_seq=seq)
    return doc


def trial_line(text: str, now: float) -> str:
    """The test cue's text, marked as a test with its time (UTC): it shows in the
    broadcast's captions, to anyone watching."""
    return f"{MARK} {datetime.fromtimestamp(now, UTC):%H:%M:%S} UTC {clean_text(text)}"


def trial_body(text: str, now: float) -> str:
    """The POST body: one marked cue at ``now``. The command stamps it with this
    machine's clock, the live poster with YouTube's as it knows it (as its heartbeats)."""
    return body([Cue(now, trial_line(text, now))])


@dataclass(frozen=True)
class TrialReport:
    """What the test post found, for the organizer (``--json`` prints it as is)."""

    channel: str
    seq: int
    accepted: bool
    status: int | None  # HTTP status; None: no answer
    message: str  # YouTube's answer (a refusal's reason), or why there was none
    round_trip_ms: float | None
    clock_skew: float | None  # YouTube's clock minus ours, s; None: no server time
    skew_warning: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_reply(
    channel: str, seq: int, status: int, reply: str, sent: float, answered: float
) -> TrialReport:
    """The report of an answered post: accepted (2xx) with the skew its server time
    gives, or refused with YouTube's reason."""
    accepted = 200 <= status < 300
    skew: float | None = None
    if accepted:
        server = server_time(reply)
        if server is not None:
            skew = round(Skew().measure(sent, answered, server), 3)
    return TrialReport(
        channel,
        seq,
        accepted,
        status,
        said(reply),
        round(max(answered - sent, 0.0) * 1000, 1),
        skew,
        skew_warning(skew),
    )


def no_answer(channel: str, seq: int, why: str) -> TrialReport:
    """The report of a post that got no answer (network, timeout)."""
    return TrialReport(channel, seq, False, None, why, None, None, "")


def outcome(report: TrialReport) -> str:
    """``accepted``, ``refused`` or ``no_answer``."""
    if report.status is None:
        return NO_ANSWER
    return ACCEPTED if report.accepted else REFUSED


def answered_result(request: TrialRequest, report: TrialReport, now: float) -> TrialResult:
    """The result document of a request the live poster sent: its report, and whose."""
    fields = report.as_dict()
    del fields["channel"]
    return TrialResult(
        request.id, request.channel, outcome(report), now, request.at, request.by, **fields
    )


def report_of(result: TrialResult) -> TrialReport | None:
    """The report in a result from the poster, for ``render``; None when it was not
    sent (expired) or not answered yet (sending)."""
    if result.outcome not in (ACCEPTED, REFUSED, NO_ANSWER) or result.seq is None:
        return None
    return TrialReport(
        result.channel,
        result.seq,
        result.accepted,
        result.status,
        result.message,
        result.round_trip_ms,
        result.clock_skew,
        result.skew_warning,
    )


def render(report: TrialReport) -> str:
    """The report for a person: a few lines."""
    if report.status is None:
        head = f"channel {report.channel}: no answer from YouTube ({report.message})"
    elif report.accepted:
        head = f"channel {report.channel}: accepted (HTTP {report.status})"
    else:
        reason = f": {report.message}" if report.message else ""
        head = f"channel {report.channel}: refused (HTTP {report.status}){reason}"
    lines = [head, f"  seq: {report.seq}"]
    if report.round_trip_ms is not None:
        lines.append(f"  round trip: {report.round_trip_ms:.0f} ms")
    if report.clock_skew is not None:
        side = "ahead" if report.clock_skew >= 0 else "behind"
        lines.append(f"  clock skew: {report.clock_skew:+.3f} s (YouTube {side})")
    elif report.accepted:
        lines.append("  clock skew: unknown (no server time in the answer)")
    if report.skew_warning:
        lines.append(f"  warning: {report.skew_warning}")
    return "\n".join(lines)


def render_result(result: TrialResult) -> str:
    """The answer of a test caption the channel's poster sent, for a person."""
    report = report_of(result)
    if report is not None:
        return render(report) + "\n  sent by the channel's poster, as its next post"
    if result.outcome == EXPIRED:
        return f"channel {result.channel}: not sent ({result.message})"
    return (
        f"channel {result.channel}: the poster sent it as post {result.seq}; YouTube has not "
        "answered yet (the dashboard shows its answer)"
    )
