"""Tests of the streaming caption policy, driven by a scripted speaker and a fake decoder.

The speaker is a script of words with audio times; the VAD says 0.9 on a word, 0.4 in
a short gap between words (Silero's probability dips there without falling off) and
0.05 elsewhere. The fake decoder hears the script's words whose middle lies inside a
request's window. At a ragged edge (a partial's window that ends in speech) it can be
unstable, as Whisper is: ``corrupt`` also hears the word cut by the window's end,
truncated; ``mishear`` gets the words of the last seconds wrong, differently on each
decode. Neither may ever reach a final caption.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from companion.captions import Word
from workers.captioner.guard import Evidence
from workers.captioner.policy import (
    CAP_GRACE,
    CAP_REACH,
    FRAME,
    DecodeRequest,
    Draft,
    Hypothesis,
    PolicySettings,
    StreamingPolicy,
    cut_point,
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
    cost: float | Callable[[DecodeRequest], float] = 0.0,
    evidence: Evidence | None = None,
) -> Decoder:
    """A decoder that hears the script: the words whose middle is in the window."""

    def decode(r: DecodeRequest) -> Hypothesis:
        ragged = any(w.start < r.end and w.end > r.end - 0.15 for w in script)
        heard: list[Word] = []
        for w in script:
            middle = (w.start + w.end) / 2
            if r.final:  # a word cut by a cut point is heard where most of it is
                if r.start - EPS <= middle < r.end:
                    heard.append(w)
            elif w.end <= r.end + EPS and r.start - EPS <= middle:
                if ragged and w.end > r.end - mishear:
                    heard.append(Word(f"{w.text}{round(r.end / FRAME)}", w.start, w.end))
                else:
                    heard.append(w)
            elif corrupt and w.start < r.end < w.end and r.start - EPS <= w.start:
                letters = w.text.strip()  # the ragged edge: the part of the word heard so far
                k = max(1, int(len(letters) * (r.end - w.start) / (w.end - w.start)))
                heard.append(Word(f" {letters[:k]}", w.start, r.end))
        speech = sum(max(0.0, min(w.end, r.end) - max(w.start, r.start)) for w in script)
        ev = evidence or Evidence(no_speech_prob=0.05, avg_logprob=-0.2, speech_seconds=speech)
        spent = cost(r) if callable(cost) else cost
        return Hypothesis(words=tuple(heard), evidence=ev, cost=spent)

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

    @property
    def final_requests(self) -> list[DecodeRequest]:
        """Every final decode asked for, kept or not (the pause went on or did not)."""
        return [r for _, r, _ in self.requests if r.final]

    @property
    def kept_requests(self) -> list[DecodeRequest]:
        """The final decodes whose pause held: a later one of the same window replaces
        one whose speech went on."""
        asked = self.final_requests
        return [
            r
            for i, r in enumerate(asked)
            if not any((q.utterance, q.start) == (r.utterance, r.start) for q in asked[i + 1 :])
        ]


def drive(
    policy: StreamingPolicy,
    probs: Sequence[float],
    decode: Decoder,
    batch: int | Callable[[], int] = 3,
    lag: Callable[[], int] | None = None,
) -> Trace:
    """Feed ``probs`` a batch at a time, answering requests; then flush.

    ``lag`` (frames) delays each answer, as a decode that takes time does: the frames
    that arrive meanwhile are pushed before the result comes back. Every request is
    checked against the audio a worker trimming at ``keep_from`` has.
    """
    trace = Trace()
    kept = 0.0  # the buffer's start, as the worker trims it
    i = 0

    def push(n: int) -> None:
        nonlocal i, kept
        policy.push_vad(probs[i : i + n])
        i += n
        trace.drafts.extend((policy.now, None, d) for d in policy.take_drafts())

    def answer(r: DecodeRequest) -> None:
        assert r.start >= kept - EPS  # never audio the worker has already trimmed away
        assert r.end <= policy.now + EPS  # never audio that has not arrived
        trace.requests.append((policy.now, r, kept))
        result = decode(r)
        if lag is not None:
            push(lag())
        policy.on_result(r, result)
        trace.drafts.extend((policy.now, r, d) for d in policy.take_drafts())

    while i < len(probs):
        push(batch() if callable(batch) else batch)
        while (r := policy.poll()) is not None:
            answer(r)
        trace.drafts.extend((policy.now, None, d) for d in policy.take_drafts())
        kept = policy.keep_from
        trace.lags.append(policy.now - kept)
    while (r := policy.flush()) is not None:
        answer(r)
    trace.drafts.extend((policy.now, None, d) for d in policy.take_drafts())
    return trace


def run(
    script: Sequence[Word],
    s: PolicySettings | None = None,
    batch: int = 3,
    edge: tuple[bool, float] = (False, 0.0),
    cost: float = 0.0,
    tail: float = 2.0,
) -> Trace:
    """Speak ``script``, then ``tail`` seconds of silence, through a fresh policy."""
    seconds = script[-1].end + tail
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
def test_one_utterance_one_final(edge: tuple[bool, float]) -> None:
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
    # the whole utterance is one final, from one final decode of its whole window
    assert len(trace.finals) == 1 and trace.finals[0].end_of_utterance
    assert trace.final_words == list(script)
    (request,) = trace.kept_requests
    assert request.start <= onset and request.word_times
    assert spoken < request.end <= spoken + s.end_pad + FRAME
    ends = [(now, d) for now, _, d in trace.drafts if d.end_of_utterance]
    assert len(ends) == 1 and ends[0][1] is trace.finals[0]
    assert (
        spoken + s.end_silence - FRAME < ends[0][0] <= spoken + s.end_silence + (batch + 1) * FRAME
    )
    assert all(not r.word_times for _, r, _ in trace.requests if not r.final)


def test_the_final_decode_starts_in_the_pause_and_counts_only_when_it_holds() -> None:
    s = PolicySettings(final_after=0.25, end_silence=0.6)
    first = speak(KENNEDY.split()[:4])
    # a pause of 0.45 s: longer than final_after, shorter than end_silence
    second = speak(KENNEDY.split()[4:], at=first[-1].end + 0.45)
    trace = run(first + second, s, batch=1)
    asked = [(now, r) for now, r, _ in trace.requests if r.final]
    assert len(asked) == 2
    (t1, r1), (_, r2) = asked
    assert first[-1].end + s.final_after - FRAME <= t1 <= first[-1].end + s.final_after + 2 * FRAME
    assert r1.end < second[0].start  # the first pause's decode: shown, not kept
    shown = [(r, d) for now, r, d in trace.drafts if t1 <= now <= second[0].start + FRAME]
    assert shown[0][0] is None and not shown[0][1].final  # shown when speech resumed
    assert shown[0][1].text == "and so my fellow"
    assert len(trace.finals) == 1 and trace.final_words == list(first + second)
    assert r2.start == r1.start and r2.end > second[-1].end


@pytest.mark.parametrize("lead_in", [0.0, 0.5])
def test_two_utterances_share_only_the_lead_in_and_no_word(lead_in: float) -> None:
    first = speak(KENNEDY.split()[:7])
    second = speak(KENNEDY.split()[7:], at=first[-1].end + 0.6)  # onset pad reaches back
    s = PolicySettings(lead_in=lead_in)
    trace = run(first + second, s)
    assert trace.final_words == list(first + second)
    assert [d.utterance for d in trace.finals] == [1, 2]
    assert all(d.end_of_utterance for d in trace.finals)
    r1, r2 = trace.kept_requests
    onset = second[0].start
    assert r2.start == pytest.approx(max(onset - s.speech_pad, r1.end - lead_in), abs=2 * FRAME)
    partials = [r for _, r, _ in trace.requests if r.utterance == 2 and not r.final]
    assert partials and all(r.start >= r1.end - EPS for r in partials)  # partials do not


def test_the_lead_in_words_are_the_last_finals_and_dropped() -> None:
    """Whisper hears the end of the last utterance in the lead-in: those words, by
    their times, are the last final's and not said again."""
    first = speak(KENNEDY.split()[:5])
    second = speak(KENNEDY.split()[5:8], at=first[-1].end + 1.0)
    s = PolicySettings(lead_in=1.0, speech_pad=1.5)
    trace = run(first + second, s)
    _, r2 = trace.kept_requests
    assert r2.start < (first[-1].start + first[-1].end) / 2  # the lead-in hears "Americans"
    assert trace.final_words == list(first + second)
    assert trace.finals[1].text == "ask not what"


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


