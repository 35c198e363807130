"""The hallucination guard: which of Whisper's words to show, and why the rest are not.

Whisper is trained on subtitled video, so on silence, noise or music it tends to write
what subtitles on such a stretch usually say, and once it starts repeating itself it
can loop until the window ends. Each rule below removes one known failure, in order:

(a) Silence. Whisper's own rule (`no_speech_threshold` 0.6 with `log_prob_threshold`
    -1.0 in its transcribe loop): when the decoder thinks there is no speech and is
    also unsure of its words, the words are made up. Everything goes.
(b) Loops. An n-gram of 1 to 3 words, compared without case and punctuation, said 3
    or more times in a row is a decoder loop, and so is a phrase of 4 to 30 words said
    twice in a row ("At year end, we counted 627,000 subscribers. At year end, we
    counted 627,000 subscribers.", from one decode of one utterance that says it
    once): the first occurrence stays, the repeats go, and so does a partial repeat
    that ends the words (a loop cut off by the end of the window). Words after the
    loop stay. Real speech rarely says the same phrase three times running, or a
    whole phrase twice, and when it does, one copy still carries the meaning.
    Whisper also says the window again after finishing it, into the silence that pads
    it ("… 적용됩니다. 각 프로젝트는 도맨"): words after a sentence end that start one
    of the decode's sentences over, up to the end of the words, go; so do words there
    that say the end of the sentence before them again ("… 선택한 날 새 프로젝트를
    클릭합니다. 새 프로젝트를 클릭합니다.", `ko-tune` through the room, seed 5). (A rule that
    dropped a sentence 80 % alike to the one before it, for a Korean room decode
    that said one twice with a syllable changed, was tried and removed: it dropped
    "It was the worst of times" after "It was the best of times"; parallel sentences
    are speech.)
    A decode that stops at its token cap instead of its end has run away (beam
    search prefers a confident repeat to stopping): its words that end it by
    repeating earlier ones go, whole or cut off. So does any word with a character cut
    in half (U+FFFD: the cap fell inside a Hangul syllable's bytes).
(c) Stock phrases, sentence by sentence, compared after NFKC, lower-casing and removal
    of spaces and punctuation. `ALWAYS_*` phrases come from the end of YouTube videos
    and broadcast news ("thanks for watching", "MBC 뉴스 ○○○입니다") and are never
    said at a conference: such sentences go wherever they are, in either language (a
    Korean session can hallucinate them in English). `SUSPICIOUS_*` phrases ("thank
    you", "감사합니다") are what Whisper writes on room noise but are also what speakers
    really say, so they go only when they are all that is left and the evidence for
    speech is weak (under 0.8 s of speech by the VAD, no-speech probability over 0.3,
    or average log-probability under -0.8).
(d) Compression. Whisper's own rule (`compression_ratio_threshold` 2.4): text of 24
    characters or more that zlib shrinks by more than 2.4 times is repetitive garbage
    that (b) did not catch. Everything goes.

Rules (b) and (c) are applied until neither changes anything, since dropping a stock
phrase can bring two copies of a loop together; so cleaning what `clean` kept again
keeps all of it. The module is pure: no numpy, no faster_whisper.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from companion.captions import Word

NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
MIN_LOOP_REPEATS = 3
PHRASE_WORDS = 4  # a run this long said twice in a row is already a loop
NEAR_COPY_WORDS = 6  # a window said over may differ in one word of this many
MAX_PHRASE_NGRAM = 30
WEAK_SPEECH_SECONDS = 0.8
WEAK_NO_SPEECH_PROB = 0.3
WEAK_AVG_LOGPROB = -0.8
COMPRESSION_MIN_CHARS = 24
COMPRESSION_RATIO_THRESHOLD = 2.4
SKIP_SECONDS = 3.0  # a word aligned across longer than this: speech passed over

ALWAYS_PHRASES_EN: tuple[str, ...] = (
    "thanks for watching",
    "thank you for watching",
    "thanks for watching and see you next time",
    "thank you for watching and see you next time",
    "please subscribe",
    "subscribe to my channel",
    "please subscribe to my channel",
    "like and subscribe",
    "please like and subscribe",
    "don't forget to subscribe",
    "don't forget to like and subscribe",
    "subtitles by the amara.org community",
)
ALWAYS_PHRASES_KO: tuple[str, ...] = (
    "시청해주셔서 감사합니다",
    "오늘도 시청해주셔서 감사합니다",
    "구독과 좋아요 부탁드립니다",
    "구독 좋아요 알림설정",
    "다음 영상에서 만나요",
    "자막 제공 및 자막 편집",
)
ALWAYS_PATTERNS: tuple[str, ...] = (
    # Open-ended credits and sign-offs; matched in full against the normalised sentence
    # (NFKC, lower case, no spaces, no punctuation).
    r"(?:transcribed|transcription|transcript|subtitles|subtitled|captions|captioned)by.+",
    r"한글자막by.+",
    r"자막제공및자막편집.+",
    r"구독.{0,3}좋아요.{0,6}알림설정.*",
    r"(?:mbc|kbs|sbs)뉴스[가-힣]{2,8}입니다",
    r"ytn(?:뉴스)?[가-힣]{2,8}입니다",
)
SUSPICIOUS_PHRASES_EN: tuple[str, ...] = ("thank you", "thanks", "you", "bye", "okay")
SUSPICIOUS_PHRASES_KO: tuple[str, ...] = ("감사합니다", "네", "아")

# English applies in every language: Whisper falls back to English on noise.
SUSPICIOUS_BY_LANG: dict[str, tuple[str, ...]] = {"ko": SUSPICIOUS_PHRASES_KO}

_SENTENCE_ENDS = (".", "?", "!", "。")
_CLOSERS = "\"')]}»”’」』"


@dataclass(frozen=True)
class Evidence:
    """What the decoder and the VAD said about the audio the words came from."""

    no_speech_prob: float
    avg_logprob: float
    speech_seconds: float
    runaway: bool = False  # the decode stopped at its token cap, not at its end


@dataclass(frozen=True)
class Cleaned:
    """The indices of the words to keep (sorted) and, if any were dropped, why."""

    keep: tuple[int, ...]
    reason: str | None


def _norm(text: str) -> str:
    """NFKC, lower case, without spaces or punctuation: the form phrases are compared in."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in folded if not (c.isspace() or unicodedata.category(c)[0] in "PZ"))


