"""The streaming caption policy: when to decode, and which words are final.

A pure core in the manner of ``websockets``' protocol classes: no clock, no
threads, no model. The worker feeds it voice-activity frames (``push_vad``), asks
it what to decode (``poll``), hands back what the decoder heard (``on_result``) and
collects the caption drafts it produces (``take_drafts``). All times are seconds of
audio; "now" is the live edge, the end of the audio received so far.

Why this design (measured on a 2-core machine with the Whisper base model, see
``companion bench latency``):

* Voice activity decides everything. Silence costs a VAD frame and nothing more,
  and an utterance ends after ``end_silence`` of silence.
* While someone speaks, the utterance so far is decoded every ``partial_interval``
  seconds of audio, but never more often than ``load_factor`` times the cost of the
  last decodes: the cadence of partials adapts to load, so two channels sharing two
  cores slow their partials down instead of falling behind.
* Words become final early by LocalAgreement-2: a word that two successive decodes
  agree on (and that is not at the ragged edge of the audio) is final; the last
  ``prefix_seconds`` of final words are then forced as the decoder's prefix and the
  earlier ones given as its prompt, so they never change again. The rest of the
  utterance is final when the utterance ends. A LocalAgreement implementation that
  re-decodes a sliding window fell seconds behind here; tying agreement to
  VAD-bounded utterances keeps every decode short.
* Finals never wait behind a queue of partials: at most the one decode in flight.
  When that decode already covered the whole utterance (it started after the
  speech ended), its result is the final and no second decode is spent.
* Latency stays flat: the audio window is one utterance, at most ``max_utterance``
  seconds (past that, the words ending before the ragged edge are made final and a
  fresh window starts after them), and the context handed to
  Whisper is bounded by the worker.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from companion.captions import Word
from workers.captioner.guard import Evidence, clean

FRAME = 512 / 16000  # one Silero VAD frame, seconds


@dataclass(frozen=True)
class PolicySettings:
    """The knobs of the policy (``CaptionerSettings`` holds their documented defaults;
    a test keeps the two in step)."""

    partial_interval: float = 0.5
    load_factor: float = 1.5
    end_silence: float = 0.45
    max_utterance: float = 12.0
    min_speech: float = 0.25
    speech_pad: float = 0.4
    vad_threshold: float = 0.5
    confirm_words: bool = True
    edge_holdback: float = 0.6
    min_commit_window: float = 2.0
    prefix_seconds: float = 2.0
    reuse_covering_partial: bool = True
    partial_min_logprob: float = -1.0


@dataclass(frozen=True)
class DecodeRequest:
    """Decode audio ``[start, end)`` with ``prefix`` forced; ``final`` closes the utterance.

    The words of the utterance already final are split by ``prefix_seconds``: the
    last seconds of them are forced as ``prefix`` over their own audio (Whisper hears
    how the phrase goes on), the earlier ones are given as ``context`` (its text
    prompt) and their audio is left out. CTranslate2 runs a forced prefix one token
    at a time but a prompt in one pass, so this bounds the cost of a decode however
    long the utterance. The decoder returns only the words after the prefix.
    (Forcing earlier utterances' words as a prefix over their audio was tried and
    made Whisper start over after a full stop.)
    """

    utterance: int
    start: float
    end: float
    prefix: tuple[Word, ...]
    final: bool
    cut: bool = False
    context: tuple[Word, ...] = ()
    word_times: bool = True


@dataclass(frozen=True)
class Hypothesis:
    """What the decoder heard in a request's window: the words after the prefix."""

    words: tuple[Word, ...]
    evidence: Evidence
    cost: float = 0.0  # seconds of audio that passed while decoding


@dataclass(frozen=True)
class Draft:
    """A caption before the worker numbers and stamps it."""

    final: bool
    utterance: int
    words: tuple[Word, ...]
    end_of_utterance: bool
    start: float
    end: float
    dropped: str | None = None  # why the guard dropped words, if it did

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()


