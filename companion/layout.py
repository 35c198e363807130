"""Caption line layout: how wide a caption is and where its lines break.

Pure logic, no I/O. Widths follow the caption conventions of the two languages of the
event: in English (and any language without a rule of its own) a line holds 42
characters; in Korean, as in Netflix's Korean timed-text guidelines, a line holds 16
"full-width" characters, where Hangul and other CJK characters count 1 and Latin letters,
digits, spaces and ASCII punctuation count half. Japanese and Chinese use the Korean rule.

Text is broken at spaces. Only a word wider than a whole line is broken inside, and
then only between grapheme clusters (see `graphemes`), so an accent never leaves its
letter and a Hangul syllable is never cut into jamo.
"""

from __future__ import annotations

import unicodedata

LINE_WIDTH: dict[str, float] = {"en": 42, "ko": 16, "ja": 16, "zh": 16}
"""Display width of one caption line, per language; see `line_width`."""

DEFAULT_LINE_WIDTH: float = 42
"""Line width for a language that `LINE_WIDTH` does not name."""

HALF_WIDTH_LATIN_LANGS = frozenset({"ko", "ja", "zh"})
"""Languages in which Latin letters, digits, spaces and ASCII punctuation count half."""

DOTTED_CIRCLE = "\u25cc"
"""Base put under a mark that has nothing to attach to, as fonts draw it."""

_ZWJ = "\u200d"
_ZWNJ = "\u200c"


def line_width(lang: str) -> float:
    """The display width of one caption line in `lang` (42 unless `LINE_WIDTH` says)."""
    return LINE_WIDTH.get(lang, DEFAULT_LINE_WIDTH)


def _jamo_kind(ch: str) -> str | None:
    """The Hangul syllable type of `ch` (L, V, T, LV, LVT), or None for anything else."""
    cp = ord(ch)
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97F:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7C7 <= cp <= 0xD7FF:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return None


def _extends(ch: str) -> bool:
    """Whether `ch` belongs to the character before it (mark, joiner, modifier, vowel or
    final jamo) rather than starting a grapheme cluster of its own."""
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch in (_ZWJ, _ZWNJ)
        or 0x1F3FB <= ord(ch) <= 0x1F3FF
        or _jamo_kind(ch) in ("V", "T")
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def graphemes(text: str) -> list[str]:
    """Split `text` into grapheme clusters: what a reader sees as one character.

    A simplified form of Unicode's extended grapheme clusters (UAX #29): marks, joiners
    and emoji modifiers join the character before them; a leading conjoining jamo joins
    the leading jamo or syllable that follows it, and vowel and final jamo always join
    what precedes them (unlike UAX #29, which would let a stray vowel jamo stand alone);
    an emoji after a zero-width joiner joins it; regional indicators pair into flags.
    """
    clusters: list[str] = []
    for ch in text:
        if clusters:
            prev_cluster = clusters[-1]
            prev = prev_cluster[-1]
            joins = (
                _extends(ch)
                or (_jamo_kind(prev) == "L" and _jamo_kind(ch) in ("L", "LV", "LVT"))
                or (prev == _ZWJ and unicodedata.category(ch) == "So")
                or (
                    len(prev_cluster) == 1
                    and _is_regional_indicator(prev)
                    and _is_regional_indicator(ch)
                )
            )
            if joins:
                clusters[-1] = prev_cluster + ch
                continue
        clusters.append(ch)
    return clusters


def _char_width(ch: str, lang: str) -> float:
    if _extends(ch) and _jamo_kind(ch) is None:
        return 0.0
    if lang in HALF_WIDTH_LATIN_LANGS and (
        " " <= ch <= "~" or unicodedata.name(ch, "").startswith("LATIN ")
    ):
        return 0.5
    return 1.0


def display_width(text: str, lang: str) -> float:
    """How much of a caption line `text` takes up in `lang`.

    Each grapheme cluster counts as its first character: 0 for a combining mark (which
    only happens for a mark with nothing to sit on), half for a Latin letter, digit,
    space or ASCII punctuation in Korean, Japanese or Chinese, and 1 otherwise. So the
    marks after a letter and the vowel and final jamo of a decomposed Hangul syllable
    add nothing, and "한" is as wide decomposed as composed.
    """
    return sum(_char_width(cluster[0], lang) for cluster in graphemes(text))


def normalize(text: str) -> str:
    """The text that `layout_lines` lays out: NFC, whitespace collapsed to single spaces
    and trimmed, and a dotted circle put under a mark (or a vowel or final jamo) that
    starts a word, so that no line can begin with it."""
    words = unicodedata.normalize("NFC", text).split()
    return " ".join(DOTTED_CIRCLE + w if _extends(w[0]) else w for w in words)


def _break_word(word: str, lang: str, width: float) -> list[str]:
    """Break a word wider than a line between grapheme clusters, filling each line."""
    pieces: list[str] = []
    current, current_width = "", 0.0
    for cluster in graphemes(word):
        w = display_width(cluster, lang)
        if current and current_width + w > width:
            pieces.append(current)
            current, current_width = "", 0.0
        current += cluster
        current_width += w
    if current:
        pieces.append(current)
    return pieces


def _balanced(words: list[str], widths: list[float], space: float, width: float) -> list[str]:
    """The two-line split of `words` whose longer line is shortest (earliest on a tie)."""
    total = sum(widths) + space * (len(words) - 1)
    best_at, best_longest = 0, total
    top = 0.0
    for at in range(1, len(words)):
        top += widths[at - 1] + (space if at > 1 else 0.0)
        bottom = total - top - space
        longest = max(top, bottom)
        if longest <= width and longest < best_longest:
            best_at, best_longest = at, longest
    return [" ".join(words[:best_at]), " ".join(words[best_at:])]


def layout_lines(text: str, lang: str, width: float | None = None) -> list[str]:
    """Break `text` into caption lines of display width at most `width` in `lang`.

    The text is normalised first (see `normalize`). Lines are filled greedily, word by
    word. A word wider than a line starts a new line and is broken between grapheme
    clusters; a single cluster wider than the line gets a line of its own, the only case
    in which a line is wider than `width`. When the text takes exactly two lines and no
    word had to be broken, the break is moved to balance them: the break that makes the
    longer line shortest wins, and of equally good breaks the earliest, so an uneven
    pair is bottom-heavy (the longer line below), the pyramid that subtitlers prefer.
    Empty or blank text gives no lines.
    """
    limit = line_width(lang) if width is None else width
    if limit <= 0:
        raise ValueError(f"line width must be positive, not {limit}")
    words = normalize(text).split()
    if not words:
        return []
    space = display_width(" ", lang)
    widths = [display_width(w, lang) for w in words]

    lines: list[str] = []
    current, current_width = "", 0.0
    broke_a_word = False
    for word, w in zip(words, widths, strict=True):
        if current and current_width + space + w <= limit:
            current, current_width = f"{current} {word}", current_width + space + w
            continue
        if current:
            lines.append(current)
        if w <= limit:
            current, current_width = word, w
            continue
        broke_a_word = True
        *full, current = _break_word(word, lang, limit)
        lines.extend(full)
        current_width = display_width(current, lang)
    lines.append(current)

    if len(lines) == 2 and not broke_a_word:
        return _balanced(words, widths, space, limit)
    return lines


def pages(lines: list[str], per_page: int = 2) -> list[list[str]]:
    """Group caption lines into the pages shown one after another, `per_page` lines each
    (the last page may hold fewer)."""
    if per_page < 1:
        raise ValueError(f"a page holds at least one line, not {per_page}")
    return [lines[i : i + per_page] for i in range(0, len(lines), per_page)]
