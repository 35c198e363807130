"""Whisper echoing its prompt: the policy drops new words that repeat final text."""

from __future__ import annotations

from companion.captions import Word
from workers.captioner.policy import echo_start


def words(text: str, start: float = 0.0) -> list[Word]:
    return [
        Word(" " + w, start + i * 0.3, start + i * 0.3 + 0.25) for i, w in enumerate(text.split())
    ]


FINAL = words("And so my fellow Americans ask not what your country can do for you")


def test_whole_sentence_said_again_is_an_echo() -> None:
    assert echo_start(words("what your country can do for you."), FINAL) == 0


def test_echo_after_new_words_is_cut_there() -> None:
    new = words("we are glad and so my fellow Americans ask")
    assert echo_start(new, FINAL) == 3


def test_new_words_are_not_an_echo() -> None:
    assert echo_start(words("ask what you can do for your country"), FINAL) is None
    assert echo_start(words("country"), FINAL) is None  # a single word may well repeat
    assert echo_start(words("what your"), []) is None


def test_short_repeat_inside_new_speech_is_kept() -> None:
    # four repeated words inside a longer new hypothesis are speech, not an echo
    new = words("they said what your country can mean to them today")
    assert echo_start(new, FINAL) is None


def test_echo_of_a_short_prefix_is_cut_after_the_new_word() -> None:
    before = words("and so my fellow")
    assert echo_start(words("Americans, and so my fellow Americans,"), before) == 1