def test_a_long_utterance_is_cut_at_its_pauses_into_bounded_windows() -> None:
    s = PolicySettings()
    # 60 s without a pause that ends the utterance, but with a short gap every 8 words
    spec = [(VOCAB[i], 0.3, 0.2 if i % 8 == 0 and i else 0.0) for i in range(170)]
    script = timed(spec)
    trace = run(script, s, edge=EDGES["truncating"])
    cuts = trace.kept_requests[:-1]
    assert len(cuts) >= 4 and [d.end_of_utterance for d in trace.finals][:-1] == [False] * len(
        trace.finals[:-1]
    )
    assert all(r.end - r.start <= s.max_utterance + EPS for _, r, _ in trace.requests)
    assert max(trace.lags) <= s.max_utterance + 1.0
    gaps = [(a.end, b.start) for a, b in itertools.pairwise(script) if b.start > a.end]
    for r in cuts:  # every cut falls in one of the short gaps between words
        assert any(a - EPS <= r.end <= b + EPS for a, b in gaps), r.end
    assert trace.final_words == list(script)
    assert [d.end_of_utterance for d in trace.finals].count(True) == 1
    assert {d.utterance for d in trace.finals} == {1}
    kept = trace.kept_requests  # no lead-in after a cut: each part starts at the cut
    assert all(b.start == pytest.approx(a.end) for a, b in itertools.pairwise(kept))