_ALWAYS_EXACT = {_norm(p): p for p in ALWAYS_PHRASES_EN + ALWAYS_PHRASES_KO}
_ALWAYS_RES = tuple(re.compile(p) for p in ALWAYS_PATTERNS)


def _text(words: Sequence[str], kept: Sequence[int]) -> str:
    return "".join(words[i] for i in kept).strip()


def _drop_loops_once(words: Sequence[str], kept: list[int]) -> tuple[list[int], str | None]:
    """One left-to-right pass of rule (b) over the kept words."""
    keys = [_norm(words[i]) for i in kept]
    out: list[int] = []
    reason: str | None = None
    i = 0
    while i < len(keys):
        best: tuple[int, int, int] | None = None  # (words covered, n, repeats)
        for n in range(1, MAX_PHRASE_NGRAM + 1):
            needed = MIN_LOOP_REPEATS if n < PHRASE_WORDS else 2
            if i + n * needed > len(keys):
                break
            unit = keys[i : i + n]
            reps = 1
            while keys[i + reps * n : i + (reps + 1) * n] == unit:
                reps += 1
            if reps < needed:
                continue
            end = i + reps * n
            if keys[end:] == unit[: len(keys) - end]:
                end = len(keys)  # a partial repeat cut off by the end of the words
            if best is None or end - i > best[0]:
                best = (end - i, n, reps)
        if best is None:
            out.append(kept[i])
            i += 1
            continue
        covered, n, reps = best
        out.extend(kept[i : i + n])
        if reason is None:
            reason = f"looping repeat of '{_text(words, kept[i : i + n])}' x{reps}"
        i += covered
    return out, reason


def _drop_runaway_tail(words: Sequence[str], kept: list[int]) -> tuple[list[int], str | None]:
    """Rule (b), for a decode that ran to its token cap: the words it ends with that
    repeat words earlier in it (two or more, compared as in rule (b)) go."""
    keys = [_norm(words[i]) for i in kept]
    for start in range(1, len(keys) - 1):
        tail = keys[start:]
        if not all(tail):
            continue
        n = len(tail)
        if any(keys[j : j + n] == tail for j in range(start - n + 1)):
            return kept[:start], f"runaway repeat of '{_text(words, kept[start:])}'"
    return kept, None


