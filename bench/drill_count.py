"""The fault drill's counting, from the truth at the end. Pure: no I/O, no clock.

The truth is the channel's stream in Redis: every final it holds was published. Each
stage is held against it: the archive (its raw lines, matched by seq), the posts the
ingestion endpoint accepted (cues matched by timestamp and text, which the poster
derives from the event), and what each viewer was sent (seqs, and its ``gap``
messages). ``verdict`` says whether the drill met its target, and why not.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from companion.captions import CaptionEvent
from workers.poster.format import cues_for, postable, timestamp

BACK_WITHIN = 10.0  # seconds: every process back on its own within this


@dataclass
class ViewerLog:
    """What one viewer was sent: every caption's seq (finals apart) and each ``gap``."""

    seqs: list[int] = field(default_factory=list)
    finals: list[int] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    connects: int = 0
    refused: int = 0  # connection attempts that failed (its replica was down)
    closes: list[int | None] = field(default_factory=list)  # close codes seen

    @property
    def last(self) -> int | None:
        """The seq to resume from: the last caption it saw."""
        return self.seqs[-1] if self.seqs else None


def stream_figures(events: Sequence[CaptionEvent]) -> dict[str, Any]:
    """Finals published, and the same caption in two entries (a publish applied twice)."""
    finals = [e for e in events if e.final]
    same = Counter((e.text, e.at, e.start, e.end, e.utterance) for e in finals)
    seqs = [e.seq for e in events]
    return {
        "entries": len(events),
        "finals_published": len({e.seq for e in finals}),
        "duplicate_entries": sum(n - 1 for n in same.values()),
        "seqs_in_order": seqs == sorted(set(seqs)),
    }


def archive_figures(finals: Iterable[int], archived: Sequence[int]) -> dict[str, Any]:
    """``archived``: the seq of every caption line in the archive, duplicates included."""
    published = set(finals)
    counts = Counter(archived)
    return {
        "finals_archived": len(published & counts.keys()),
        "duplicates": sum(n - 1 for n in counts.values()),
        "lost": sorted(published - counts.keys()),
        "not_in_stream": sorted(counts.keys() - published),
    }


Cue = tuple[str, str]  # (timestamp, text) as posted


def expected_posts(events: Iterable[CaptionEvent]) -> dict[Cue, int]:
    """Each cue the postable finals of ``events`` should become -> its final's seq: the
    cues the poster makes of each (no delay; a long final is cut into several), as the
    endpoint reads them."""
    return {
        (timestamp(cue.at), cue.text): event.seq
        for event in events
        if postable(event)
        for cue in cues_for(event, 0.0, event.at)
    }


def post_figures(
    expected: Mapping[Cue, int], posts: Sequence[tuple[int, Sequence[Cue]]]
) -> dict[str, Any]:
    """``expected``: each cue a postable final should become -> its seq (a long final
    becomes several cues; it is posted when all of them are); ``posts``: (post seq,
    cues) of every POST received, in order. A cue sent in two posts (or twice in one)
    is a duplicate: YouTube shows it twice. A post sent again with the same seq is a
    retry, which YouTube does not show again: counted apart."""
    sent: Counter[int] = Counter()
    shown: Counter[Cue] = Counter()
    heartbeats = 0
    for post_seq, cues in posts:
        sent[post_seq] += 1
        if sent[post_seq] > 1:
            continue
        texts = [cue for cue in cues if cue[1]]  # a heartbeat's one cue has no text
        heartbeats += not texts
        shown.update(texts)
    missing = {seq for cue, seq in expected.items() if cue not in shown}
    posted = {seq for seq in expected.values() if seq not in missing}
    return {
        "finals_posted": len(posted),
        "duplicates": sum(n - 1 for n in shown.values()),
        "lost": sorted(set(expected.values()) - posted),
        "not_in_stream": sum(1 for cue in shown if cue not in expected),
        "posts": sum(sent.values()),
        "retries": sum(n - 1 for n in sent.values()),
        "heartbeats": heartbeats,
    }