def test_a_cut_takes_the_final_decode_started_in_its_pause() -> None:
    s = PolicySettings()
    # 40 s of read speech: a pause of 0.33 s every seven words, long enough to start a
    # final decode (final_after) and too short to end the utterance before the cap
    spec = [(VOCAB[i], 0.3, 0.33 if i % 7 == 0 and i else 0.0) for i in range(120)]
    script = timed(spec)
    trace = run(script, s, edge=EDGES["truncating"])
    kept = trace.kept_requests
    cuts = [
        r for r in kept if any((q.utterance, q.part) == (r.utterance, r.part + 1) for q in kept)
    ]
    assert len(cuts) >= 2
    asked = {id(r): now for now, r, _ in trace.requests}
    pauses = [(a.end, b.start) for a, b in itertools.pairwise(script) if b.start > a.end]
    for r in cuts:
        # asked in its pause, before the cap, not decoded again when the cap came
        assert asked[id(r)] - r.start < s.max_utterance - 0.3
        assert any(a <= r.end <= b for a, b in pauses)
    assert len({(r.utterance, r.part, r.start, r.end) for r in trace.final_requests}) == len(
        trace.final_requests
    )  # no window decoded twice
    assert trace.final_words == list(script)


@pytest.mark.parametrize("gap", [0.33, 0.15], ids=["pause", "dip"])
def test_a_cut_part_is_final_at_its_pause_not_at_the_cap(gap: float) -> None:
    s = PolicySettings()
    # the same reading, with a gap every seven words: a pause of final_after (0.33 s)
    # in an utterance's last third cuts it there and then; so does a shorter gap
    # (0.15 s) that dips the VAD below its threshold, when the speech comes back; so
    # the part's words do not wait for the cap
    spec = [(VOCAB[i], 0.3, gap if i % 7 == 0 and i else 0.0) for i in range(120)]
    script = timed(spec)
    trace = run(script, s, edge=EDGES["truncating"])
    parts = [(now, d) for now, _, d in trace.drafts if d.final and not d.end_of_utterance]
    assert len(parts) >= 3
    starts = [b.start for a, b in itertools.pairwise(script) if b.start > a.end]
    for now, d in parts:  # with instant decodes: one batch after the cut is known
        if gap >= s.final_after:  # the pause's final_after
            assert now - d.words[-1].end <= s.final_after + 3 * FRAME + EPS, (now, d.text)
        else:  # the next word's first frames
            back = next(t for t in starts if t >= d.words[-1].end - EPS)
            assert now - back <= 4 * FRAME + EPS, (now, d.text)
        assert s.max_utterance * 2 / 3 - 1.0 <= d.end - d.start <= s.max_utterance
    assert trace.final_words == list(script)


