"""Tests of the streaming caption policy, driven by a scripted speaker and a fake decoder.

The speaker is a script of words with audio times; the VAD says 0.9 on a word, 0.4 in
a short gap between words (Silero's probability dips there without falling off) and
0.05 elsewhere. The fake decoder hears the script's words inside a request's window,
after the words already final. At a ragged edge (a window that ends in speech) it can
be unstable, as Whisper is: ``corrupt`` also hears the word cut by the window's end,
truncated; ``mishear`` gets the words of the last seconds wrong, differently on each
decode, so that only agreement between decodes keeps them from becoming final.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.captions import Word
from workers.captioner.guard import Evidence
from workers.captioner.policy import (
    FRAME,
    DecodeRequest,
    Draft,
    Hypothesis,
    PolicySettings,
    StreamingPolicy,
    agreed_prefix,
    norm_word,
)

KENNEDY = "and so my fellow americans ask not what your country can do for you"
HANGOVER = 0.3  # a gap between words shorter than this keeps the VAD in speech
EPS = 1e-9
_rng = random.Random(7)
VOCAB = tuple(  # distinct, incompressible, never a stock phrase
    f"{i}" + "".join(_rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(4)) for i in range(400)
)

Decoder = Callable[[DecodeRequest], Hypothesis]


def speak(texts: Sequence[str], at: float = 0.5, each: float = 0.35) -> tuple[Word, ...]:
    """Words said back to back from ``at``, ``each`` seconds apart."""
    return timed([(t, each, 0.0) for t in texts], at)


def timed(spec: Sequence[tuple[str, float, float]], at: float = 0.5) -> tuple[Word, ...]:
    """Words from (text, duration, pause before) triples; a pause of 0 shares the edge."""
    words: list[Word] = []
    t = at
    for text, duration, pause in spec:
        start = t + pause if words else t
        words.append(Word(f" {text}", start, start + duration))
        t = words[-1].end
    return tuple(words)


def vad(words: Sequence[Word], seconds: float) -> list[float]:
    """The speech probability of each frame of ``seconds`` of audio."""
    starts = [w.start for w in words]
    probs = []
    for k in range(round(seconds / FRAME)):
        mid = (k + 0.5) * FRAME
        i = bisect.bisect_right(starts, mid) - 1
        if i >= 0 and mid < words[i].end:
            probs.append(0.9)
        elif 0 <= i < len(words) - 1 and words[i + 1].start - words[i].end < HANGOVER:
            probs.append(0.4)
        else:
            probs.append(0.05)
    return probs


def decoder(
    script: Sequence[Word],
    corrupt: bool = False,
    mishear: float = 0.0,
    cost: float = 0.0,
    evidence: Evidence | None = None,
) -> Decoder:
    """A decoder that hears the script: whole words in the window after the known ones."""

    def decode(r: DecodeRequest) -> Hypothesis:
        known = r.context + r.prefix
        after = known[-1].start if known else float("-inf")
        ragged = any(w.start < r.end and w.end > r.end - 0.15 for w in script)
        heard: list[Word] = []
        for w in script:
            if w.start < r.start - EPS or w.start <= after + EPS or w.start >= r.end:
                continue
            if w.end <= r.end + EPS and ragged and w.end > r.end - mishear:
                heard.append(Word(f"{w.text}{round(r.end / FRAME)}", w.start, w.end))
            elif w.end <= r.end + EPS:
                heard.append(w)
            elif corrupt:  # the ragged edge: only the part of the word heard so far
                letters = w.text.strip()
                k = max(1, int(len(letters) * (r.end - w.start) / (w.end - w.start)))
                heard.append(Word(f" {letters[:k]}", w.start, r.end))
        speech = sum(max(0.0, min(w.end, r.end) - max(w.start, r.start)) for w in script)
        ev = evidence or Evidence(no_speech_prob=0.05, avg_logprob=-0.2, speech_seconds=speech)
        return Hypothesis(words=tuple(heard), evidence=ev, cost=cost)

    return decode


@dataclass
class Trace:
    """What came out of a run: requests and drafts with the live edge they came at."""

    requests: list[tuple[float, DecodeRequest, float]] = field(default_factory=list)
    drafts: list[tuple[float, DecodeRequest | None, Draft]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # now - keep_from after each batch

    @property
    def finals(self) -> list[Draft]:
        return [d for _, _, d in self.drafts if d.final]

    @property
    def final_words(self) -> list[Word]:
        return [w for d in self.finals for w in d.words]


def drive(
    policy: StreamingPolicy, probs: Sequence[float], decode: Decoder, batch: int = 3
) -> Trace:
    """Feed ``probs`` a batch at a time, answering every request at once; then flush.

    Every request is checked against the audio a worker trimming at ``keep_from`` has.
    """
    trace = Trace()
    kept = 0.0  # the buffer's start, as the worker trims it

    def answer(r: DecodeRequest) -> None:
        assert r.start >= kept - EPS  # never audio the worker has already trimmed away
        assert all(w.end <= r.start + EPS for w in r.context)  # told, its audio left out
        assert all(r.start - EPS <= w.start for w in r.prefix)  # forced over its own audio
        trace.requests.append((policy.now, r, kept))
        policy.on_result(r, decode(r))
        trace.drafts.extend((policy.now, r, d) for d in policy.take_drafts())

    for i in range(0, len(probs), batch):
        policy.push_vad(probs[i : i + batch])
        while (r := policy.poll()) is not None:
            answer(r)
        trace.drafts.extend((policy.now, None, d) for d in policy.take_drafts())
        kept = policy.keep_from
        trace.lags.append(policy.now - kept)
    if (r := policy.flush()) is not None:
        answer(r)
    trace.drafts.extend((policy.now, None, d) for d in policy.take_drafts())
    return trace


def run(
    script: Sequence[Word],
    s: PolicySettings | None = None,
    batch: int = 3,
    edge: tuple[bool, float] = (False, 0.0),
    cost: float = 0.0,
) -> Trace:
    """Speak ``script``, then 2 s of silence, through a fresh policy."""
    seconds = script[-1].end + 2.0
    decode = decoder(script, corrupt=edge[0], mishear=edge[1], cost=cost)
    policy = StreamingPolicy(s or PolicySettings(), lang="en")
    return drive(policy, vad(script, seconds), decode, batch)


def test_silence_costs_no_decode() -> None:
    policy = StreamingPolicy(PolicySettings(), lang="en")
    trace = drive(policy, [0.05] * round(60 / FRAME), decoder(()))
    assert trace.requests == [] and trace.drafts == []
    assert max(trace.lags) <= policy.settings.speech_pad + policy.settings.min_speech + 2 * FRAME


@pytest.mark.parametrize(("seconds", "decodes"), [(0.15, False), (0.4, True)])
def test_a_blip_shorter_than_min_speech_is_not_decoded(seconds: float, decodes: bool) -> None:
    trace = run(speak(["um"], each=seconds))
    assert bool(trace.requests) is decodes
    blips = timed([("um", seconds, 0.0), ("uh", seconds, 1.0), ("er", seconds, 1.0)])
    assert bool(run(blips).requests) is decodes  # short runs do not add up


EDGES = {"exact": (False, 0.0), "truncating": (True, 0.0), "mishearing": (False, 1.5)}


@pytest.mark.parametrize("edge", EDGES.values(), ids=EDGES.keys())
def test_one_utterance(edge: tuple[bool, float]) -> None:
    s, batch = PolicySettings(), 3
    script = speak(KENNEDY.split())
    trace = run(script, s, batch, edge)
    onset, spoken = script[0].start, script[-1].end
    first_request = trace.requests[0][0]
    assert first_request <= onset + s.min_speech + (batch + 1) * FRAME
    partials = [(now, d) for now, _, d in trace.drafts if not d.final and d.words]
    assert (
        partials and partials[0][0] <= onset + s.min_speech + s.partial_interval + 2 * batch * FRAME
    )
    assert all(now <= spoken + FRAME for now, _ in partials)  # partials while speaking
    assert trace.final_words == list(script)
    ends = [(now, d) for now, _, d in trace.drafts if d.end_of_utterance]
    assert len(ends) == 1 and ends[0][1] is trace.finals[-1]
    assert spoken < ends[0][0] <= spoken + s.end_silence + (batch + 1) * FRAME
    assert {d.utterance for d in trace.finals} == {1}


def test_two_utterances() -> None:
    first = speak(KENNEDY.split()[:7])
    second = speak(KENNEDY.split()[7:], at=first[-1].end + 1.0)
    trace = run(first + second)
    assert trace.final_words == list(first + second)
    assert [d.utterance for d in trace.finals] == sorted(d.utterance for d in trace.finals)
    assert {d.utterance for d in trace.finals} == {1, 2}
    assert [d.end_of_utterance for d in trace.finals].count(True) == 2
    assert all(r.start > first[-1].end for _, r, _ in trace.requests if r.utterance == 2)


@pytest.mark.parametrize("edge", EDGES.values(), ids=EDGES.keys())
def test_confirm_words_makes_words_final_before_the_utterance_ends(
    edge: tuple[bool, float],
) -> None:
    script = speak(KENNEDY.split())  # 4.9 s, longer than min_commit_window
    s = PolicySettings(confirm_words=True)
    trace = run(script, s, edge=edge)
    assert trace.final_words == list(script)
    early = [(r, d) for _, r, d in trace.drafts if d.final and not d.end_of_utterance]
    assert early
    for r, d in early:
        assert r is not None and not r.final
        assert all(w.end <= r.end - s.edge_holdback + EPS for w in d.words)
    trace = run(script, PolicySettings(confirm_words=False), edge=edge)
    assert len(trace.finals) == 1 and trace.finals[0].end_of_utterance
    assert trace.final_words == list(script)


@pytest.mark.parametrize("cost", [0.0, 1.0])
def test_partial_cadence_adapts_to_decode_cost(cost: float) -> None:
    s, batch = PolicySettings(), 3
    script = speak(VOCAB[:30])  # 10.5 s of speech, one utterance, no cut
    trace = run(script, s, batch, cost=cost)
    times = [now for now, r, _ in trace.requests if not r.final]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 5
    interval = max(s.partial_interval, s.load_factor * cost)
    assert all(interval - EPS <= g <= interval + batch * FRAME + EPS for g in gaps)


@pytest.mark.parametrize("confirm", [True, False])
def test_a_long_utterance_keeps_a_bounded_window(confirm: bool) -> None:
    s = PolicySettings(confirm_words=confirm)
    script = speak(VOCAB[: round(60 / 0.35)])  # 60 s without a pause
    trace = run(script, s, edge=EDGES["truncating"])
    # agreed words move the window on; without them the utterance is cut
    assert any(r.cut for _, r, _ in trace.requests) is not confirm
    assert all(r.end - r.start <= s.max_utterance + 1.0 for _, r, _ in trace.requests)
    assert max(trace.lags) <= s.max_utterance + 1.0
    assert trace.final_words == list(script)


def test_on_result_takes_only_the_pending_request() -> None:
    script = speak(KENNEDY.split()[:3])
    policy = StreamingPolicy(PolicySettings(), lang="en")
    policy.push_vad(vad(script, 1.0))
    r = policy.poll()
    assert r is not None and policy.poll() is None  # one decode in flight at most
    hypothesis = decoder(script)(r)
    with pytest.raises(ValueError):
        policy.on_result(dataclasses.replace(r, end=r.end + FRAME), hypothesis)
    policy.on_result(r, hypothesis)
    with pytest.raises(ValueError):
        policy.on_result(r, hypothesis)


def test_the_guard_drops_what_whisper_makes_up() -> None:
    script = speak(KENNEDY.split()[:4])
    made_up = speak(["thanks", "for", "watching."], at=script[0].start)
    weak = Evidence(no_speech_prob=0.9, avg_logprob=-1.5, speech_seconds=1.4)
    policy = StreamingPolicy(PolicySettings(), lang="en")
    trace = drive(policy, vad(script, script[-1].end + 2), decoder(made_up, evidence=weak))
    assert trace.requests and not policy.in_utterance
    assert not [d for _, _, d in trace.drafts if "thanks" in d.text]


def test_flush_honours_reuse_covering_partial() -> None:
    script = speak(KENNEDY.split()[:4])
    policy = StreamingPolicy(PolicySettings(reuse_covering_partial=False), lang="en")
    policy.push_vad(vad(script, script[-1].end + 0.1))  # the source ends mid-pause
    r = policy.poll()
    assert r is not None and not r.final
    policy.on_result(r, decoder(script)(r))
    final = policy.flush()
    assert final is not None and final.final


def test_a_phrase_said_again_is_not_taken_for_an_echo() -> None:
    said = KENNEDY + " ask what you can do for your country"
    script = speak(said.split())  # ends on "your country", said once before
    s = PolicySettings(edge_holdback=0.3, min_commit_window=2.0)  # as CaptionerSettings
    trace = run(script, s, batch=7)
    assert trace.final_words == list(script)


spec = st.lists(
    st.tuples(
        st.floats(0.1, 0.8),
        st.one_of(st.just(0.0), st.floats(0.0, HANGOVER - 0.05), st.floats(0.0, 1.5)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(
    spec=spec,
    batch=st.integers(1, 10),
    confirm=st.booleans(),
    prefix_seconds=st.sampled_from([0.0, 2.0, 30.0]),
)
def test_every_word_is_final_once_in_order(
    spec: list[tuple[float, float]], batch: int, confirm: bool, prefix_seconds: float
) -> None:
    # A run of speech opens an utterance only when it lasts min_speech, so a word after
    # a real pause is said long enough to be heard on its own.
    said = [
        (VOCAB[i], max(d, 0.35) if i == 0 or p >= HANGOVER else d, p)
        for i, (d, p) in enumerate(spec)
    ]
    script = timed(said)
    s = PolicySettings(confirm_words=confirm, prefix_seconds=prefix_seconds)
    policy = StreamingPolicy(s, lang="en")
    trace = drive(policy, vad(script, script[-1].end + 2), decoder(script, corrupt=True), batch)
    assert trace.final_words == list(script)
    assert not policy.in_utterance
    # a partial never repeats a word that is already final in its utterance
    final_end: dict[int, float] = {}
    for _, _, d in trace.drafts:
        last = final_end.get(d.utterance, float("-inf"))
        assert all(w.start >= last - EPS for w in d.words)
        if d.final and d.words:
            final_end[d.utterance] = d.words[-1].end


def test_norm_word_ignores_case_punctuation_and_width() -> None:
    assert norm_word(" Americans,") == norm_word("americans") == "americans"
    assert norm_word("ＡＢＣ!") == "abc"
    assert norm_word(" ...") == ""
    assert norm_word("don't") == "dont"


def test_agreed_prefix() -> None:
    def ws(text: str) -> list[Word]:
        return [Word(f" {t}", 0.0, 0.0) for t in text.split()]

    assert agreed_prefix(ws("And so, my"), ws("and so my fellow")) == 3
    assert agreed_prefix(ws("and so my"), ws("and sew my")) == 1
    assert agreed_prefix(ws("and so"), []) == 0
    assert agreed_prefix([], ws("and so")) == 0
    assert agreed_prefix(ws("and - so"), ws("and - so")) == 1  # an empty word stops agreement
