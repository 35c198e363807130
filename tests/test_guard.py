"""Tests of the hallucination guard on Whisper's words."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from companion.captions import Word
from workers.captioner.guard import (
    Cleaned,
    Evidence,
    clean,
    compression_ratio,
    looped,
    skipped,
    whole_repeat,
)

STRONG = Evidence(no_speech_prob=0.05, avg_logprob=-0.3, speech_seconds=1.5)
SHORT = Evidence(no_speech_prob=0.05, avg_logprob=-0.3, speech_seconds=0.5)
UNSURE = Evidence(no_speech_prob=0.05, avg_logprob=-0.9, speech_seconds=1.5)
QUIET = Evidence(no_speech_prob=0.4, avg_logprob=-0.3, speech_seconds=1.5)
SILENT = Evidence(no_speech_prob=0.82, avg_logprob=-1.3, speech_seconds=0.0)


def words(text: str) -> list[str]:
    """Whisper-style words: each with its leading space."""
    return [f" {word}" for word in text.split()]


def kept(text: str, lang: str = "en", evidence: Evidence = STRONG) -> str:
    """The text that survives cleaning."""
    ws = words(text)
    return "".join(ws[i] for i in clean(ws, lang, evidence).keep).strip()


# (a) silence


def test_silence_drops_everything() -> None:
    result = clean(words("And so my fellow Americans,"), "en", SILENT)
    assert result == Cleaned((), "silence: no_speech_prob 0.82, avg_logprob -1.30")


def test_silence_needs_both_signals() -> None:
    unsure_but_speech = Evidence(no_speech_prob=0.2, avg_logprob=-1.3, speech_seconds=2.0)
    assert kept("And so my fellow Americans,", evidence=unsure_but_speech) == (
        "And so my fellow Americans,"
    )


def test_no_words_keep_nothing_without_a_reason() -> None:
    assert clean([], "en", SILENT) == Cleaned((), None)


# (b) loops


def test_a_loop_keeps_one_copy() -> None:
    text = (
        "He went to the 1st floor and went to the 1st floor and "
        "went to the 1st floor and went to the 1st floor"
    )
    ws = words(text)
    result = clean(ws, "en", STRONG)
    assert result.keep == tuple(range(7))  # "He went to the 1st floor and"
    assert result.reason == "looping repeat of 'went to the 1st floor and' x3"


def test_a_loop_keeps_what_follows_it() -> None:
    assert kept("we are we are we are we will go") == "we are we will go"


def test_a_loop_ignores_case_and_punctuation() -> None:
    assert kept("Thank you. Thank you, thank you! THANK YOU") == "Thank you."
    assert kept("감사합니다. 감사합니다. 감사합니다. 네") == "감사합니다. 네"


def test_two_repeats_are_speech() -> None:
    assert kept("no no I said so") == "no no I said so"


def test_a_whole_phrase_said_twice_is_a_loop() -> None:
    text = (
        "At year end, we counted 627,000 subscribers. At year end, we counted 627,000 subscribers."
    )
    assert kept(text) == "At year end, we counted 627,000 subscribers."
    assert kept("it was the best of times, it was the worst of times") == (
        "it was the best of times, it was the worst of times"
    )
    assert kept("we will fight, we will fight on") == "we will fight, we will fight on"


RUNAWAY = Evidence(no_speech_prob=0.05, avg_logprob=-0.2, speech_seconds=6.0, runaway=True)


def test_a_runaway_decode_loses_the_repeat_it_ends_with() -> None:
    said = "각 탭을 사용하는 방법을 배우려면 다음 단계에서 제공되는 링크를 사용합니다."
    looped = f"{said} 각 탭을 사용하는 방법을 배우려면 다음 단계에서"
    assert kept(looped, "ko", RUNAWAY) == said
    assert kept(looped, "ko", STRONG) == said  # the window said again, in any case
    ran = "the cat sat on the mat and the cat sat"  # no sentence end: only if it ran away
    assert kept(ran, evidence=RUNAWAY) == "the cat sat on the mat and"
    assert kept(ran) == ran
    result = clean(words(f"{said} 각 탭을 사용하는 \ufffd"), "ko", RUNAWAY)
    assert result.reason == "a character cut in half"
    assert "".join(words(said)[i] for i in result.keep[: len(said.split())]).strip() == said


def test_the_window_said_again_after_its_sentence_goes() -> None:
    said = "각 프로젝트는 도맨 및 국가 슬래시 언어에만 적용됩니다."
    assert kept(f"{said} 각 프로젝트는 도맨", "ko") == said
    again = "프로젝트를 만들려면 마법사에서 제공하는 지침을 따릅니다."
    assert kept(f"{again} 프로젝트를 만들려면 마법사에서 제공하는 지침", "ko") == again
    assert kept(f"{said} {said}", "ko") == said
    two = "It was late. We went home."
    assert kept(f"{two} We went") == two  # a later sentence started over
    assert kept("Yes. Yes we can.") == "Yes. Yes we can."  # one word is not a restart
    assert kept("We will. We will go on.") == "We will. We will go on."  # goes on


def test_the_end_of_the_last_sentence_said_again_goes() -> None:
    said = "첫 번째 프로젝트를 만들려면 음성 선택한 날 새 프로젝트를 클릭합니다."
    assert kept(f"{said} 새 프로젝트를 클릭합니다.", "ko") == said
    assert kept("We left at noon, and then went home. Went home.") == (
        "We left at noon, and then went home."
    )
    assert kept("We went home. Home.") == "We went home. Home."  # one word: speech
    goes_on = "We went home. Went home early and slept."  # not the end said again
    assert kept(goes_on) == goes_on


def test_parallel_sentences_are_speech() -> None:
    """Anaphora is not a decoder loop: nothing of this goes."""
    dickens = (
        "It was the best of times. It was the worst of times. It was the age of wisdom. "
        "It was the age of foolishness. It was the epoch of belief."
    )
    assert kept(dickens) == dickens


def test_a_runaway_decode_without_a_repeat_is_kept() -> None:
    assert kept("we will go to the market and then", evidence=RUNAWAY) == (
        "we will go to the market and then"
    )


def test_a_one_word_loop() -> None:
    result = clean(words("the the the the the end"), "en", STRONG)
    assert result.keep == (0, 5)
    assert result.reason == "looping repeat of 'the' x5"


# (c) stock phrases


def test_always_phrases_go_wherever_they_are() -> None:
    assert kept("Thanks for watching!") == ""
    assert kept("We begin now. Thank you for watching. Please subscribe.") == "We begin now."
    assert kept("Subtitles by the Amara.org community") == ""
    assert kept("Transcribed by ESO, translated by —") == ""
    assert kept("Don't forget to subscribe!") == ""


def test_always_phrases_in_korean() -> None:
    assert kept("MBC 뉴스 이덕영입니다.", "ko") == ""
    assert kept("KBS 뉴스 김철수 기자입니다.", "ko") == ""
    assert kept("시청해주셔서 감사합니다.", "ko") == ""
    assert kept("오늘도 시청해 주셔서 감사합니다!", "ko") == ""
    assert kept("구독과 좋아요 부탁드립니다.", "ko") == ""
    assert kept("구독, 좋아요, 알림설정 부탁드려요", "ko") == ""
    assert kept("한글자막 by 한효정", "ko") == ""


def test_a_real_sentence_before_a_stock_phrase_is_kept() -> None:
    text = "사회연대경제는 협동조합과 사회적기업을 포함합니다. 시청해주셔서 감사합니다."
    result = clean(words(text), "ko", STRONG)
    assert result.keep == (0, 1, 2, 3)
    assert result.reason == "stock phrase '시청해주셔서 감사합니다'"


def test_an_always_phrase_inside_a_sentence_is_kept() -> None:
    assert kept("So thanks for watching the session online.") == (
        "So thanks for watching the session online."
    )


def test_english_stock_phrase_in_a_korean_session() -> None:
    assert kept("네 반갑습니다. Thanks for watching!", "ko") == "네 반갑습니다."


def test_suspicious_phrase_with_strong_evidence_is_kept() -> None:
    assert clean(words("Thank you."), "en", STRONG) == Cleaned((0, 1), None)
    assert kept("감사합니다.", "ko") == "감사합니다."


def test_suspicious_phrase_with_weak_evidence_is_dropped() -> None:
    for evidence in (SHORT, UNSURE, QUIET):
        result = clean(words("Thank you."), "en", evidence)
        assert result == Cleaned((), "stock phrase 'thank you' on weak evidence")
    assert kept("감사합니다.", "ko", SHORT) == ""
    assert kept("네.", "ko", SHORT) == ""
    assert kept("Thank you. Bye.", "en", SHORT) == ""


def test_suspicious_phrase_in_a_longer_text_is_kept() -> None:
    assert kept("Thank you. Next question?", "en", SHORT) == "Thank you. Next question?"
    assert kept("네, 맞습니다.", "ko", SHORT) == "네, 맞습니다."


def test_korean_suspicious_phrases_apply_only_to_korean() -> None:
    assert kept("네.", "en", SHORT) == "네."


# (d) compression ratio


def test_compression_ratio_drops_repetitive_text() -> None:
    text = "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabc"  # one word: no loop of words
    assert compression_ratio(text) > 2.4
    result = clean([f" {text}"], "en", STRONG)
    assert result.keep == ()
    assert result.reason is not None and result.reason.startswith("compression ratio ")


def test_short_text_is_not_judged_by_compression() -> None:
    assert kept("aaaaaaaaaaaaaaaaaaaaaaa") == "aaaaaaaaaaaaaaaaaaaaaaa"  # 23 characters


def test_the_first_reason_is_reported() -> None:
    result = clean(words("Thanks for watching. ha ha ha ha"), "en", STRONG)
    assert result.keep == (3,)
    assert result.reason == "looping repeat of 'ha' x4"


# properties

VOCABULARY = [
    "the",
    "the.",
    "1st",
    "floor",
    "and",
    "Thank",
    "you",
    "you.",
    "thanks",
    "for",
    "watching.",
    "Bye!",
    "okay",
    "please",
    "subscribe.",
    "시청해주셔서",
    "감사합니다.",
    "네",
    "아.",
    "MBC",
    "뉴스",
    "이덕영입니다.",
    "협동조합",
    "-",
]
REAL_WORDS = [
    "social",
    "solidarity",
    "economy",
    "cooperatives",
    "enterprise",
    "Seoul",
    "workers",
    "decent",
    "work,",
    "public",
    "procurement",
    "finance.",
    "villages",
    "care",
    "platform",
    "labour",
    "research",
    "policy",
    "Korea",
    "Asia",
    "Japan",
    "China",
    "ILO",
    "KoSEA",
    "members",
    "growth",
    "사회연대경제는",
    "협동조합과",
    "사회적기업을",
    "포함합니다.",
    "정부는",
    "지원합니다",
]
EVIDENCE = st.builds(
    Evidence,
    no_speech_prob=st.floats(0, 1),
    avg_logprob=st.floats(-3, 0),
    speech_seconds=st.floats(0, 30),
)


@given(st.lists(st.sampled_from(VOCABULARY), max_size=40), st.sampled_from(["en", "ko"]), EVIDENCE)
def test_keep_is_a_sorted_subset(ws: list[str], lang: str, evidence: Evidence) -> None:
    keep = clean([f" {w}" for w in ws], lang, evidence).keep
    assert list(keep) == sorted(set(keep))
    assert all(0 <= i < len(ws) for i in keep)


@given(st.lists(st.sampled_from(VOCABULARY), max_size=40), st.sampled_from(["en", "ko"]), EVIDENCE)
def test_clean_is_idempotent(ws: list[str], lang: str, evidence: Evidence) -> None:
    spaced = [f" {w}" for w in ws]
    first = clean(spaced, lang, evidence)
    again = [spaced[i] for i in first.keep]
    assert clean(again, lang, evidence) == Cleaned(tuple(range(len(again))), None)


@given(st.lists(st.sampled_from(REAL_WORDS), unique=True, max_size=len(REAL_WORDS)))
def test_real_speech_is_kept_whole(ws: list[str]) -> None:
    spaced = [f" {w}" for w in ws]
    for lang in ("en", "ko"):
        assert clean(spaced, lang, STRONG) == Cleaned(tuple(range(len(ws))), None)


def test_looped_tells_a_decode_that_went_round_in_circles() -> None:
    fine = Evidence(no_speech_prob=0.1, avg_logprob=-0.3, speech_seconds=3.0)
    sentence = [" 사회적기업의", " 정의는", " 나라마다", "다릅니다."]
    assert not looped(sentence, fine)
    assert looped(sentence, Evidence(0.1, -0.3, 3.0, runaway=True))  # hit the token cap
    assert looped([*sentence, " 사회적기업", " 사회적기업", " 사회적기업"], fine)
    assert looped([" It", " was", " the", " best", " of", " times."], fine) is False


def test_whole_repeat_finds_the_window_said_over() -> None:
    # Whisper's own words, as the tokenizer splits them (punctuation apart), from
    # ko-tune: the sentence, again, and a third copy cut off inside a syllable
    said = [
        " 각",
        " 프로젝트는",
        " 도맨",
        " 및",
        " 국가",
        " 슬래시",
        " 언어에만",
        " 적용됩니다",
        ".",
    ]
    assert whole_repeat([*said, *said, " 각", " 프�"]) == len(said)
    assert whole_repeat([*said, *said, *said]) == len(said)
    english = words("The first books were printed in black letter.")
    assert whole_repeat(english + english) == len(english)


def test_whole_repeat_finds_a_copy_heard_a_little_differently() -> None:
    # ko-tune in the room: the copy heard afresh, one word of six another way
    said = words("프로젝트를 만들려면 마법사에서 제공하는 지침에 딸입니다.")
    again = words("프로젝트를 만들으면 마법사에서 제공하는 지침에 딸입니다.")
    assert whole_repeat(said + again) == len(said)
    assert whole_repeat(said + again + words("프로젝트를 만들")) == len(said)
    # a copy cut off is the phrase's start exactly: a word after the copies is speech
    assert whole_repeat(said + again + words("그리고")) == 0
    # two words of six, or one of five, is another sentence
    assert (
        whole_repeat(said + words("프로젝트를 만들으면 마법사에서 제공하는 지침을 따릅니다.")) == 0
    )
    five = words("we counted the votes twice")
    assert whole_repeat(five + words("we counted the ballots twice")) == 0


def test_whole_repeat_leaves_speech_alone() -> None:
    once = words("It was the best of times, it was the worst of times.")
    assert whole_repeat(once) == 0
    # a phrase said twice, then more: not the window said over (rule (b) judges it)
    assert whole_repeat(words("at year end we counted at year end we counted 627,000")) == 0
    # three words said twice is short enough to be speech
    assert whole_repeat(words("thank you all thank you all")) == 0
    # the copy must start at the first word
    assert whole_repeat(words("So printing in black letter printing in black letter")) == 0


def test_a_word_aligned_across_seconds_is_speech_passed_over() -> None:
    said = [Word(" 프로젝트를", 33.69, 35.25), Word(" 만든", 35.25, 35.65)]
    assert not skipped(said)  # a first word may take the window's lead-in with it
    assert skipped([Word(" 데이터,", 33.69, 38.49), Word(" 패스트,", 39.01, 39.51)])
    assert not skipped([])