def test_a_part_cut_at_the_cap_waits_no_longer_than_the_reach() -> None:
    s = PolicySettings()
    # 20 s read without a pause or a dip that cuts (three frames): words back to back,
    # with one gap of two frames 3.7 s before the cap (12 s: the window starts at 0).
    # Cut there, its words would wait 3.7 s; the cut at the cap is looked for in its
    # last 1.5 s only (CAP_REACH).
    at = 0.5
    spec = [(VOCAB[i], 0.3, 0.0) for i in range(70)]
    script = list(timed(spec, at))
    k = next(i for i, w in enumerate(script) if w.start >= at + s.max_utterance - 4.5)
    script[k:] = [Word(w.text, w.start + 0.064, w.end + 0.064) for w in script[k:]]
    trace = run(script, s)
    asked = {id(r): now for now, r, _ in trace.requests}
    kept = trace.kept_requests
    cut = kept[0]
    assert (cut.utterance, cut.part) == (kept[1].utterance, kept[1].part - 1)
    assert asked[id(cut)] - cut.end <= 1.5 + FRAME + EPS, (asked[id(cut)], cut.end)
    assert trace.final_words == script


@pytest.mark.parametrize(("past", "parts"), [(0.6, 1), (2.5, 2)], ids=["ends", "goes on"])
def test_a_sentence_that_ends_just_past_the_cap_is_one_final(past: float, parts: int) -> None:
    s = PolicySettings()
    # read without a pause or a dip (words back to back) from 0.5 s, its window from 0
    # s: it reaches the cap (12 s) and ends ``past`` it. Within CAP_GRACE it is one
    # final (a cut at the cap made it a part and a tail of a word or two, which the
    # decoder heard without the sentence around it); past the grace it is cut, its
    # words waiting no longer than the reach and the grace.
    spec = [(VOCAB[i], 0.25, 0.0) for i in range(round((s.max_utterance - 0.5 + past) / 0.25))]
    script = timed(spec, 0.5)
    trace = run(script, s)
    finals = [d for d in trace.finals if d.words]
    assert len(finals) == parts, [d.text for d in finals]
    assert trace.final_words == list(script)
    assert all(r.end - r.start <= s.max_utterance + CAP_GRACE + EPS for r in trace.kept_requests)
    asked = {id(r): now for now, r, _ in trace.requests}
    for r in trace.kept_requests[:-1]:  # the part cut at the cap
        assert asked[id(r)] - r.end <= CAP_REACH + CAP_GRACE + FRAME + EPS


def test_cut_point() -> None:
    f = FRAME
    frames = [(f * (k + 1), p) for k, p in enumerate([0.9, 0.4, 0.9, 0.3, 0.2, 0.3, 0.9])]
    assert cut_point(frames, 0.5) == pytest.approx(f * 4.5)  # the middle of the longest dip
    flat = [(f * (k + 1), p) for k, p in enumerate([0.9, 0.8, 0.7, 0.8, 0.7])]
    assert cut_point(flat, 0.5) == pytest.approx(f * 5)  # the least speech-like, latest


def test_on_result_takes_only_a_request_in_flight() -> None:
    script = speak(KENNEDY.split()[:3])
    policy = StreamingPolicy(PolicySettings(), lang="en")
    policy.push_vad(vad(script, 1.0))
    r = policy.poll()
    assert r is not None and policy.poll() is None  # one partial in flight at most
    hypothesis = decoder(script)(r)
    with pytest.raises(ValueError):
        policy.on_result(dataclasses.replace(r, end=r.end + FRAME), hypothesis)
    policy.on_result(r, hypothesis)
    with pytest.raises(ValueError):
        policy.on_result(r, hypothesis)


