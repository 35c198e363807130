"""A session in two languages side by side, aligned by time: HTML and Markdown. Pure.

``align`` makes the rows. Floor captions (what was said in the room, in either
language) anchor them: each floor caption opens a row, unless it overlaps the row's
floor speech (both channels captioning the floor at once) or the row is still short
(under ``ROW_SECONDS``) and the speech goes on. Interpretation captions join the last
row that began before them, because an interpreter follows the floor by a few
seconds. Every caption lands in exactly one row, and each language keeps its order.

In both outputs a floor caption is plain text and an interpretation is marked:
``<span class="interpretation" data-source="booth-en">`` with "(interpretation)" in
HTML, ``*(interpretation)*`` in Markdown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from companion.transcripts.formats import LANGUAGE_NAMES, Transcript, clock, time_range
from companion.transcripts.records import ArchivedCaption

ROW_SECONDS = 6.0
JOIN_GAP = 2.0
INTERPRETATION = "(interpretation)"


@dataclass
class Row:
    """Captions shown side by side: ``cells[0]`` in the left language, ``cells[1]`` right."""

    start: float
    floor_end: float
    cells: tuple[list[ArchivedCaption], list[ArchivedCaption]] = field(
        default_factory=lambda: ([], [])
    )


def align(left: Sequence[ArchivedCaption], right: Sequence[ArchivedCaption]) -> list[Row]:
    """Rows of ``left`` and ``right`` captions aligned by time (see the module docstring)."""
    tagged = sorted(
        [(c.at, 0, c) for c in left] + [(c.at, 1, c) for c in right], key=lambda x: (x[0], x[1])
    )
    anchors_exist = any(c.is_floor for _, _, c in tagged)
    rows: list[Row] = []
    for at, side, caption in tagged:
        anchor = caption.is_floor or not anchors_exist
        if anchor:
            row = rows[-1] if rows else None
            if row is not None and (
                at < row.floor_end
                or (at - row.start < ROW_SECONDS and at - row.floor_end < JOIN_GAP)
            ):
                row.floor_end = max(row.floor_end, caption.end_at)
            else:
                row = Row(at, caption.end_at)
                rows.append(row)
        elif rows:
            row = rows[-1]  # tagged is in time order: the last row began before it
        else:
            row = Row(at, at)
            rows.append(row)
        row.cells[side].append(caption)
    return rows


def _runs(captions: list[ArchivedCaption]) -> list[list[ArchivedCaption]]:
    """Consecutive captions of one cell with the same source."""
    runs: list[list[ArchivedCaption]] = []
    for caption in captions:
        if runs and runs[-1][-1].source == caption.source:
            runs[-1].append(caption)
        else:
            runs.append([caption])
    return runs


def _text(run: list[ArchivedCaption]) -> str:
    return " ".join(" ".join(c.text.split()) for c in run)


def _heading(ko: Transcript, en: Transcript) -> tuple[str, str, str, str]:
    session = ko.session
    start, end = min(ko.start, en.start), max(ko.end, en.end)
    return (
        session.title or session.id,
        session.title_ko,
        ko.event_title or en.event_title,
        time_range(start, end, ko),
    )


def _names(ko: Transcript, en: Transcript) -> tuple[str, str]:
    return LANGUAGE_NAMES.get(ko.lang, ko.lang), LANGUAGE_NAMES.get(en.lang, en.lang)


STYLE = """
body { font-family: "Noto Sans KR", "Apple SD Gothic Neo", sans-serif; margin: 2em; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #444; margin: 0.1em 0; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; margin-top: 1em; }
th, td { border-top: 1px solid #ccc; padding: 0.4em; vertical-align: top; text-align: left; }
th.time, td.time { width: 5.5em; font-variant-numeric: tabular-nums; color: #555; }
.interpretation { color: #333; font-style: italic; }
.mark { font-size: 0.8em; color: #777; font-style: normal; }
tr { break-inside: avoid; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; } }
""".strip()


def to_html(ko: Transcript, en: Transcript) -> str:
    """A printable HTML page: the session's title, times, then a three-column table."""
    title, title_ko, event, when = _heading(ko, en)
    left, right = _names(ko, en)
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{esc(en.lang)}">',
        '<head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{STYLE}\n</style></head>",
        "<body>",
        "<header>",
        f"<h1>{esc(title)}</h1>",
    ]
    if title_ko:
        out.append(f'<p class="meta" lang="ko">{esc(title_ko)}</p>')
    if event:
        out.append(f'<p class="meta">{esc(event)}</p>')
    out += [
        f'<p class="meta"><time>{esc(when)}</time></p>',
        '<p class="meta">Floor speech is plain; interpretation is in italics, marked '
        f'<span class="mark">{INTERPRETATION}</span>.</p>',
        "</header>",
        "<table>",
        f'<thead><tr><th class="time">Time</th><th lang="{esc(ko.lang)}">{esc(left)}</th>'
        f'<th lang="{esc(en.lang)}">{esc(right)}</th></tr></thead>',
        "<tbody>",
    ]
    for row in align(ko.captions, en.captions):
        cells = []
        for lang, captions in ((ko.lang, row.cells[0]), (en.lang, row.cells[1])):
            spans = []
            for run in _runs(captions):
                source = esc(run[0].source)
                if run[0].is_floor:
                    spans.append(f'<span class="floor" data-source="{source}">{esc(_text(run))}')
                else:
                    spans.append(
                        f'<span class="interpretation" data-source="{source}">'
                        f'<span class="mark">{INTERPRETATION}</span> {esc(_text(run))}'
                    )
                spans[-1] += "</span>"
            cells.append(f'<td lang="{esc(lang)}">{"<br>".join(spans)}</td>')
        out.append(f'<tr><td class="time">{clock(row.start, ko.session)}</td>{"".join(cells)}</tr>')
    out += ["</tbody>", "</table>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!])")


def md_escape(text: str) -> str:
    """Text safe in a Markdown table cell: its punctuation backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def to_markdown(ko: Transcript, en: Transcript) -> str:
    """A Markdown heading with the times, then a table: time, left language, right language."""
    title, title_ko, event, when = _heading(ko, en)
    left, right = _names(ko, en)
    out = [f"# {md_escape(title)}", ""]
    if title_ko:
        out += [md_escape(title_ko), ""]
    if event:
        out += [md_escape(event), ""]
    out += [
        when,
        "",
        f"Floor speech is plain; interpretation is marked *{INTERPRETATION}*.",
        "",
        f"| Time | {md_escape(left)} | {md_escape(right)} |",
        "| --- | --- | --- |",
    ]
    for row in align(ko.captions, en.captions):
        cells = []
        for captions in row.cells:
            parts = []
            for run in _runs(captions):
                mark = "" if run[0].is_floor else f"*{INTERPRETATION}* "
                parts.append(mark + md_escape(_text(run)))
            cells.append(" <br> ".join(parts))
        out.append(f"| {clock(row.start, ko.session)} | {cells[0]} | {cells[1]} |")
    return "\n".join(out) + "\n"


BILINGUAL: dict[str, tuple[Callable[[Transcript, Transcript], str], str]] = {
    "html": (to_html, "text/html"),
    "md": (to_markdown, "text/markdown"),
}
"""Bilingual export: format -> (function, media type)."""
