"""Unsure partial decodes are not shown, but still count towards agreement."""

from __future__ import annotations

from companion.captions import Word
from workers.captioner.guard import Evidence
from workers.captioner.policy import Hypothesis, PolicySettings, StreamingPolicy

SURE = Evidence(no_speech_prob=0.05, avg_logprob=-0.2, speech_seconds=2.0)
UNSURE = Evidence(no_speech_prob=0.05, avg_logprob=-1.6, speech_seconds=2.0)


def test_unsure_partial_is_hidden_and_sure_one_shown() -> None:
    policy = StreamingPolicy(PolicySettings(confirm_words=False), "en")
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


def test_unsure_partials_still_agree_and_become_final() -> None:
    policy = StreamingPolicy(PolicySettings(min_commit_window=0.0, edge_holdback=0.0), "ko")
    words = (Word(" 사회연대경제는", 0.2, 0.9), Word(" 중요합니다", 0.9, 1.5))
    finals = []
    for _ in range(3):
        policy.push_vad([0.9] * 20)
        request = policy.poll()
        if request is not None:
            new = tuple(w for w in words if w not in request.prefix and w.end <= request.end)
            policy.on_result(request, Hypothesis(new, UNSURE))
        finals += [d for d in policy.take_drafts() if d.final]
    assert [d.text for d in finals][:1] == ["사회연대경제는"]
