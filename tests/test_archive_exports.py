"""Transcript exports, each read back by a parser that did not write it. Pure.

SRT and WebVTT by pysubs2 (written by srt and webvtt-py), HTML by html5lib in strict
mode (any parse error fails), Markdown by markdown-it-py, JSON by json, plain text by
splitting paragraphs.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from datetime import timedelta, timezone

import html5lib
import pysubs2
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from companion.transcripts.bilingual import align, md_escape, to_html, to_markdown
from companion.transcripts.formats import Transcript, paragraphs, to_json, to_srt, to_text, to_vtt
from companion.transcripts.programme import Session
from companion.transcripts.records import (
    ArchivedCaption,
    ArchivedWord,
    Correction,
    apply_corrections,
)

SEOUL = timezone(timedelta(hours=9))
T0 = 1_796_864_400.0  # 2026-12-10 10:00:00 +09:00
SESSION = Session(
    "korea", "Findings: Republic of Korea", "연구 결과: 대한민국", T0, T0 + 2400, SEOUL
)


def cap(
    channel: str,
    seq: int,
    offset: float,
    text: str,
    duration: float = 3.0,
    source: str = "floor",
    lang: str = "",
) -> ArchivedCaption:
    words = tuple(
        ArchivedWord(w, i * duration / 4, (i + 1) * duration / 4, 0.9)
        for i, w in enumerate(text.split()[:4])
    )
    return ArchivedCaption(
        channel, "ep1", seq, text, lang or channel, source, T0 + offset, duration, T0 + offset + 4,
        "korea", words,
    )  # fmt: skip


TRICKY = "A <b>bold</b> & --> arrow | pipe *star* _under_ [link](x) `code` #hash \\ back"
EN = [
    cap("en", 1, 2.0, "Good morning and welcome to the conference."),
    cap("en", 2, 5.5, TRICKY),
    cap("en", 3, 20.0, "After a pause, a new paragraph starts here.", source="booth-en"),
    cap(
        "en",
        4,
        23.5,
        "This caption is long enough that it takes more than two lines of forty-two "
        "characters, so it has to be split into several cues.",
        duration=8.0,
        source="booth-en",
    ),
]
KO = [
    cap("ko", 1, 1.0, "안녕하십니까, 학술대회에 오신 것을 환영합니다.", source="booth-ko"),
    cap("ko", 2, 5.0, "사회연대경제는 여섯 나라에서 자라고 있습니다."),
    cap("ko", 3, 18.0, "잠시 후 새 문단이 시작됩니다."),
]


def transcript(captions: list[ArchivedCaption], lang: str) -> Transcript:
    return Transcript("SSE Research Conference", SESSION, T0, T0 + 2400, lang, tuple(captions))


def cue_text(text: str) -> str:
    """A cue's plain text as pysubs2 gives it, in one line."""
    return " ".join(html.unescape(text.replace("\\N", " ")).split())


def test_srt_reads_back_with_every_caption_in_order() -> None:
    body = to_srt(transcript(EN, "en"))
    subs = pysubs2.SSAFile.from_string(body, format_="srt")
    joined = " ".join(cue_text(e.plaintext) for e in subs)
    # SubRip has no escapes: a player reads <b> as bold, so the reader drops the tags
    expected = " ".join(" ".join(c.text.split()) for c in EN)
    assert joined == re.sub(r"</?b>", "", expected)
    assert subs[0].start == 2000 and subs[0].end == 5000  # from the session's start
    assert len(subs) > len(EN)  # the long caption took several cues
    starts = [e.start for e in subs]
    assert starts == sorted(starts) and all(e.end > e.start for e in subs)
    assert all(len(e.plaintext.split("\n")) <= 2 for e in subs)


def test_webvtt_reads_back_escaped() -> None:
    body = to_vtt(transcript(EN, "en"))
    assert body.startswith("WEBVTT\n")
    assert "NOTE Findings: Republic of Korea (2026-12-10 10:00–10:40 (UTC+09:00))" in body
    assert "-->" not in body.replace(" --> ", "")  # the caption's own arrow is gone
    subs = pysubs2.SSAFile.from_string(body, format_="vtt")
    texts = [cue_text(e.plaintext) for e in subs]
    assert texts[0] == EN[0].text
    assert cue_text(" ".join(texts[1:2])) == TRICKY
    assert [round(e.start / 1000, 1) for e in subs][:3] == [2.0, 5.5, 20.0]


def test_plain_text_is_paragraphs_with_times_and_interpretation_marked() -> None:
    body = to_text(transcript(EN, "en"))
    blocks = body.strip("\n").split("\n\n")
    head, *paras = blocks
    assert head.splitlines()[0] == "Findings: Republic of Korea"
    assert "2026-12-10 10:00–10:40 (UTC+09:00)" in head
    # captions 1 and 2 are one paragraph; the pause and the booth start another
    assert len(paras) == 2
    assert paras[0] == f"[10:00:02] {EN[0].text} {' '.join(TRICKY.split())}"
    assert paras[1].startswith("[10:00:20, interpretation] After a pause")
    assert len(paragraphs(tuple(EN))) == 2