def viewer_figures(finals: Sequence[int], viewers: Sequence[ViewerLog]) -> dict[str, Any]:
    """Per viewer, from its first final on to the stream's last: finals it never got
    (apart: those a ``gap`` message named), captions sent twice, out-of-order ones."""
    last_final = max(finals, default=0)
    rows = []
    for log in viewers:
        got = set(log.finals)
        first = min(log.finals, default=last_final + 1)
        in_gaps = {s for a, b in log.gaps for s in range(a, b + 1)}
        owed = [s for s in finals if first <= s <= last_final and s not in got]
        rows.append(
            {
                "missed": len([s for s in owed if s not in in_gaps]),
                "missed_in_gaps": len([s for s in owed if s in in_gaps]),
                "gaps": len(log.gaps),
                "duplicates": len(log.seqs) - len(set(log.seqs)),
                "out_of_order": sum(1 for a, b in itertools.pairwise(log.seqs) if b <= a),
                "connects": log.connects,
                "got_none": not log.finals,
            }
        )
    total = Counter[str]()
    for row in rows:
        for key in ("missed", "missed_in_gaps", "gaps", "duplicates", "out_of_order"):
            total[key] += row[key]
    return {
        "viewers": len(viewers),
        "with_every_final": sum(
            1 for r in rows if not (r["missed"] or r["missed_in_gaps"] or r["got_none"])
        ),
        "got_none": sum(1 for r in rows if r["got_none"]),
        "gaps": total["gaps"],
        "finals_missed": total["missed"],
        "finals_missed_in_gaps": total["missed_in_gaps"],
        "most_missed_by_one": max((r["missed"] for r in rows), default=0),
        "duplicates": total["duplicates"],
        "out_of_order": total["out_of_order"],
        "reconnects": sum(max(r["connects"] - 1, 0) for r in rows),
        "refused_connects": sum(log.refused for log in viewers),
        "close_codes": dict(Counter(str(code) for log in viewers for code in log.closes)),
    }


def verdict(report: Mapping[str, Any], back_within: float = BACK_WITHIN) -> list[str]:
    """Why the drill missed its target (none: met): 0 lost, 0 duplicated, every
    process back on its own within ``back_within`` seconds."""
    reasons = []
    stream, archive, posted = report["stream"], report["archive"], report["posted"]
    viewers = report["viewers"]
    if not stream["finals_published"]:
        reasons.append("no final was published")
    if stream["duplicate_entries"]:
        reasons.append(f"{stream['duplicate_entries']} captions are in the stream twice")
    for name, figures in (("archived", archive), ("posted", posted)):
        if figures["lost"]:
            reasons.append(f"{len(figures['lost'])} finals were not {name}")
        if figures["duplicates"]:
            reasons.append(f"{figures['duplicates']} finals were {name} twice")
    if viewers["finals_missed"]:
        reasons.append(f"viewers missed {viewers['finals_missed']} finals without a gap message")
    if viewers["gaps"]:
        reasons.append(f"viewers were sent {viewers['gaps']} gap messages")
    if viewers["duplicates"] or viewers["out_of_order"]:
        reasons.append("viewers were sent captions twice or out of order")
    if viewers["got_none"]:
        reasons.append(f"{viewers['got_none']} viewers got no final")
    for kind, back in report["back"].items():
        seconds = back.get("back_s")
        if seconds is None:
            reasons.append(f"{kind} did not come back")
        elif seconds > back_within:
            reasons.append(f"{kind} took {seconds:.1f} s to come back (target {back_within:g} s)")
        if back.get("stream_kept_by_aof") is False:
            reasons.append(f"{kind}: captions published before the restart were gone after it")
    if report.get("exited"):
        reasons.append(f"processes exited on their own: {report['exited']}")
    return reasons
