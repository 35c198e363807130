"""What the service knows of the captioners, from the event state. Pure.

Each captioner publishes ``captioner:<channel>`` in the event state every few
seconds (``workers/captioner/live.py``): alive, source, real-time factor, lag, last
caption, error. A report older than ``stale_after`` seconds means the worker is
gone. A channel with no report at all is ``missing``: its captioner may not have
started yet, or runs elsewhere and has not reached the bus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from companion.caption_trial import REQUEST_PREFIX, RESULT_PREFIX
from companion.redact import redact_source, redact_text

STALE_AFTER = 15.0


def captioner_report(
    state: Mapping[str, Mapping[str, Any]],
    channels: Sequence[str],
    now: float,
    stale_after: float = STALE_AFTER,
) -> dict[str, dict[str, Any]]:
    """Per channel: ``status`` and the figures.

    ``alive``; ``stale`` (no report for ``stale_after`` s); ``stopped`` (gave up, with
    an error); ``ended`` (its recording ended); ``missing`` (never reported).
    """
    out: dict[str, dict[str, Any]] = {}
    # Beside the channels' own, the floor's and the booths' captioners report too.
    others = [k[len("captioner:") :] for k in state if k.startswith("captioner:")]
    for channel in dict.fromkeys([*channels, *others]):
        doc = state.get(f"captioner:{channel}")
        if not doc:
            out[channel] = {"status": "missing"}
            continue
        updated = float(doc.get("updated") or 0.0)
        if not doc.get("alive"):
            status = "stopped" if doc.get("error") else "ended"
        elif now - updated > stale_after:
            status = "stale"
        else:
            status = "alive"
        out[channel] = {
            "status": status,
            "age_seconds": round(now - updated, 1),
            "real_time_factor": doc.get("real_time_factor"),
            "lag_seconds": doc.get("lag_seconds"),
            # redacted again here: a worker of an older version may have published it whole
            "error": redact_text(str(doc.get("error") or "")),
            "source": redact_source(str(doc.get("source", ""))),
        }
    return out


def unready_reasons(report: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why the captioners make the service not ready (a missing one does not)."""
    reasons = []
    for channel, item in report.items():
        if item["status"] in ("stale", "stopped"):
            detail = f": {item['error']}" if item.get("error") else ""
            reasons.append(f"captioner for '{channel}' is {item['status']}{detail}")
    return reasons


def total_listeners(
    state: Mapping[str, Mapping[str, Any]],
    channels: Sequence[str],
    now: float,
    stale_after: float = STALE_AFTER,
) -> dict[str, int]:
    """Viewers per channel over every service process that reported lately.

    Each process publishes ``listeners:<instance>`` = ``{"channels": {ch: n},
    "updated": t}`` every few seconds; a report older than ``stale_after`` is a
    process that has gone and is not counted.
    """
    totals = dict.fromkeys(channels, 0)
    for key, doc in state.items():
        if not key.startswith("listeners:") or now - float(doc.get("updated", 0)) > stale_after:
            continue
        for channel, count in dict(doc.get("channels", {})).items():
            if channel in totals:
                totals[channel] += int(count)
    return totals


# poster reports and test captions: GET /api/admin/youtube; the archiver's health:
# GET /api/archive; captioner reports name their sources, which may hold secrets (SRT
# passphrases …)
INTERNAL_PREFIXES = (
    "listeners:",
    "poster:",
    REQUEST_PREFIX,
    RESULT_PREFIX,
    "archiver:",
    "boothlog",
    "captioner:",
)


def is_public(key: str) -> bool:
    """Whether a state document is for viewers (listener and poster reports are not)."""
    return not key.startswith(INTERNAL_PREFIXES)
