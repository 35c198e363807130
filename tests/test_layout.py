"""Tests of caption line layout: widths, breaks, balance and pages."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.layout import (
    DOTTED_CIRCLE,
    display_width,
    graphemes,
    layout_lines,
    line_width,
    normalize,
    pages,
)

HANGUL = st.integers(0xAC00, 0xD7A3).map(chr)
TRICKY = st.sampled_from(
    [
        "a",
        "Z",
        "7",
        ",",
        ".",
        "é",
        "\u0301",  # combining acute
        "\u0323",  # combining dot below
        "\u1100",  # leading jamo
        "\u1161",  # vowel jamo
        "\u11a8",  # final jamo
        "\ua960",  # extended leading jamo
        "\ud7b0",  # extended vowel jamo
        "\u1176",  # archaic vowel jamo, composes with nothing
        "\u200d",  # zero-width joiner
        "\U0001f600",  # emoji
        "\U0001f1f0",  # regional indicator K
        "中",
        "あ",
        " ",
        "  ",
        "\n",
        "\t",
        "\u3000",  # ideographic space
    ]
)
TEXT = st.lists(st.one_of(HANGUL, TRICKY), max_size=60).map("".join)
LANG = st.sampled_from(["en", "ko", "ja", "fr"])
WIDTH = st.sampled_from([0.5, 1.0, 2.0, 3.5, 5.0, 16.0, 42.0])
COMBINING_OR_JAMO_TAIL = (
    set(range(0x1160, 0x1200)) | set(range(0xD7B0, 0xD800)) | set(range(0x0300, 0x0370))
)


def reassemble(lines: list[str], text: str) -> None:
    """Check that `lines`, joined with a space where the text has one, are `text`."""
    pos = 0
    for line in lines:
        assert text.startswith(line, pos), (line, text[pos:])
        pos += len(line)
        if pos < len(text) and text[pos] == " ":
            pos += 1
    assert pos == len(text)


# display_width and line_width


def test_english_counts_every_character() -> None:
    assert display_width("ILO and KoSEA", "en") == 13
    assert display_width("사회", "en") == 2


def test_korean_counts_latin_digits_spaces_and_punctuation_half() -> None:
    assert display_width("사회연대경제", "ko") == 6
    assert display_width("ILO", "ko") == 1.5
    assert display_width("ILO와 KoSEA가", "ko") == 1.5 + 1 + 0.5 + 2.5 + 1
    assert display_width("2022!", "ja") == 2.5
    assert display_width("é", "zh") == 0.5


def test_combining_marks_count_nothing() -> None:
    assert display_width("e\u0301", "en") == 1
    assert display_width(unicodedata.normalize("NFD", "한국"), "ko") == 2


def test_line_width_defaults_to_42() -> None:
    assert line_width("en") == 42
    assert line_width("ko") == 16
    assert line_width("zh") == 16
    assert line_width("de") == 42


def test_graphemes_keep_marks_jamo_and_flags() -> None:
    assert graphemes("e\u0301a") == ["e\u0301", "a"]
    nfd = unicodedata.normalize("NFD", "한국")
    assert graphemes(nfd) == [unicodedata.normalize("NFD", c) for c in "한국"]
    assert graphemes("\u1100\u1176\u1100\u1176") == ["\u1100\u1176", "\u1100\u1176"]
    assert graphemes("\U0001f1f0\U0001f1f7\U0001f1ef\U0001f1f5") == [
        "\U0001f1f0\U0001f1f7",
        "\U0001f1ef\U0001f1f5",
    ]


# layout_lines: examples


def test_short_text_is_one_line() -> None:
    assert layout_lines("  Welcome to\n the  conference ", "en") == ["Welcome to the conference"]


def test_blank_text_has_no_lines() -> None:
    assert layout_lines("", "en") == []
    assert layout_lines(" \n\t\u3000", "ko") == []


def test_sixteen_hangul_fit_a_korean_line_and_seventeen_do_not() -> None:
    assert layout_lines("가" * 16, "ko") == ["가" * 16]
    assert layout_lines("가" * 17, "ko") == ["가" * 16, "가"]


def test_latin_in_korean_counts_half() -> None:
    assert layout_lines("A" * 32, "ko") == ["A" * 32]
    assert layout_lines("A" * 33, "ko") == ["A" * 32, "A"]


def test_korean_sentence_breaks_at_a_space() -> None:
    lines = layout_lines("사회연대경제는 협동조합과 사회적기업을 포함합니다", "ko")
    assert lines == ["사회연대경제는 협동조합과", "사회적기업을 포함합니다"]


def test_mixed_korean_two_lines_are_balanced() -> None:
    # Greedy filling would give "ILO와 KoSEA가 공동 주최하는 국제" (16) over "학술대회" (4).
    lines = layout_lines("ILO와 KoSEA가 공동 주최하는 국제 학술대회", "ko")
    assert lines == ["ILO와 KoSEA가 공동", "주최하는 국제 학술대회"]


def test_english_two_lines_are_balanced_without_an_orphan() -> None:
    text = "The social and solidarity economy brings people together today"
    lines = layout_lines(text, "en")
    assert lines == ["The social and solidarity economy", "brings people together today"]


def test_balance_ties_go_to_the_earlier_break() -> None:
    # "aa bb cc" at width 5: "aa" | "bb cc" and "aa bb" | "cc" both have a longest line
    # of 5; the earlier break makes the caption bottom-heavy.
    assert layout_lines("aa bb cc", "en", width=5) == ["aa", "bb cc"]


def test_three_lines_are_filled_greedily() -> None:
    text = (
        "The social and solidarity economy brings together cooperatives, "
        "mutual associations and social enterprises."
    )
    assert layout_lines(text, "en") == [
        "The social and solidarity economy brings",
        "together cooperatives, mutual associations",
        "and social enterprises.",
    ]


def test_a_word_wider_than_a_line_is_broken_between_clusters() -> None:
    assert layout_lines("see https://www.ilo.org/sse", "en", width=10) == [
        "see",
        "https://ww",
        "w.ilo.org/",
        "sse",
    ]
    accented = "e\u0301" * 5
    assert layout_lines(accented, "en", width=2) == ["éé", "éé", "é"]


def test_decomposed_korean_is_composed_and_never_split() -> None:
    nfd = unicodedata.normalize("NFD", "협동조합")
    assert layout_lines(nfd, "ko", width=1) == ["협", "동", "조", "합"]


def test_archaic_jamo_sequences_stay_whole() -> None:
    word = "\u1100\u1176" * 3
    assert layout_lines(word, "ko", width=1) == ["\u1100\u1176"] * 3


def test_a_mark_after_a_space_gets_a_dotted_circle() -> None:
    assert normalize("a \u0301b") == f"a {DOTTED_CIRCLE}\u0301b"
    assert layout_lines("a \u0301b", "en", width=1) == ["a", DOTTED_CIRCLE + "\u0301", "b"]


def test_width_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        layout_lines("text", "en", width=0)


# pages


def test_pages_group_lines_in_twos() -> None:
    assert pages(["a", "b", "c"]) == [["a", "b"], ["c"]]
    assert pages([]) == []
    assert pages(["a", "b", "c"], per_page=1) == [["a"], ["b"], ["c"]]
    with pytest.raises(ValueError):
        pages(["a"], per_page=0)


# layout_lines: properties


@given(TEXT, LANG, WIDTH)
def test_lines_fit_unless_a_single_cluster(text: str, lang: str, width: float) -> None:
    for line in layout_lines(text, lang, width):
        assert display_width(line, lang) <= width or len(graphemes(line)) == 1


@given(TEXT, LANG, st.one_of(st.none(), WIDTH))
def test_lines_reassemble_the_normalised_text(text: str, lang: str, width: float | None) -> None:
    reassemble(layout_lines(text, lang, width), normalize(text))


@given(TEXT, LANG, WIDTH)
def test_lines_are_trimmed_and_never_start_with_a_mark(text: str, lang: str, width: float) -> None:
    for line in layout_lines(text, lang, width):
        assert line
        assert line == line.strip()
        assert unicodedata.combining(line[0]) == 0
        assert ord(line[0]) not in COMBINING_OR_JAMO_TAIL


@given(st.lists(st.one_of(HANGUL, st.just(" ")), max_size=40).map("".join), WIDTH)
def test_decomposed_korean_never_starts_a_line_with_a_vowel_or_final(
    text: str, width: float
) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert layout_lines(nfd, "ko", width) == layout_lines(text, "ko", width)
    for line in layout_lines(nfd, "ko", width):
        assert not 0x1160 <= ord(line[0]) <= 0x11FF


@given(st.lists(st.one_of(HANGUL, st.just(" ")), max_size=40).map("".join))
def test_decomposed_clusters_compose_to_one_syllable(text: str) -> None:
    for cluster in graphemes(unicodedata.normalize("NFD", text)):
        assert len(unicodedata.normalize("NFC", cluster)) == 1


@given(TEXT, LANG)
def test_normalize_is_idempotent(text: str, lang: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert display_width(once, lang) == sum(display_width(w, lang) for w in once.split(" ")) + (
        display_width(" ", lang) * once.count(" ")
    )


@given(st.lists(st.text(min_size=1, max_size=3), max_size=9), st.integers(1, 4))
def test_pages_keep_every_line_in_order(lines: list[str], per_page: int) -> None:
    grouped = pages(lines, per_page)
    assert [line for page in grouped for line in page] == lines
    assert all(1 <= len(page) <= per_page for page in grouped)