def norm_word(text: str) -> str:
    """A word compared for agreement: NFKC, case-folded, without punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if c.isalnum())


def agreed_prefix(previous: Sequence[Word], current: Sequence[Word]) -> int:
    """How many leading words two successive hypotheses share (LocalAgreement-2)."""
    n = 0
    for a, b in zip(previous, current, strict=False):
        if norm_word(a.text) != norm_word(b.text) or not norm_word(b.text):
            break
        n += 1
    return n


ECHO_WORDS = 5  # a run this long that repeats final text is Whisper echoing its prompt
ECHO_HORIZON = 40  # how many final words back an echo is looked for


def echo_start(words: Sequence[Word], before: Sequence[Word]) -> int | None:
    """Where ``words`` start repeating a run of the words ``before`` them, if they do.

    Given its earlier words as prompt or prefix, Whisper sometimes says them again
    ("… your country. Ask what you can do for your country"). A run of
    ``ECHO_WORDS`` words found verbatim in the last ``ECHO_HORIZON`` final words
    (or all of them, when there are only three or four) counts as an echo; so does
    a shorter whole hypothesis (two words or more) that repeats the very last final
    words. A short phrase said again after other words
    ("… can do for you, ask what you can do for your country") is speech, not echo.
    """
    new = [norm_word(w.text) for w in words]
    old = [norm_word(w.text) for w in before[-ECHO_HORIZON:]]
    if len(new) < 2 or not old:
        return None

    def occurs(run: list[str]) -> bool:
        n = len(run)
        return any(old[i : i + n] == run for i in range(len(old) - n + 1))

    if len(new) < ECHO_WORDS and all(new) and old[-len(new) :] == new:
        return 0
    run = max(3, min(ECHO_WORDS, len(old)))
    for i in range(len(new) - run + 1):
        if occurs(new[i : i + run]):
            return i
    return None


@dataclass
class _Utterance:
    number: int
    start: float
    onset: float = 0.0
    committed: list[Word] = field(default_factory=list)
    last_tail: tuple[Word, ...] = ()
    last_window_end: float = 0.0
    last_timed: bool = False
    last_decode_at: float = float("-inf")
    shown_partial: bool = False


class StreamingPolicy:
    """Voice activity in, decode requests out, hypotheses in, caption drafts out."""

    def __init__(self, settings: PolicySettings | None = None, lang: str = "") -> None:
        self.settings = settings or PolicySettings()
        self.lang = lang
        self.now = 0.0
        self._in_speech = False
        self._speech_run = 0.0
        self._last_speech_end = float("-inf")
        self._utterance: _Utterance | None = None
        self._next_number = 1
        self._drafts: list[Draft] = []
        self._cost = 0.0
        self._pending: DecodeRequest | None = None

    # ------------------------------------------------------------------ input
    def push_vad(self, probabilities: Sequence[float]) -> None:
        """Feed speech probabilities of consecutive VAD frames at the live edge."""
        s = self.settings
        off = max(s.vad_threshold - 0.15, 0.01)
        for p in probabilities:
            frame_start = self.now
            self.now += FRAME
            speech = p >= s.vad_threshold or (self._in_speech and p >= off)
            if speech:
                self._speech_run += FRAME
                self._last_speech_end = self.now
                if self._utterance is None and self._speech_run >= s.min_speech:
                    onset = frame_start - self._speech_run + FRAME
                    start = max(0.0, onset - s.speech_pad)
                    self._utterance = _Utterance(self._next_number, start, onset=start)
                    self._next_number += 1
            else:
                self._speech_run = 0.0
            self._in_speech = speech

    def advance(self, seconds: float) -> None:
        """Move the live edge without VAD frames (only tests need this)."""
        self.now += seconds

    # ---------------------------------------------------------------- decisions
    @property
    def interval(self) -> float:
        """Current spacing of partial decodes, seconds of audio."""
        return max(self.settings.partial_interval, self.settings.load_factor * self._cost)

    @property
    def keep_from(self) -> float:
        """Audio before this time is no longer needed by any future decode."""
        if self._utterance is not None:
            return self._window(self._utterance)[0]
        return max(0.0, self.now - self.settings.speech_pad - self.settings.min_speech - FRAME)

    @property
    def in_utterance(self) -> bool:
        return self._utterance is not None

    def poll(self) -> DecodeRequest | None:
        """The next decode to run now, or ``None``. Call after each batch of audio."""
        u = self._utterance
        if u is None or self._pending is not None:
            return None
        s = self.settings
        ended = self.now - self._last_speech_end >= s.end_silence
        if ended:
            end = min(self.now, self._last_speech_end + s.speech_pad)
            if self._covered(u, end):
                self._close(u, u.last_tail, dropped=None)
                return None
            return self._request(u, end, final=True)
        if self.now - self._window(u)[0] >= s.max_utterance:
            return self._request(u, self.now, final=False, cut=True)
        if self.now - u.last_decode_at >= self.interval and self.now - u.start >= s.min_speech:
            return self._request(u, self.now, final=False)
        return None

    def _window(self, u: _Utterance) -> tuple[float, tuple[Word, ...], tuple[Word, ...]]:
        """Where the next decode starts, the words it forces, the words it is told."""
        done = u.committed
        if not done:
            return u.start, (), ()
        horizon = done[-1].end - self.settings.prefix_seconds
        k = next((i for i, w in enumerate(done) if w.start >= horizon), len(done))
        start = u.start if k == 0 else max(u.start, done[k - 1].end)
        return start, tuple(done[k:]), tuple(done[:k])

    def _request(self, u: _Utterance, end: float, final: bool, cut: bool = False) -> DecodeRequest:
        # word times matter only where words may become final
        times = (
            final
            or cut
            or (self.settings.confirm_words and end - u.onset >= self.settings.min_commit_window)
        )
        start, prefix, context = self._window(u)
        req = DecodeRequest(u.number, start, end, prefix, final, cut, context, times)
        self._pending = req
        u.last_decode_at = self.now
        return req

    # ------------------------------------------------------------------ results
    def on_result(self, request: DecodeRequest, hypothesis: Hypothesis) -> None:
        """Take the decoder's words for ``request`` (the one ``poll`` returned)."""
        if request != self._pending:
            raise ValueError("on_result() for a request that is not the pending one")
        self._pending = None
        self._cost = 0.7 * self._cost + 0.3 * hypothesis.cost if self._cost else hypothesis.cost
        u = self._utterance
        if u is None or u.number != request.utterance:
            return
        words = list(hypothesis.words)
        kept = clean([w.text for w in words], self.lang, hypothesis.evidence)
        dropped = kept.reason
        words = [words[i] for i in kept.keep]
        echo = echo_start(words, [*request.context, *request.prefix])
        if echo is not None:
            words = words[:echo]
            dropped = dropped or "echo of text already final"
        if request.final:
            self._close(u, tuple(words), dropped)
            return
        # An unsure partial ("watching" over a breath) still counts for agreement
        # but is not shown: the previous partial stays on screen.
        unsure = hypothesis.evidence.avg_logprob < self.settings.partial_min_logprob
        u.last_window_end = request.end
        u.last_timed = request.word_times
        stable_until = request.end - self.settings.edge_holdback
        confirm = self.settings.confirm_words and (
            request.end - u.onset >= self.settings.min_commit_window
        )
        n = agreed_prefix(u.last_tail, words) if confirm else 0
        if request.cut:
            n = max(n, sum(1 for w in words if w.end <= stable_until))
        while n and words[n - 1].end > stable_until and not request.cut:
            n -= 1
        if n:
            agreed = tuple(words[:n])
            u.committed.extend(agreed)
            self._emit(u, agreed, final=True, end_of_utterance=False, dropped=dropped)
            dropped = None
        tail = tuple(words[n:])
        u.last_tail = tail
        if request.cut:
            self._cut(u, request.end)
        if (tail or u.shown_partial) and not (unsure and tail):
            self._emit(u, tail, final=False, end_of_utterance=False, dropped=dropped)
            u.shown_partial = bool(tail)

    def _cut(self, u: _Utterance, end: float) -> None:
        """Start a fresh window after the last committed word of an over-long utterance."""
        new_start = u.committed[-1].end if u.committed else end - self.settings.speech_pad
        u.start = max(u.start, min(new_start, end))
        u.committed.clear()
        u.last_tail = ()
        u.last_window_end = 0.0

    def _close(self, u: _Utterance, words: tuple[Word, ...], dropped: str | None) -> None:
        if words:
            self._emit(u, words, final=True, end_of_utterance=True, dropped=dropped)
        elif u.shown_partial:
            self._emit(u, (), final=False, end_of_utterance=True, dropped=dropped)
        self._utterance = None

    def _emit(
        self,
        u: _Utterance,
        words: tuple[Word, ...],
        final: bool,
        end_of_utterance: bool,
        dropped: str | None,
    ) -> None:
        start = words[0].start if words else self.now
        end = words[-1].end if words else self.now
        self._drafts.append(Draft(final, u.number, words, end_of_utterance, start, end, dropped))

    def take_drafts(self) -> list[Draft]:
        """The drafts produced since the last call, oldest first."""
        drafts, self._drafts = self._drafts, []
        return drafts

    def flush(self) -> DecodeRequest | None:
        """At the end of the source: the final decode of an utterance still open."""
        u = self._utterance
        if u is None or self._pending is not None:
            return None
        end = min(self.now, self._last_speech_end + self.settings.speech_pad)
        if self._covered(u, end):
            self._close(u, u.last_tail, dropped=None)
            return None
        return self._request(u, end, final=True)

    def _covered(self, u: _Utterance, end: float) -> bool:
        """Whether the last partial decode already heard the utterance to ``end``."""
        return (
            self.settings.reuse_covering_partial
            and u.last_decode_at > 0
            and u.last_timed
            and u.last_window_end >= end
        )
