"""The event's glossary: the terms, names and acronyms it must spell right, in each language.

A glossary is a UTF-8 CSV file with the header `ko,en,note`, one term per row: its Korean
form, its English form (either may be empty, not both) and a note on what it is
(organisation, term, law, place). File order is priority order: the first terms are the
ones fed to Whisper as hotwords when there is not room for all of them.

Everything here is pure except `load_glossary`, which reads the file and hands the text
to `parse_glossary`. A bad file raises `GlossaryError`, naming the file and the line.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from companion.errors import ConfigError, GlossaryError  # importable from here as before

if TYPE_CHECKING:
    from companion.config import EventConfig

COLUMNS = ("ko", "en", "note")
"""The header a glossary file must have (in any order; extra columns are ignored)."""

SUBSTRING_LANGS = frozenset({"ko", "ja", "zh"})
"""Languages whose words take particles directly, so terms are matched inside words."""


@dataclass(frozen=True)
class Term:
    """One glossary row: the term in Korean and in English, and a note on what it is."""

    ko: str
    en: str
    note: str


@functools.lru_cache(maxsize=32)
def _term_pattern(
    terms: tuple[str, ...], substring: bool
) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One case-insensitive pattern with a group per term, longest term first, and the
    terms in the order of their groups.

    As whole words, a term may not touch a word character on either side. As substrings
    (Korean), only a Latin letter or digit at the term's edge may not touch another one,
    so "KoSEA가" matches "KoSEA" but "silo" does not match "ILO".
    """
    ordered = tuple(sorted(terms, key=len, reverse=True))
    alternatives = []
    for term in ordered:
        if substring:
            before = r"(?<![A-Za-z0-9])" if term[0].isascii() and term[0].isalnum() else ""
            after = r"(?![A-Za-z0-9])" if term[-1].isascii() and term[-1].isalnum() else ""
        else:
            before, after = r"(?<!\w)", r"(?!\w)"
        alternatives.append(f"{before}({re.escape(term)}){after}")
    return re.compile("|".join(alternatives), re.IGNORECASE), ordered


@dataclass(frozen=True)
class Glossary:
    """The terms of an event, in file (priority) order."""

    terms: tuple[Term, ...]

    def terms_for(self, lang: str) -> list[str]:
        """The distinct non-empty terms of `lang` ("ko" or "en") in file order; none for
        any other language."""
        if lang not in ("ko", "en"):
            return []
        cells = (term.ko if lang == "ko" else term.en for term in self.terms)
        return list(dict.fromkeys(cell for cell in cells if cell))

    def hotwords(self, lang: str, max_chars: int = 400) -> str:
        """The terms of `lang` joined with ", ", as many as fit in `max_chars` characters
        in file order (the list stops at the first term that does not fit)."""
        return ", ".join(self.hotword_terms(lang, max_chars))

    def hotword_terms(self, lang: str, max_chars: int = 400) -> tuple[str, ...]:
        """The terms of ``hotwords``, one by one."""
        terms: list[str] = []
        length = -2  # no ", " before the first
        for term in self.terms_for(lang):
            length += 2 + len(term)
            if length > max_chars:
                break
            terms.append(term)
        return tuple(terms)

    def canonicalize(self, text: str, lang: str) -> str:
        """`text` with each term of `lang` found in it, whatever its case, spelled as the
        glossary spells it ("kosea" becomes "KoSEA").

        In English a term must be a whole word: "silo" keeps its "ilo". In Korean,
        Japanese and Chinese particles attach to a term, so it is found inside words
        ("kosea가" becomes "KoSEA가"), though a Latin term still needs non-Latin
        neighbours. Terms the glossary writes all in lower case ("social economy") are
        common nouns whose case follows the sentence, so they are left as found: a
        sentence may begin "Social economy". A match whose lower case differs from the
        term's (a look-alike that only case-insensitive matching equates) is left alone,
        so the lower-cased text never changes. Longer terms win over the shorter terms
        they contain.
        """
        terms = tuple(term for term in self.terms_for(lang) if term != term.lower())
        if not terms:
            return text
        pattern, ordered = _term_pattern(terms, lang in SUBSTRING_LANGS)

        def restore(match: re.Match[str]) -> str:
            found = match.group(0)
            term = ordered[(match.lastindex or 1) - 1]
            return term if found.lower() == term.lower() else found

        return pattern.sub(restore, text)


def parse_glossary(text: str, name: str = "<glossary>") -> Glossary:
    """Parse the CSV `text` of a glossary; `name` is the file named in errors.

    Blank lines are skipped; a row of empty fields is an error, as is a row whose field
    count differs from the header's.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)

    def error(line: int, problem: str) -> GlossaryError:
        return GlossaryError(f"{name}:{line}: {problem}")

    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            raise error(1, f"the header lacks the column(s) {', '.join(missing)}")
        index = {column: header.index(column) for column in COLUMNS}
        terms: list[Term] = []
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise error(start, f"expected {len(header)} fields, found {len(row)}")
            ko, en, note = (row[index[column]].strip() for column in COLUMNS)
            if not ko and not en:
                raise error(start, "both ko and en are empty")
            terms.append(Term(ko, en, note))
    except csv.Error as exc:
        raise error(reader.line_num, f"bad CSV: {exc}") from exc
    return Glossary(tuple(terms))


def load_glossary(path: Path) -> Glossary:
    """Read and parse the glossary file at `path`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GlossaryError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GlossaryError(f"{path}:{line}: not valid UTF-8") from exc
    return parse_glossary(text, str(path))


def load_event_glossary(config: EventConfig) -> Glossary:
    """The event's glossary (an empty one when the setting is blank).

    Raises ``ConfigError`` naming ``captioner.glossary`` when the file cannot be read.
    """
    if not config.captioner.glossary:
        return Glossary(())
    try:
        return load_glossary(Path(config.resolve(config.captioner.glossary)))
    except GlossaryError as exc:
        raise ConfigError(f"captioner.glossary: {exc}") from None
