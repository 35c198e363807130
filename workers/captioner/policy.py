"""The streaming caption policy: when to decode, and which words are final.

A pure core in the manner of ``websockets``' protocol classes: no clock, no
threads, no model. The worker feeds it voice-activity frames (``push_vad``), asks
it what to decode (``poll``), hands back what the decoder heard (``on_result``) and
collects the caption drafts it produces (``take_drafts``). All times are seconds of
audio; "now" is the live edge, the end of the audio received so far.

Two passes, as in the two-pass recognisers of the literature (a fast first pass for
what is shown while someone speaks, a better second pass for what is kept):

* **Partials** while someone speaks: the utterance so far, decoded greedily every
  ``partial_interval`` seconds of audio, but never more often than ``load_factor``
  times the cost of the last decodes (two channels sharing two cores slow their
  partials down instead of falling behind). They are shown and replaced; they never
  become final, and no decode is started on silence.
* **One final per utterance**: when the speech has paused for ``final_after``
  seconds, the whole utterance (``[start, last speech + end_pad]``) is decoded once
  more with the final beam and word times. If the pause lasts ``end_silence``, that
  decode is the utterance's final caption (emitted as soon as both have happened);
  if speech resumes first, it is shown as a partial and the utterance goes on.
  Starting the final decode before the end is certain hides most of its cost.

Why not LocalAgreement (words made final mid-utterance once two decodes agree)? It
was this module's design until measured on speech nobody had tuned for: which words
became final depended on when decodes happened to finish (the same recording gave
WER 5.9 % and 7.7 % on two runs), rare words were committed half-heard and never
revisited, and finals came out in one- and two-word fragments. Here every decision is
taken on voice-activity frames at fixed audio times: an utterance ends, a final
decode starts and an over-long utterance is cut where the *audio* says so, and the
final decode's window and context depend only on the audio and on the finals before
it. So the finals are the same on every run, whatever the machine's load; load
moves only their timing and the partials.

* **Long utterances** end at shorter pauses as they grow: past half of
  ``max_utterance`` the pause needed falls from ``end_silence`` to ``final_after``.
  In its last third, the first pause of ``final_after`` cuts it at once (the final
  decode started in that pause is the part's final: the cut costs no decode of its
  own, and its words wait for no cap), and so does a shorter dip of the speech
  probability (``DIP_FRAMES``) once the speech comes back. One that reaches
  ``max_utterance`` without either may run ``CAP_GRACE`` longer to end by itself;
  then it is cut at its longest pause in its last ``CAP_REACH`` + ``CAP_GRACE``
  seconds (VAD frames below the threshold), else at its least speech-like frame.
  The part before the cut gets its final (``end_of_utterance`` false); the rest goes
  on as the same utterance. The window decoded is never longer than
  ``max_utterance`` + ``CAP_GRACE``, so the cost of a decode is bounded.
* **No word twice, no word alone**: an utterance's final window starts ``speech_pad``
  before its onset, and may reach back ``lead_in`` into the previous final's window,
  but the words that end inside that lead-in are dropped (they are the previous
  final's), so a phrase at the seam is never written twice. Their ends, not their
  middles, and with slack: the previous final's words end ``end_pad`` before the
  seam, and Whisper's alignment starts the first word after a pause early, often
  before the seam (judged by middles, ``en-tune`` lost first words: "may be
  considered" came out "be considered", 1.9 points; by ends without slack, still
  0.8). After a cut there is no lead-in: the speech goes on, the part after it is
  long and has context enough, and a word across the seam is judged by its middle.
  The lead-in is there for
  the first word: a short utterance decoded from its own audio alone loses it to a
  likelier one ("Ask not" after a pause came out "As not"), and a few tenths of a
  second of the speech before it (with the previous finals as the prompt) bring it
  back. Partials start at the seam itself: their words carry no times to tell.
* **Nothing dropped**: ``flush`` (the source ended) closes the utterance still open
  with a final decode like any other.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from companion.captions import Word
from workers.captioner.guard import Evidence, clean

FRAME = 512 / 16000  # one Silero VAD frame, seconds
CUT_LOOKBACK = 1 / 3  # the share of max_utterance, back from the cap, a cut is looked for in
CAP_REACH = 1.5  # seconds back from the cap a cut there may fall (see _cut)
DIP_FRAMES = 3  # in that share, a dip below the VAD threshold this long, speech after it, cuts
CAP_GRACE = 1.0  # seconds past max_utterance an utterance may run to end by itself (see _cut)


@dataclass(frozen=True)
class PolicySettings:
    """The knobs of the policy (``CaptionerSettings`` holds their documented defaults;
    a test keeps the two in step)."""

    partial_interval: float = 0.5
    load_factor: float = 1.5
    end_silence: float = 0.6
    final_after: float = 0.25
    end_pad: float = 0.25
    max_utterance: float = 12.0
    min_speech: float = 0.25
    speech_pad: float = 1.0
    lead_in: float = 0.5
    vad_threshold: float = 0.5
    partial_min_logprob: float = -1.0


@dataclass(frozen=True)
class DecodeRequest:
    """Decode audio ``[start, end)``; ``final`` asks for the final beam and word times.

    ``word_times`` is false for partials: their words are replaced before anyone needs
    their times.
    """

    utterance: int
    start: float
    end: float
    final: bool
    word_times: bool = True
    part: int = 0  # which part of the utterance (one more after each cut)


@dataclass(frozen=True)
class Hypothesis:
    """What the decoder heard in a request's window."""

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
    """A word compared for echoes: NFKC, case-folded, without punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if c.isalnum())


ECHO_WORDS = 3  # the least run, at the start of a decode, that repeats the prompt's end
ECHO_HORIZON = 40  # how many final words back are kept to look for echoes
ECHO_WHOLE = 4  # a whole decode this short that repeats the prompt's end is an echo


def echo_length(words: Sequence[Word], before: Sequence[Word]) -> int:
    """How many leading ``words`` are Whisper echoing its prompt (0: none).

    Given the earlier finals as its prompt, Whisper sometimes starts by saying their
    last words again ("… your country. Ask what you can do for your country"). An
    echo is a run at the very start of the words that repeats the very end of the
    words ``before`` them: ``ECHO_WORDS`` words or more followed by others, or all of
    the words when there are two to ``ECHO_WHOLE``. A whole sentence said again (a
    speaker repeating it; a demo's recording played in a loop) is speech, as is a
    phrase said again later in an utterance ("the forms of
    printed letters should be beautiful … that the forms of printed letters should
    follow") is speech: each utterance is decoded from its own audio, which no other
    final covers, so nothing else can be an echo.
    """
    new = [norm_word(w.text) for w in words]
    old = [norm_word(w.text) for w in before[-ECHO_HORIZON:]]
    longest = 0
    for k in range(1, min(len(new), len(old)) + 1):
        if new[:k] == old[-k:] and all(new[:k]):
            longest = k
    if ECHO_WORDS <= longest < len(new):
        return longest  # the prompt's end, then what was said
    if longest == len(new) and 2 <= longest <= ECHO_WHOLE:
        return longest  # nothing but a short echo
    return 0


def cut_point(frames: Sequence[tuple[float, float]], threshold: float) -> float:
    """Where to cut an over-long utterance, given ``(frame end, speech probability)``.

    The middle of the longest run of frames below ``threshold`` (a pause between
    words); without one, the end of the least speech-like frame. The latest wins a
    tie (the sooner its final), and the choice depends on the frames alone.
    """
    best: tuple[int, float] | None = None  # (frames in the run, cut time)
    run: list[float] = []
    for end, p in [*frames, (float("inf"), 1.0)]:
        if p < threshold:
            run.append(end)
            continue
        if run and (best is None or len(run) >= best[0]):
            best = (len(run), (run[0] - FRAME + run[-1]) / 2)
        run = []
    if best is not None:
        return best[1]
    return min(frames, key=lambda f: (f[1], -f[0]))[0]


@dataclass
class _Final:
    """A final decode of ``[start, end)``: asked for, running, or done (``result``)."""

    utterance: int
    start: float
    end: float
    fresh_from: float  # words that end before this are the previous final's
    part: int = 0  # after a cut (part > 0): words whose middle is before it
    end_of_utterance: bool = False  # decided when the final is confirmed
    request: DecodeRequest | None = None
    result: Hypothesis | None = None
    shown: bool = False  # a partial or part of it is out: an empty final still closes it


@dataclass
class _Utterance:
    number: int
    start: float  # where its final window starts (the lead-in before ``fresh_from``)
    fresh_from: float  # where its own words start: the last final's end, or the cut
    part: int = 0  # one more after each cut
    last_decode_at: float = float("-inf")
    shown_partial: bool = False
    shown_until: float = float("-inf")  # the end of the window of the partial on screen
    candidate: _Final | None = None  # the final decode started in a pause
    was_cut: bool = False  # a part of it is final already
    frames: deque[tuple[float, float]] = field(default_factory=deque)

    @property
    def own_start(self) -> float:
        """Where its own audio starts (its window less the lead-in)."""
        return max(self.start, self.fresh_from)


class StreamingPolicy:
    """Voice activity in, decode requests out, hypotheses in, caption drafts out."""

    def __init__(self, settings: PolicySettings | None = None, lang: str = "") -> None:
        self.settings = settings or PolicySettings()
        if self.settings.end_pad > self.settings.final_after + 1e-9:
            raise ValueError("end_pad must not exceed final_after (the audio is not there yet)")
        self.lang = lang
        self.now = 0.0
        self._in_speech = False
        self._speech_run = 0.0
        self._last_speech_end = float("-inf")
        self._utterance: _Utterance | None = None
        self._next_number = 1
        self._floor = 0.0  # the last final's end: a new utterance's own words start here
        self._reach = 0.0  # no window starts before this: the floor less the lead-in, if any
        self._finals: deque[_Final] = deque()  # confirmed, in order
        self._recent: list[Word] = []  # the last final words, for echoes
        self._drafts: list[Draft] = []
        self._cost = 0.0
        # In flight, by kind (True: a final): one partial and one final may run at once,
        # so that a final never waits for a partial (see ``poll``).
        self._running: dict[bool, DecodeRequest] = {}

    # ------------------------------------------------------------------ input
    def push_vad(self, probabilities: Sequence[float]) -> None:
        """Feed speech probabilities of consecutive VAD frames at the live edge."""
        s = self.settings
        off = max(s.vad_threshold - 0.15, 0.01)
        for p in probabilities:
            frame_start = self.now
            self.now += FRAME
            speech = p >= s.vad_threshold or (self._in_speech and p >= off)
            self._in_speech = speech
            u = self._utterance
            if speech:
                self._speech_run += FRAME
                self._last_speech_end = self.now
                if u is None and self._speech_run >= s.min_speech:
                    onset = frame_start - self._speech_run + FRAME
                    u = self._open(onset - s.speech_pad)
                elif u is not None and u.candidate is not None:
                    resumed, u.candidate = u.candidate, None  # not the end: go on
                    if resumed.result is not None:
                        self._show(u, resumed.result, resumed.end)
            else:
                self._speech_run = 0.0
            if u is None:
                continue
            u.frames.append((self.now, p))
            if p >= s.vad_threshold and self._dip_cuts(u):
                continue
            silence = self.now - self._last_speech_end
            end = self._last_speech_end + s.end_pad
            fresh = end > u.own_start + FRAME
            if u.candidate is None and silence >= s.final_after - 1e-9 and fresh:
                u.candidate = _Final(u.number, u.start, end, u.fresh_from, u.part)
                if end - u.start >= s.max_utterance * (1 - CUT_LOOKBACK) - 1e-9:
                    self._confirm(u, end_of_utterance=False)  # the cut, at once: see _cut
                    continue
            if silence >= self._end_silence(u) - 1e-9:
                self._confirm(u, end_of_utterance=True)
            elif self.now - u.start >= s.max_utterance + CAP_GRACE - 1e-9:
                self._cut(u)
        self._drain()

    def advance(self, seconds: float) -> None:
        """Move the live edge without VAD frames (only tests need this)."""
        self.now += seconds

    def _open(self, start: float) -> _Utterance:
        """A new utterance whose window would start at ``start`` (its onset less the
        speech pad): not before the lead-in into the last final's window."""
        self._utterance = _Utterance(self._next_number, max(start, self._reach), self._floor)
        self._next_number += 1
        return self._utterance

    def _confirm(self, u: _Utterance, end_of_utterance: bool) -> None:
        """The pause held: the candidate is the utterance's final."""
        final = u.candidate
        if final is None:  # no speech since a cut: nothing to decode, only to close
            self._emit(u.number, (), False, True, None)
            self._utterance = None
            return
        final.end_of_utterance = end_of_utterance
        final.shown = u.shown_partial or u.was_cut  # something of it is on screen
        self._finals.append(final)
        self._floor = final.end
        # No lead-in after a cut, for the rest of the utterance or, when the cut fell in
        # its last pause, for the next one. (The next one reached back a lead-in into
        # audio the worker had trimmed at the cut, with its words' times shifted by the
        # lead-in, until a test found it. Giving it the lead-in it asked for cost the
        # tuning sets at speed 0: ko-tune 8.05 → 9.75 % clean, en-tune 14.83 → 16.10 %
        # in the room; without it, ko-tune is as before and en-tune's room 15.84 %: the
        # words are timed right now, and one hallucinated sentence that the wrong times
        # had dropped as the lead-in's is kept.)
        self._reach = max(0.0, final.end - (self.settings.lead_in if end_of_utterance else 0.0))
        if end_of_utterance:
            self._utterance = None
        else:
            u.start = final.end  # no lead-in after a cut: the speech goes on, see above
            u.fresh_from, u.candidate, u.shown_partial, u.was_cut = final.end, None, False, True
            u.shown_until = float("-inf")
            u.part += 1
            while u.frames and u.frames[0][0] <= u.fresh_from:
                u.frames.popleft()

    def _dip_cuts(self, u: _Utterance) -> bool:
        """A speech frame came: if the frames just before it were below the VAD
        threshold for ``DIP_FRAMES`` or more and their middle lies in the last
        ``CUT_LOOKBACK`` of ``max_utterance``, cut there now (see ``_cut``)."""
        s = self.settings
        before = itertools.islice(reversed(u.frames), 1, None)
        dip = [end for end, _ in itertools.takewhile(lambda f: f[1] < s.vad_threshold, before)]
        if not dip:
            return False
        at = (dip[-1] - FRAME + dip[0]) / 2
        if (
            u.candidate is not None
            or len(dip) < DIP_FRAMES
            or at - u.start < s.max_utterance * (1 - CUT_LOOKBACK) - 1e-9
            or at <= u.own_start + FRAME
        ):
            return False
        u.candidate = _Final(u.number, u.start, at, u.fresh_from, u.part)
        self._confirm(u, end_of_utterance=False)
        return True

    def _end_silence(self, u: _Utterance) -> float:
        """The pause that ends ``u`` now: ``end_silence`` for the first half of
        ``max_utterance``, then shorter, down to ``final_after`` at the cap, so that a
        long utterance ends at a short pause rather than being cut mid-phrase."""
        s = self.settings
        half = s.max_utterance / 2
        grown = min(1.0, max(0.0, (self.now - u.own_start - half) / half))
        return s.end_silence - (s.end_silence - s.final_after) * grown

    def _cut(self, u: _Utterance) -> None:
        """An utterance reached ``max_utterance`` (and ``CAP_GRACE`` past it) without a
        pause that ended it or cut it: the part before the longest dip of the speech
        probability (``cut_point``) near the cap is final (not further back, or the
        words before the cut would wait that long for their final).

        Most cuts never get here. Once an utterance's window is past the last
        ``CUT_LOOKBACK`` of ``max_utterance``, its next pause of ``final_after`` is the
        cut, at once (``push_vad``): the final decode started in that pause is the
        part's final. Measured on ``en-tune`` (read speech, cut every 10 s or so):

        * the cut at the cap at the longest dip, nearly always such a pause, decoded the
          window again (1 s on 2 cores): the cut parts' finals came 1.8-3.9 s after
          their words (clean, one run);
        * taking the decode started in the last such pause (543ae86) still waited for
          the cap: 1.9-3.2 s, the time between the pause and the cap;
        * cutting at the first such pause (this): see ``docs/benchmarks.md``.

        The windows are a little shorter (8 to 12 s of ``max_utterance`` 12 instead of
        about 10 to 12); the choice still depends only on the audio.

        Speech with no pause of ``final_after`` in its last third still reached the cap
        (3 finals of 86 on ``en-tune``, clean and room; the slowest Korean final of the
        seventh session's test runs). So a shorter dip cuts too: ``DIP_FRAMES`` frames
        below the VAD threshold, cut at their middle as soon as the speech comes back
        (``_dip_cuts``). On ``en-tune`` at speed 0 (one run each): 3 frames took the cap
        cuts to none, WER 8.24 → 7.98 % clean and 14.58 → 15.08 % in the room; 5
        frames, 8.37 % and 15.21 %.

        What still reaches the cap is cut no further back than ``CAP_REACH`` from it:
        its words wait that long at most, and a long window's beam decode on top (1.3 to
        1.5 s for 11 to 12 s of Korean on 2 cores). Looked for over the whole last third, the
        cut fell at a two-frame dip 2.9 s before the cap on ``ko-test`` (its last
        sentence: 12 s read without a pause), and those words came 3.9 s after they
        were said. The tuning sets have no cut at the cap (``max_utterance`` 12), so
        the reach was chosen on them with ``max_utterance`` 8, which cuts 14 times at
        the cap (speed 0, one run each, tenth session; WER / CER clean / room): the
        last third, ``en-tune`` 9.00 / 18.00 %, ``ko-tune`` 18.22 / 41.10 %; 1.5 s,
        9.13 / 18.38 % and 18.22 / 28.81 %; 1.0 s, 9.63 / 20.91 % and 10.59 / 34.32 %
        (the Korean figures swing on single cuts). The waits at the cap fell from up
        to 2.5 s to up to 1.4 s with 1.5 s. Tried in the same session and not kept: a
        two-frame dip cutting at once (``ko-tune`` at 12 s: 8.90 → 13.56 % clean, a
        cut mid-phrase lost "다음 새 프로젝트를").

        The cut waits ``CAP_GRACE`` past the cap, and is looked for in that second
        too: a sentence read without a pause that ends within it is one final (of
        ``max_utterance`` + ``CAP_GRACE`` at most), not a part cut mid-phrase and a
        tail of two or three words decoded without the sentence around it. What is cut
        anyway waits the grace longer. Chosen on the tuning sets with ``max_utterance``
        8 (``docs/benchmarks.md``, the fourteenth session): better clean and in the
        room on ``ko-tune`` and ``en-tune``.
        """
        s = self.settings
        lo = max(
            u.fresh_from + FRAME,
            self.now - CAP_GRACE - min(s.max_utterance * CUT_LOOKBACK, CAP_REACH),
        )
        hi = self.now - 0.3
        if u.candidate is None:
            frames = [f for f in u.frames if lo <= f[0] <= hi] or list(u.frames)
            at = max(u.fresh_from + FRAME, cut_point(frames, s.vad_threshold))
            u.candidate = _Final(u.number, u.start, at, u.fresh_from, u.part)
        self._confirm(u, end_of_utterance=False)

    # ---------------------------------------------------------------- decisions
    @property
    def interval(self) -> float:
        """Current spacing of partial decodes, seconds of audio."""
        return max(self.settings.partial_interval, self.settings.load_factor * self._cost)

    @property
    def keep_from(self) -> float:
        """Audio before this time is no longer needed by any future decode."""
        if self._finals:
            return min(self._finals[0].start, self._reach)
        if self._utterance is not None:
            return min(self._utterance.start, self._reach)
        s = self.settings
        return max(self._reach, self.now - s.speech_pad - s.min_speech - FRAME)

    @property
    def in_utterance(self) -> bool:
        return self._utterance is not None

    def poll(self) -> DecodeRequest | None:
        """The next decode to run now, or ``None``. Call after each batch of audio and
        each result, until it returns ``None``.

        At most one final decode and one partial decode are in flight at once. A final
        is asked for as soon as its pause begins, even while a partial runs: on two
        cores each decode has one (a decode is faster on one thread than on two, see
        ``workers/captioner/factory.py``), and a final that waited for a partial came
        up to a partial's cost late. Measured on the tuning sets with one thread per
        decode (twelfth session, one run each, p95 clean / room): ``en-tune`` 1.29 /
        1.27 s one decode at a time, 1.24 / 1.21 s a final beside a partial;
        ``ko-tune`` 1.10 / 1.00 s and 1.24 / 1.12 s (8 finals). Kept for the larger
        set, and for slower machines, where a partial costs more. A worker that answers
        each request before the next ``poll`` (the tests, replays at speed 0) sees one
        at a time, as before.
        """
        if True not in self._running:
            waiting = next((f for f in self._finals if f.result is None), None)
            if waiting is not None:
                return self._ask(waiting)
            u = self._utterance
            if u is not None and u.candidate is not None and u.candidate.request is None:
                return self._ask(u.candidate)
        if False in self._running:
            return None
        u = self._utterance
        s = self.settings
        if (
            u is not None
            and u.candidate is None
            and self._in_speech
            and self.now - u.last_decode_at >= self.interval
            and self.now - u.own_start >= s.min_speech
        ):
            # no lead-in: a partial's words carry no times to tell the last final's apart
            request = DecodeRequest(
                u.number, u.own_start, self.now, final=False, word_times=False, part=u.part
            )
            u.last_decode_at = self.now
            self._running[False] = request
            return request
        return None

    def _ask(self, final: _Final) -> DecodeRequest:
        final.request = DecodeRequest(
            final.utterance, final.start, final.end, final=True, part=final.part
        )
        self._running[True] = final.request
        return final.request

    # ------------------------------------------------------------------ results
    def on_result(self, request: DecodeRequest, hypothesis: Hypothesis) -> None:
        """Take the decoder's words for ``request`` (the one ``poll`` returned)."""
        if self._running.get(request.final) != request:
            raise ValueError("on_result() for a request that is not in flight")
        del self._running[request.final]
        if not request.final:
            self._cost = 0.7 * self._cost + 0.3 * hypothesis.cost if self._cost else hypothesis.cost
        u = self._utterance
        for final in [*self._finals, *([u.candidate] if u else [])]:
            if final is not None and final.request is request:
                final.result = hypothesis
                self._drain()
                return
        # a partial, or a final decode whose pause turned out not to be the end
        if u is not None and (u.number, u.part) == (request.utterance, request.part):
            self._show(u, hypothesis, request.end)

    def _show(self, u: _Utterance, hypothesis: Hypothesis, end: float) -> None:
        """A hypothesis of the open utterance's window up to ``end``, as its partial
        (unless unsure, or older than the one on screen: a partial that finished after
        the final decode of a pause that turned out not to be the end)."""
        if end < u.shown_until:
            return
        words, dropped = self._clean(hypothesis, u.fresh_from, u.part > 0)
        unsure = hypothesis.evidence.avg_logprob < self.settings.partial_min_logprob
        if (words or u.shown_partial) and not (unsure and words):
            self._emit(u.number, words, False, False, dropped)
            u.shown_partial = bool(words)
            u.shown_until = end

    def _clean(
        self, hypothesis: Hypothesis, fresh_from: float, after_cut: bool
    ) -> tuple[tuple[Word, ...], str | None]:
        """The words the guard keeps, without the lead-in's words (the last final's)
        or an echo of the last finals."""
        if after_cut:
            words = [w for w in hypothesis.words if (w.start + w.end) / 2 >= fresh_from]
        else:  # the last final's words end end_pad before its seam; half of it is slack
            old = fresh_from - self.settings.end_pad / 2
            words = [w for w in hypothesis.words if w.end > old]
        kept = clean([w.text for w in words], self.lang, hypothesis.evidence)
        dropped = kept.reason
        words = [words[i] for i in kept.keep]
        echo = echo_length(words, self._recent)
        if echo:
            return tuple(words[echo:]), dropped or "echo of text already final"
        return tuple(words), dropped

    def _drain(self) -> None:
        """Emit the confirmed finals whose decodes are done, in order."""
        while self._finals and self._finals[0].result is not None:
            final = self._finals.popleft()
            assert final.result is not None
            words, dropped = self._clean(final.result, final.fresh_from, final.part > 0)
            if words:
                self._emit(final.utterance, words, True, final.end_of_utterance, dropped)
                self._recent = [*self._recent, *words][-ECHO_HORIZON:]
            elif final.shown:  # nothing to keep: clear the partial on screen
                self._emit(final.utterance, (), False, final.end_of_utterance, dropped)

    def _emit(
        self,
        utterance: int,
        words: tuple[Word, ...],
        final: bool,
        end_of_utterance: bool,
        dropped: str | None,
    ) -> None:
        start = words[0].start if words else self.now
        end = words[-1].end if words else self.now
        self._drafts.append(Draft(final, utterance, words, end_of_utterance, start, end, dropped))

    def take_drafts(self) -> list[Draft]:
        """The drafts produced since the last call, oldest first."""
        drafts, self._drafts = self._drafts, []
        return drafts

    def flush(self) -> DecodeRequest | None:
        """At the end of the source: close the utterance still open, then ``poll``.

        Call it until it returns ``None``, answering each request, so that every
        final is decoded.
        """
        u = self._utterance
        if u is not None:
            end = min(self.now, self._last_speech_end + self.settings.end_pad)
            if u.candidate is None and end > u.own_start + FRAME:
                u.candidate = _Final(u.number, u.start, end, u.fresh_from, u.part)
            self._confirm(u, end_of_utterance=True)
        self._drain()
        return self.poll()