def test_json_has_words_times_and_corrections_with_the_original() -> None:
    corrected = apply_corrections(
        EN, [Correction("en", "ep1-1", "Good morning, and welcome!", "Lee", T0 + 3600)]
    )
    data = json.loads(to_json(transcript(corrected, "en")))
    assert data["session"]["id"] == "korea"
    assert data["session"]["start"] == "2026-12-10T10:00:00.000+09:00"
    first = data["captions"][0]
    assert first["text"] == "Good morning, and welcome!"
    assert first["original_text"] == EN[0].text
    assert first["corrections"] == [
        {"text": "Good morning, and welcome!", "by": "Lee", "at": "2026-12-10T11:00:00.000+09:00"}
    ]
    assert first["start"] == 2.0 and first["end"] == 5.0
    assert [w["text"] for w in first["words"]] == ["Good", "morning", "and", "welcome"]
    assert first["words"][1]["start"] == 2.75  # seconds from the session's start
    assert data["captions"][2]["source"] == "booth-en"


def test_exports_use_corrected_text() -> None:
    corrected = apply_corrections(EN, [Correction("en", "ep1-2", "Fixed text.", "Lee", T0)])
    t = transcript(corrected, "en")
    for body in (to_srt(t), to_vtt(t), to_text(t)):
        assert "Fixed text." in body and "bold" not in body


def _cells(row: object) -> list[str]:
    return ["".join(td.itertext()).strip() for td in row.findall("{*}td")]  # type: ignore[attr-defined]


def test_html_is_valid_and_side_by_side() -> None:
    body = to_html(transcript(KO, "ko"), transcript(EN, "en"))
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    document = parser.parse(body)  # raises on any parse error
    assert document.find(".//h1").text == "Findings: Republic of Korea"
    assert "2026-12-10 10:00–10:40 (UTC+09:00)" in "".join(document.find(".//time").itertext())
    rows = document.findall(".//tbody/tr")
    cells = [_cells(r) for r in rows]
    ko_text = " ".join(c[1] for c in cells)
    en_text = " ".join(c[2] for c in cells)
    for c in KO:
        assert ko_text.count(c.text) == 1
    for c in EN:
        assert en_text.count(" ".join(c.text.split())) == 1
    # the Korean welcome is interpretation, the English one the floor: the same row
    assert cells[0][0] == "10:00:01"
    assert "(interpretation)" in cells[0][1] and EN[0].text in cells[0][2]
    marks = {s.get("data-source") for s in document.iter("span") if s.get("data-source")}
    assert marks == {"floor", "booth-ko", "booth-en"}


def test_markdown_table_reads_back() -> None:
    body = to_markdown(transcript(KO, "ko"), transcript(EN, "en"))
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(body)
    assert tokens[0].type == "heading_open" and tokens[1].content == "Findings: Republic of Korea"
    assert "2026-12-10 10:00–10:40 (UTC+09:00)" in body
    cells: list[str] = []
    for token, nxt in itertools.pairwise(tokens):
        if token.type == "td_open":
            cells.append(nxt.content)
    rows = [cells[i : i + 3] for i in range(0, len(cells), 3)]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    rendered = md.render(body)
    plain = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    assert " ".join(TRICKY.split()) in plain  # escapes undone by the parser, nothing lost
    assert rendered.count("<em>(interpretation)</em>") == 3  # one per run from a booth
    assert md_escape("a|b") == "a\\|b"


languages = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=600, allow_nan=False),
        st.floats(min_value=0.2, max_value=12),
        st.booleans(),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(languages, languages)
def test_alignment_keeps_every_caption_once_and_in_order(
    left: list[tuple[float, float, bool]], right: list[tuple[float, float, bool]]
) -> None:
    ko = [
        cap("ko", i, t, f"k{i}", d, "floor" if f else "booth-ko")
        for i, (t, d, f) in enumerate(left)
    ]
    en = [
        cap("en", i, t, f"e{i}", d, "floor" if f else "booth-en")
        for i, (t, d, f) in enumerate(right)
    ]
    ko.sort(key=lambda c: c.at)
    en.sort(key=lambda c: c.at)
    rows = align(ko, en)
    assert [c for r in rows for c in r.cells[0]] == ko
    assert [c for r in rows for c in r.cells[1]] == en
    assert [r.start for r in rows] == sorted(r.start for r in rows)
    for row in rows:
        assert row.cells[0] or row.cells[1]
        for c in row.cells[0] + row.cells[1]:
            assert c.at >= row.start or row is rows[0]