def test_a_final_is_asked_for_while_a_partial_runs_and_a_late_partial_shows_nothing() -> None:
    """A paced worker decodes a partial and a final at once: the pause's final is asked
    for as soon as the pause begins, and the partial that finishes after the final
    (older audio) is not shown over it."""
    script = speak(KENNEDY.split()[:6])
    hear = decoder(script)
    policy = StreamingPolicy(PolicySettings(), lang="en")
    talking = vad(script, script[-1].end + 1.0)
    speaking = round((script[-1].end - 0.1) / FRAME)
    policy.push_vad(talking[:speaking])
    partial = policy.poll()
    assert partial is not None and not partial.final
    policy.push_vad(talking[speaking:])  # the pause begins, and holds, meanwhile
    final = policy.poll()
    assert final is not None and final.final and policy.poll() is None
    policy.on_result(final, hear(final))
    finals = policy.take_drafts()
    assert [d.text for d in finals if d.final] == [" ".join(KENNEDY.split()[:6])]
    policy.on_result(partial, hear(partial))
    assert policy.take_drafts() == []  # the utterance is closed: nothing over its final


def test_a_partial_older_than_the_one_shown_is_not_shown() -> None:
    """Speech resumed after a pause's final decode: that decode is the partial on
    screen; a partial of less audio, finishing after it, does not replace it."""
    first, second = speak(KENNEDY.split()[:5]), speak(KENNEDY.split()[5:8], at=2.7)
    script = (*first, *second)
    hear = decoder(script)
    policy = StreamingPolicy(PolicySettings(), lang="en")
    frames = vad(script, 5.0)
    speaking = round((first[-1].end - 0.1) / FRAME)
    policy.push_vad(frames[:speaking])
    partial = policy.poll()
    assert partial is not None and not partial.final
    pause = round((first[-1].end + 0.35) / FRAME)  # past final_after, short of end_silence
    policy.push_vad(frames[speaking:pause])
    candidate = policy.poll()
    assert candidate is not None and candidate.final
    policy.push_vad(frames[pause : round(2.9 / FRAME)])  # speech again: not the end
    policy.on_result(candidate, hear(candidate))
    shown = [d for d in policy.take_drafts() if not d.final]
    assert shown and shown[-1].text == " ".join(KENNEDY.split()[:5])
    policy.on_result(partial, hear(partial))
    assert policy.take_drafts() == []
    later = policy.poll()  # the partial's slot is free again
    assert later is not None and not later.final


def test_end_pad_beyond_final_after_is_refused() -> None:
    with pytest.raises(ValueError, match="end_pad"):
        StreamingPolicy(PolicySettings(final_after=0.2, end_pad=0.3))


def test_the_guard_drops_what_whisper_makes_up() -> None:
    script = speak(KENNEDY.split()[:4])
    made_up = speak(["thanks", "for", "watching."], at=script[0].start)
    weak = Evidence(no_speech_prob=0.9, avg_logprob=-1.5, speech_seconds=1.4)
    policy = StreamingPolicy(PolicySettings(), lang="en")
    trace = drive(policy, vad(script, script[-1].end + 2), decoder(made_up, evidence=weak))
    assert trace.requests and not policy.in_utterance
    assert not [d for _, _, d in trace.drafts if "thanks" in d.text]


@pytest.mark.parametrize("tail", [0.0, 0.1, 0.3])
def test_the_end_of_the_source_still_gets_its_final(tail: float) -> None:
    script = speak(KENNEDY.split()[:6])
    trace = run(script, tail=tail)  # the source ends mid-word, or mid-pause
    assert trace.final_words == list(script) and trace.finals[-1].end_of_utterance


def test_a_phrase_said_again_is_not_taken_for_an_echo() -> None:
    said = KENNEDY + " ask what you can do for your country"
    script = speak(said.split())  # ends on "your country", said once before
    trace = run(script, batch=7)
    assert trace.final_words == list(script)


def test_an_echo_of_the_last_final_is_dropped() -> None:
    first = speak(KENNEDY.split()[:7])
    second = speak(KENNEDY.split()[7:10], at=first[-1].end + 1.0)

    def decode(r: DecodeRequest) -> Hypothesis:
        heard = decoder(first + second)(r)
        if r.utterance == 2 and r.final:  # Whisper says its prompt's last words again
            again = tuple(Word(w.text, r.start, r.start + 0.1) for w in first[-5:])
            return dataclasses.replace(heard, words=again + heard.words)
        return heard

    policy = StreamingPolicy(PolicySettings(), lang="en")
    trace = drive(policy, vad(first + second, second[-1].end + 2), decode)
    assert [d.text for d in trace.finals][1] == "".join(w.text for w in second).strip()