def _drop_restart(words: Sequence[str], kept: list[int]) -> tuple[list[int], str | None]:
    """Rule (b), Whisper saying the window again: after a sentence ends, the words
    that end the decode (two or more) go when they are all the start of one of its
    earlier sentences, said over, or the end of the sentence just before them."""
    sentences = _sentences(words, kept)
    said = [[_norm(words[i]) for i in s] for s in sentences]
    for k in range(1, len(sentences)):
        tail = [_norm(words[i]) for s in sentences[k:] for i in s]
        if len(tail) < 2 or not all(tail):
            continue
        if len(tail) < len(said[k - 1]) and said[k - 1][-len(tail) :] == tail:
            at = kept.index(sentences[k][0])
            return kept[:at], f"the sentence's end said again: '{_text(words, kept[at:])}'"
        for earlier in said[:k]:
            n = len(tail)  # the last word may be cut off ("지침" for "지침을")
            if (
                n <= len(earlier)
                and tail[:-1] == earlier[: n - 1]
                and (earlier[n - 1].startswith(tail[-1]))
            ):
                cut = sentences[k][0]
                at = kept.index(cut)
                return kept[:at], f"the window said again: '{_text(words, kept[at:])}'"
    return kept, None


def _sentences(words: Sequence[str], kept: list[int]) -> list[list[int]]:
    """The kept word indices, grouped into sentences by their final punctuation."""
    sentences: list[list[int]] = [[]]
    for i in kept:
        sentences[-1].append(i)
        tail = unicodedata.normalize("NFKC", words[i]).rstrip().rstrip(_CLOSERS)
        if tail.endswith(_SENTENCE_ENDS):
            sentences.append([])
    return [s for s in sentences if s]


def _always_phrase(sentence: str) -> str | None:
    """The stock phrase that `sentence` is, from the `ALWAYS_*` lists, if any."""
    key = _norm(sentence)
    if key in _ALWAYS_EXACT:
        return _ALWAYS_EXACT[key]
    if any(r.fullmatch(key) for r in _ALWAYS_RES):
        return sentence.strip()
    return None


def _drop_stock_phrases(words: Sequence[str], kept: list[int]) -> tuple[list[int], str | None]:
    """Rule (c), first half: drop every sentence that is an `ALWAYS_*` phrase."""
    out: list[int] = []
    reason: str | None = None
    for sentence in _sentences(words, kept):
        phrase = _always_phrase(_text(words, sentence))
        if phrase is None:
            out.extend(sentence)
        elif reason is None:
            reason = f"stock phrase '{phrase}'"
    return out, reason


def _suspicious_phrase(words: Sequence[str], kept: list[int], lang: str) -> str | None:
    """The first phrase, if every kept sentence is a `SUSPICIOUS_*` phrase."""
    phrases = SUSPICIOUS_PHRASES_EN + SUSPICIOUS_BY_LANG.get(lang, ())
    by_key = {_norm(p): p for p in phrases}
    found = [by_key.get(_norm(_text(words, s))) for s in _sentences(words, kept)]
    if not found or None in found:
        return None
    return found[0]


def _is_weak(evidence: Evidence) -> bool:
    return (
        evidence.speech_seconds < WEAK_SPEECH_SECONDS
        or evidence.no_speech_prob > WEAK_NO_SPEECH_PROB
        or evidence.avg_logprob < WEAK_AVG_LOGPROB
    )


