"""Tests of the event glossary: parsing, hotwords and canonical spelling."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.glossary import Glossary, GlossaryError, Term, load_glossary, parse_glossary

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "glossary.csv"

GOOD = """\ufeffko,en,note
ILO,ILO,organisation (acronym)
국제노동기구,International Labour Organization,organisation
KoSEA,KoSEA,organisation (acronym)

사회연대경제,social and solidarity economy,term
,ComfyUI,"software, for the demo"
협동조합,,term
ILO,ILO,duplicate
"""


def glossary() -> Glossary:
    return parse_glossary(GOOD, "good.csv")


# parsing


def test_parses_rows_in_order() -> None:
    g = glossary()
    assert g.terms[0] == Term("ILO", "ILO", "organisation (acronym)")
    assert g.terms[4] == Term("", "ComfyUI", "software, for the demo")
    assert g.terms[5] == Term("협동조합", "", "term")
    assert len(g.terms) == 7


def test_columns_may_come_in_any_order() -> None:
    g = parse_glossary("note,en,ko\nplace,Seoul,서울\n")
    assert g.terms == (Term("서울", "Seoul", "place"),)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("", "x.csv:1:", "lacks the column(s) ko, en, note"),
        ("ko,en\n서울,Seoul\n", "x.csv:1:", "lacks the column(s) note"),
        ("ko,en,note\n서울,Seoul,place\n,,place\n", "x.csv:3:", "both ko and en are empty"),
        ("ko,en,note\n서울,Seoul\n", "x.csv:2:", "expected 3 fields, found 2"),
        ("ko,en,note\n\n서울,Seoul,place,extra\n", "x.csv:3:", "expected 3 fields, found 4"),
        ('ko,en,note\n"a\nb",x,y\n일,one\n', "x.csv:4:", "expected 3 fields, found 2"),
        ('ko,en,note\n서울,"Seoul,place\n', "x.csv:2:", "bad CSV"),
    ],
)
def test_errors_name_the_file_and_line(text: str, where: str, problem: str) -> None:
    with pytest.raises(GlossaryError) as info:
        parse_glossary(text, "x.csv")
    assert str(info.value).startswith(where)
    assert problem in str(info.value)


def test_load_reports_bad_utf8_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("ko,en,note\n서울,Seoul,place\n".encode() + b"\xff,x,y\n")
    with pytest.raises(GlossaryError, match=r"bad\.csv:3: not valid UTF-8"):
        load_glossary(path)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GlossaryError, match=r"missing\.csv: cannot read"):
        load_glossary(tmp_path / "missing.csv")


def test_load_reads_a_file_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(GOOD, encoding="utf-8")
    assert load_glossary(path) == glossary()


# terms and hotwords


def test_terms_for_each_language() -> None:
    g = glossary()
    assert g.terms_for("ko") == ["ILO", "국제노동기구", "KoSEA", "사회연대경제", "협동조합"]
    assert g.terms_for("en") == [
        "ILO",
        "International Labour Organization",
        "KoSEA",
        "social and solidarity economy",
        "ComfyUI",
    ]
    assert g.terms_for("fr") == []


def test_hotwords_are_bounded_and_in_file_order() -> None:
    g = glossary()
    assert g.hotwords("en") == (
        "ILO, International Labour Organization, KoSEA, social and solidarity economy, ComfyUI"
    )
    assert g.hotwords("en", max_chars=3) == "ILO"
    assert g.hotwords("en", max_chars=2) == ""
    assert g.hotwords("en", max_chars=45) == "ILO, International Labour Organization, KoSEA"
    assert g.hotwords("en", max_chars=44) == "ILO, International Labour Organization"
    assert g.hotwords("fr") == ""


@given(st.integers(0, 200))
def test_hotwords_never_exceed_the_limit(max_chars: int) -> None:
    g = glossary()
    words = g.hotwords("ko", max_chars)
    everything = ", ".join(g.terms_for("ko"))
    assert len(words) <= max_chars
    assert everything.startswith(words)
    if words != everything:
        next_term = everything[len(words) :].removeprefix(", ").split(", ")[0]
        assert len(f"{words}, {next_term}" if words else next_term) > max_chars


# canonicalize


def test_canonicalize_restores_spelling_of_whole_words() -> None:
    g = glossary()
    assert g.canonicalize("kosea and Ilo met.", "en") == "KoSEA and ILO met."
    assert g.canonicalize("installing comfyui, then COMFYUI", "en") == (
        "installing ComfyUI, then ComfyUI"
    )
    assert g.canonicalize("the silo of koseans", "en") == "the silo of koseans"
    assert g.canonicalize("the international labour organization", "en") == (
        "the International Labour Organization"
    )


def test_canonicalize_leaves_lower_case_terms_to_the_sentence() -> None:
    text = "Social and solidarity economy is growing."
    assert glossary().canonicalize(text, "en") == text


def test_canonicalize_in_korean_finds_terms_before_particles() -> None:
    g = glossary()
    assert g.canonicalize("ilo와 kosea가 공동 주최", "ko") == "ILO와 KoSEA가 공동 주최"
    assert (
        g.canonicalize("사회연대 경제와 사회연대경제는", "ko") == "사회연대 경제와 사회연대경제는"
    )
    assert g.canonicalize("silo는", "ko") == "silo는"


def test_canonicalize_other_languages_is_a_no_op() -> None:
    assert glossary().canonicalize("kosea", "fr") == "kosea"


ASCII_TERM = (
    st.text(alphabet=st.sampled_from("abcXYZ01 .-"), min_size=1, max_size=6)
    .map(str.strip)
    .filter(bool)
)


@given(
    st.lists(ASCII_TERM, min_size=1, max_size=6),
    st.text(alphabet=st.sampled_from("abcABCxyzXYZ01 .-가는\u212a\u0130"), max_size=40),
    st.sampled_from(["en", "ko"]),
)
def test_canonicalize_changes_only_case(terms: list[str], text: str, lang: str) -> None:
    g = Glossary(tuple(Term(t, t, "") for t in terms))
    assert g.canonicalize(text, lang).lower() == text.lower()
    assert g.canonicalize(g.canonicalize(text, lang), lang) == g.canonicalize(text, lang)


# the shipped glossary


def test_shipped_glossary_loads_and_names_the_organisers() -> None:
    g = load_glossary(SHIPPED)
    assert 60 <= len(g.terms) <= 90
    for acronym in ("ILO", "KoSEA", "SNU"):
        assert acronym in g.terms_for("en")
        assert acronym in g.terms_for("ko")
    assert "사회연대경제" in g.terms_for("ko")
    assert len(g.hotwords("en")) <= 400
