"""Whisper echoing its prompt: a final decode that opens with the end of the last finals."""

from __future__ import annotations

from companion.captions import Word
from workers.captioner.policy import echo_length


def words(text: str, start: float = 0.0) -> list[Word]:
    return [
        Word(" " + w, start + i * 0.3, start + i * 0.3 + 0.25) for i, w in enumerate(text.split())
    ]


FINAL = words("And so my fellow Americans ask not what your country can do for you")


def test_the_end_of_the_prompt_said_again_at_the_start_is_an_echo() -> None:
    assert echo_length(words("what your country can do for you. Ask what you can"), FINAL) == 7
    assert echo_length(words("can do for you."), FINAL) == 4
    assert echo_length(words("can do for you. And more"), FINAL) == 4
    assert echo_length(words("for you."), FINAL) == 2  # the whole decode is the echo
    # a whole sentence said again is speech (a recording played in a loop, too)
    assert echo_length(words("what your country can do for you"), FINAL) == 0


def test_new_words_are_not_an_echo() -> None:
    assert echo_length(words("ask what you can do for your country"), FINAL) == 0
    assert echo_length(words("country"), FINAL) == 0  # a single word may well repeat
    assert echo_length(words("for you and me"), FINAL) == 0  # two words, then new ones
    assert echo_length(words("what your"), []) == 0


def test_a_phrase_said_again_later_is_speech() -> None:
    # repeats inside the earlier finals, or after new words, are not the prompt's end
    assert echo_length(words("my fellow Americans ask not"), FINAL) == 0
    said = words("it was natural that the forms of printed letters should follow")
    before = words("the forms of printed letters should be beautiful and reasonable")
    assert echo_length(said, before) == 0