spec = st.lists(
    st.tuples(
        st.floats(0.1, 0.8),
        st.one_of(st.just(0.0), st.floats(0.0, HANGOVER - 0.05), st.floats(0.0, 1.5)),
    ),
    min_size=1,
    max_size=40,
)


def _said(spec: list[tuple[float, float]]) -> tuple[Word, ...]:
    # A run of speech opens an utterance only when it lasts min_speech, so a word after
    # a real pause is said long enough to be heard on its own.
    return timed(
        [
            (VOCAB[i], max(d, 0.35) if i == 0 or p >= HANGOVER else d, p)
            for i, (d, p) in enumerate(spec)
        ]
    )


@settings(max_examples=60, deadline=None)
@given(spec=spec, batch=st.integers(1, 10), max_utterance=st.sampled_from([3.0, 12.0]))
def test_every_word_is_final_once_in_order(
    spec: list[tuple[float, float]], batch: int, max_utterance: float
) -> None:
    script = _said(spec)
    s = PolicySettings(max_utterance=max_utterance)
    policy = StreamingPolicy(s, lang="en")
    trace = drive(policy, vad(script, script[-1].end + 2), decoder(script, corrupt=True), batch)
    assert trace.final_words == list(script)
    assert not policy.in_utterance
    requests = trace.kept_requests  # final windows overlap by the lead-in at most
    assert all(a.end <= b.start + s.lead_in + EPS for a, b in itertools.pairwise(requests))


@settings(max_examples=40, deadline=None)
@given(spec=spec, seed=st.integers(0, 2**16), max_utterance=st.sampled_from([3.0, 12.0]))
# found by Hypothesis: a part after a cut at the cap closes with nothing said, and the
# next utterance's lead-in reaches back before it, into audio already trimmed
@example(
    spec=[(0.5, 0.0), (0.5, 0.0), (0.75, 0.0), (0.25, 0.0), (0.25, 0.0), (0.75, 1.0),
          (0.5, 0.5), (0.5, 0.0), (0.25, 0.0), (0.25, 0.0), (0.25, 0.0), (0.5, 1.0)],
    seed=621,
    max_utterance=3.0,
)  # fmt: skip
def test_finals_depend_on_the_audio_not_on_when_decodes_finish(
    spec: list[tuple[float, float]], seed: int, max_utterance: float
) -> None:
    """Run to run, only timing changes: chunk sizes, decode costs, results coming back
    late. The final decodes kept (their windows) and the finals are the same; only
    whether a decode started in a pause that did not hold got to run differs."""
    script = _said(spec)
    s = PolicySettings(max_utterance=max_utterance)
    probs = vad(script, script[-1].end + 2)
    rng = random.Random(seed)
    steady = drive(StreamingPolicy(s, "en"), probs, decoder(script, corrupt=True), 1)
    loaded = drive(
        StreamingPolicy(s, "en"),
        probs,
        decoder(script, corrupt=True, mishear=0.5, cost=lambda r: rng.uniform(0, 1.5)),
        batch=lambda: rng.randint(1, 30),
        lag=lambda: rng.randint(0, 40),
    )
    assert loaded.kept_requests == steady.kept_requests
    assert [d.text for d in loaded.finals] == [d.text for d in steady.finals]


def test_norm_word_ignores_case_punctuation_and_width() -> None:
    assert norm_word(" Americans,") == norm_word("americans") == "americans"
    assert norm_word("ＡＢＣ!") == "abc"
    assert norm_word(" ...") == ""
    assert norm_word("don't") == "dont"


def test_a_cut_in_a_pause_that_then_ends_the_utterance_asks_for_no_empty_window() -> None:
    s = PolicySettings(max_utterance=4.0)
    # speech to 3.8 s, then a pause: the cap falls inside it, before end_silence
    script = timed([(VOCAB[i], 0.33, 0.0) for i in range(10)], at=0.5)
    trace = run(script, s)
    assert all(r.end - r.start > FRAME for _, r, _ in trace.requests)
    assert trace.final_words == list(script)
    last = trace.drafts[-1][2]  # the utterance is closed, by its final or a marker
    assert last.end_of_utterance and (last.final or not last.words)
