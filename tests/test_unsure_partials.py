"""Unsure partial decodes are not shown; the final comes from the utterance's own decode."""

from __future__ import annotations

from companion.captions import Word
from workers.captioner.guard import Evidence
from workers.captioner.policy import Hypothesis, PolicySettings, StreamingPolicy

SURE = Evidence(no_speech_prob=0.05, avg_logprob=-0.2, speech_seconds=2.0)
UNSURE = Evidence(no_speech_prob=0.05, avg_logprob=-1.6, speech_seconds=2.0)


def test_unsure_partial_is_hidden_and_sure_one_shown() -> None:
    policy = StreamingPolicy(PolicySettings(), "en")
    policy.push_vad([0.9] * 30)
    request = policy.poll()
    assert request is not None
    policy.on_result(request, Hypothesis((Word(" watching", 0.5, 0.9),), UNSURE))
    assert policy.take_drafts() == []
    policy.push_vad([0.9] * 30)
    request = policy.poll()
    assert request is not None
    policy.on_result(request, Hypothesis((Word(" What", 0.5, 0.9),), SURE))
    drafts = policy.take_drafts()
    assert [(d.final, d.text) for d in drafts] == [(False, "What")]


def test_an_unsure_final_decode_is_still_the_final() -> None:
    """Finals are not gated on confidence: the guard alone drops made-up words."""
    policy = StreamingPolicy(PolicySettings(), "ko")
    words = (Word(" 사회연대경제는", 0.2, 0.9), Word(" 중요합니다", 0.9, 1.5))
    policy.push_vad([0.9] * 50)
    while (request := policy.poll()) is not None:
        policy.on_result(request, Hypothesis(words[:1], UNSURE))
    policy.push_vad([0.05] * 30)
    finals = []
    while (request := policy.poll()) is not None:
        assert request.final
        policy.on_result(request, Hypothesis(words, UNSURE))
        finals += [d for d in policy.take_drafts() if d.final]
    assert [d.text for d in finals] == ["사회연대경제는 중요합니다"]
    assert finals[0].end_of_utterance