def compression_ratio(text: str) -> float:
    """Whisper's measure of repetitiveness: UTF-8 length over zlib-compressed length."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


def looped(words: Sequence[str], evidence: Evidence) -> bool:
    """Whether a decode went round in circles: it ran to its token cap, or rule (b)
    finds a loop in it, or its text fails rule (d). Whisper's own transcribe loop
    decodes such a window again, with its prompt reset; the captioner does the same
    for a final (``workers/captioner/worker.py``)."""
    if evidence.runaway:
        return True
    kept = list(range(len(words)))
    if _drop_loops_once(words, kept)[1] is not None:
        return True
    text = _text(words, kept)
    return len(text) >= COMPRESSION_MIN_CHARS and (
        compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD
    )


def skipped(words: Sequence[Word]) -> bool:
    """Whether a decode passed over speech: one of its words aligned across more than
    ``SKIP_SECONDS``. No word is said that slowly; a word that long covers a sentence
    the decoder left out (in the room, ``ko-tune`` seed 8: "데이터,@33.69-38.49" where
    "프로젝트를 만든 후 4개 탭이 표시됩니다:" was said; Whisper's own hallucination check
    counts words over 2 s as anomalous). The worker decodes such a final again without
    its prompt, as it does a loop."""
    return any(w.end - w.start > SKIP_SECONDS for w in words)


def _near_copy(copy: Sequence[str], phrase: Sequence[str]) -> bool:
    """``copy`` is ``phrase`` heard again: one word of ``NEAR_COPY_WORDS`` may differ,
    by one character."""
    differ = [(a, b) for a, b in zip(copy, phrase, strict=True) if a != b]
    return len(differ) <= len(phrase) // NEAR_COPY_WORDS and all(
        Levenshtein.distance(a, b, score_cutoff=1) <= 1 for a, b in differ
    )


def whole_repeat(words: Sequence[str]) -> int:
    """How many of ``words`` (a decode's, as Whisper gives them) are one phrase that
    the rest only say again, or 0: a phrase of ``PHRASE_WORDS`` words or more from the
    first word, then one whole copy of it or more, the last perhaps cut off (by the
    token cap, or inside a character). That is Whisper finishing a window and saying
    it over into the silence that pads it ("The first books were printed in black
    letter. The first books were printed in black letter."): the first copy is what
    was said. The engine keeps only it, before its words are aligned (``engine.py``).

    A copy may differ from the phrase in one word of every ``NEAR_COPY_WORDS``, by one
    character (``_near_copy``): under noise the copy is heard afresh and a syllable
    comes out another way ("프로젝트를 만들려면 마법사에서 제공하는 지침에 딸입니다.
    프로젝트를 만들으면 마법사에서 …", ``ko-tune`` in the room). Not by more: a
    speaker's parallel phrases differ in a whole word ("it was the best of times, it
    was the worst of times").
    """
    at = [i for i, w in enumerate(words) if _norm(w).replace("\ufffd", "")]
    keys = [_norm(words[i]).replace("\ufffd", "") for i in at]  # punctuation has none
    for n in range(PHRASE_WORDS, len(keys) // 2 + 1):
        unit, rest = keys[:n], keys[n:]
        whole = len(rest) - len(rest) % n
        copies = [rest[k : k + n] for k in range(0, whole, n)]
        tail = rest[whole:]  # a copy cut off: exactly the phrase's start, its last word cut
        cut_off = not tail or (
            tail[:-1] == unit[: len(tail) - 1] and unit[len(tail) - 1].startswith(tail[-1])
        )
        if cut_off and all(_near_copy(c, unit) for c in copies):
            return at[n]  # the first copy, with the punctuation that ends it
    return 0


def clean(words: Sequence[str], lang: str, evidence: Evidence) -> Cleaned:
    """Decide which of Whisper's `words` (each with its leading space, as Whisper gives
    them) to keep, by the rules in the module docstring; the reason is the first rule
    that dropped something."""
    if not words:
        return Cleaned((), None)
    if evidence.no_speech_prob > NO_SPEECH_THRESHOLD and evidence.avg_logprob < LOGPROB_THRESHOLD:
        return Cleaned(
            (),
            f"silence: no_speech_prob {evidence.no_speech_prob:.2f}, "
            f"avg_logprob {evidence.avg_logprob:.2f}",
        )
    reasons: list[str] = []
    kept = [i for i, w in enumerate(words) if "\ufffd" not in w]
    if len(kept) < len(words):
        reasons.append("a character cut in half")
    kept, reason = _drop_restart(words, kept)
    if reason is None and evidence.runaway:
        kept, reason = _drop_runaway_tail(words, kept)
    if reason:
        reasons.append(reason)
    while True:  # loops until none is left, then stock phrases, and again: see above
        after, reason = _drop_loops_once(words, kept)
        if reason is None:
            after, reason = _drop_stock_phrases(words, kept)
        if reason is None:
            break
        reasons.append(reason)
        kept = after

    phrase = _suspicious_phrase(words, kept, lang)
    if phrase is not None and _is_weak(evidence):
        reasons.append(f"stock phrase '{phrase}' on weak evidence")
        kept = []

    text = _text(words, kept)
    if len(text) >= COMPRESSION_MIN_CHARS:
        ratio = compression_ratio(text)
        if ratio > COMPRESSION_RATIO_THRESHOLD:
            reasons.append(f"compression ratio {ratio:.1f}")
            kept = []
    return Cleaned(tuple(kept), reasons[0] if reasons else None)
