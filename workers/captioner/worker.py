"""The captioner worker: audio in, numbered caption events out.

The I/O shell around the pure ``StreamingPolicy``: it reads a source, runs the
streaming VAD, runs the decodes the policy asks for on ``WhisperEngine``, and turns
the policy's drafts into ``CaptionEvent``s (sequence numbers, emission times, line
layout, glossary spelling) for a callback. ``workers/captioner/live.py`` runs it
for the bus: decoding in a worker thread, never on the event loop.

The audio kept in memory is the current utterance at most (``max_utterance`` plus
padding) and the context handed to Whisper is ``context_tokens`` at most, so the
cost of a decode does not grow over hours.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from companion.captions import CaptionEvent, Word
from companion.config import CaptionerSettings, WhisperSettings
from companion.glossary import Glossary
from companion.layout import layout_lines
from workers.captioner.audio import SAMPLE_RATE, AudioSource
from workers.captioner.engine import Decoded, WhisperEngine
from workers.captioner.guard import Evidence, looped, skipped
from workers.captioner.policy import (
    DecodeRequest,
    Draft,
    Hypothesis,
    PolicySettings,
    StreamingPolicy,
)
from workers.captioner.vad import StreamingVad

log = logging.getLogger(__name__)

DETECT_SECONDS = 1.0  # the least audio an utterance's language is detected on
DECODE_THREADS = 2  # a paced captioner's decodes at once: a partial and a final (policy.poll)

Emit = Callable[[CaptionEvent], None]


@dataclass
class CaptionerStats:
    """Counters for health pages and benchmarks."""

    audio_seconds: float = 0.0
    decode_seconds: float = 0.0
    decodes: int = 0
    partials: int = 0
    finals: int = 0
    guard_drops: int = 0
    retries: int = 0  # finals decoded again because the first decode looped
    unlooped: int = 0  # decodes that said their window again (the first copy kept)
    backlog_seconds: float = 0.0
    max_backlog_seconds: float = 0.0
    last_error: str = ""
    decode_costs: list[float] = field(default_factory=list)

    @property
    def real_time_factor(self) -> float:
        """Decode time per second of audio (below 1 keeps up with live)."""
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else 0.0


@dataclass(frozen=True)
class _Job:
    """One decode, with everything it needs taken when it was asked for."""

    request: DecodeRequest
    audio: np.ndarray
    lang: str
    beam: int
    hotwords: tuple[str, ...]
    context: list[int]  # the earlier finals, as Whisper's prompt
    contexts: dict[str, list[int]] | None  # per language, for "auto"


@dataclass(frozen=True)
class _Outcome:
    decoded: Decoded
    seconds: float  # decoding, the retry included
    retried: bool


class AudioBuffer:
    """The audio from ``start`` (seconds) to the live edge, trimmed from the front.

    Kept by sample number, each time rounded to its sample: a window is the same
    samples whatever trims came before it. (With its start kept in seconds, summed trim
    by trim, a window moved by one sample with the trims' timing, which a paced run's
    load decides; Whisper hears such a shift: the tuning sets' text changed with this
    fix, docs/benchmarks.md, the fifteenth session.)
    """

    def __init__(self) -> None:
        self._first = 0  # the number of the first sample kept
        self._data = np.zeros(0, dtype=np.float32)

    @property
    def start(self) -> float:
        return self._first / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self._first + len(self._data)) / SAMPLE_RATE

    def append(self, chunk: np.ndarray) -> None:
        self._data = np.concatenate([self._data, chunk])

    def trim(self, keep_from: float) -> None:
        drop = min(_sample(keep_from) - self._first, len(self._data))  # not past the edge
        if drop > 0:
            self._data = self._data[drop:]
            self._first += drop

    def window(self, start: float, end: float) -> np.ndarray:
        a = max(0, _sample(start) - self._first)
        b = max(a, _sample(end) - self._first)
        return self._data[a:b]


def _sample(t: float) -> int:
    """The number of the sample at audio time ``t``."""
    return round(t * SAMPLE_RATE)


class UtteranceLanguage:
    """The language of each utterance: the captioner's own, or detected per utterance.

    With ``"auto"``, each decode of an utterance detects its language again until a
    word of the utterance is final; from then on the utterance keeps that language,
    so its final words and the words after them are decoded alike. Kept per
    utterance: a paced captioner decodes the next utterance's partial while the last
    one's final is still running.
    """

    KEEP = 8  # utterances remembered (a final and a partial are in flight at most)

    def __init__(self, lang: str) -> None:
        self.fixed = "" if lang == "auto" else lang
        self.last = self.fixed  # of the last utterance with a final word
        self._heard: dict[int, str] = {}  # utterance: its language, as last decoded
        self._locked: set[int] = set()

    def for_decode(self, utterance: int) -> str:
        """The language to decode ``utterance`` in, or ``"auto"`` to detect it."""
        if self.fixed:
            return self.fixed
        return self._heard[utterance] if utterance in self._locked else "auto"

    def decoded(self, utterance: int, lang: str) -> None:
        """A decode of ``utterance`` came out in ``lang``."""
        if not self.fixed and utterance not in self._locked:
            self._heard[utterance] = lang
            while len(self._heard) > self.KEEP:
                oldest = min(self._heard)
                del self._heard[oldest]
                self._locked.discard(oldest)

    def final(self, utterance: int) -> None:
        """A word of ``utterance`` is final: its language is fixed from now on."""
        if not self.fixed and utterance in self._heard:
            self._locked.add(utterance)
            self.last = self._heard[utterance]

    def of(self, utterance: int) -> str:
        """The language ``utterance``'s words are in, as far as is known."""
        if self.fixed:
            return self.fixed
        return self._heard.get(utterance) or self.last or "und"


def policy_settings(settings: CaptionerSettings) -> PolicySettings:
    """The policy's knobs, taken by name from the documented settings."""
    known = {f.name for f in fields(PolicySettings)}
    return PolicySettings(**{k: v for k, v in settings.model_dump().items() if k in known})


class Captioner:
    """One channel's captioner."""

    def __init__(
        self,
        engine: WhisperEngine,
        channel: str,
        lang: str,
        settings: CaptionerSettings,
        whisper: WhisperSettings,
        glossary: Glossary | None = None,
        speed: float = 1.0,
        languages: tuple[str, ...] = (),
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.lang = lang
        # ``lang="auto"``: each utterance's language is detected (among ``languages``)
        # and may change from one decode to the next until a word of it is final.
        self.languages = languages
        self._utterance_lang = UtteranceLanguage(lang)
        self.settings = settings
        self.whisper = whisper
        self.glossary = glossary or Glossary(())
        self.hotwords = self.glossary.hotword_terms(lang, settings.hotword_chars)
        self.speed = speed
        self.policy = StreamingPolicy(policy_settings(settings), lang)
        self.vad = StreamingVad()
        self.stats = CaptionerStats()
        self._buffer = AudioBuffer()
        self._contexts: dict[str, list[int]] = {}  # earlier finals' tokens, per language
        self._seq = 0
        self._began = time.monotonic()
        self._began_wall = time.time()

    # ---------------------------------------------------------------- the loop
    def run(self, chunks: Iterable[np.ndarray], emit: Emit, paced: bool = False) -> None:
        """Caption every chunk until the source ends, calling ``emit`` per event.

        ``paced``: the chunks come in real time (a live source, a paced replay). They
        are read in a thread of their own, so decoding never delays reading, and the
        decodes run in threads too (``DECODE_THREADS``), so that a final decode starts
        the moment its pause begins, beside a partial still running. Otherwise (a
        replay at full speed, the tests) each decode runs when the policy asks for it,
        and the same audio gives the same events.
        """
        self._began = time.monotonic()
        self._began_wall = time.time()
        if paced:
            self._run_paced(iter(chunks), emit)
        else:
            for chunk in chunks:
                self.feed(chunk, emit)
        self.finish(emit)

    def feed(self, chunk: np.ndarray, emit: Emit) -> None:
        """Take one chunk of audio and run whatever decodes the policy wants now."""
        self._hear(chunk, emit)
        while (request := self.policy.poll()) is not None:
            job = self._job(request)
            if job is not None:
                self._decoded(job.request, self._compute(job), emit)
        self._publish(self.policy.take_drafts(), emit)  # of a request answered at once
        self._buffer.trim(self.policy.keep_from)

    def finish(self, emit: Emit) -> None:
        """The source ended: close the utterance still open."""
        while True:
            request = self.policy.flush()
            self._publish(self.policy.take_drafts(), emit)  # before any decode: see _hear
            if request is None:
                return
            job = self._job(request)
            if job is not None:
                self._decoded(job.request, self._compute(job), emit)

    def _run_paced(self, chunks: Iterator[np.ndarray], emit: Emit) -> None:
        """``run`` for chunks that come in real time: one inbox for the audio (from a
        reader thread) and for the decodes' results (from the decode threads), taken
        in the order they came; whatever arrived meanwhile is taken at once, so the
        next decision is taken at the live edge, not on stale audio."""
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        threading.Thread(
            target=_read_into, args=(chunks, inbox), name="audio-reader", daemon=True
        ).start()
        in_flight, ended = 0, False
        with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool:
            while not ended or in_flight:
                items = [inbox.get()]
                while not inbox.empty():
                    items.append(inbox.get_nowait())
                audio = [value for kind, value in items if kind == "audio"]
                backlog = sum(len(a) for a in audio) / SAMPLE_RATE
                self.stats.backlog_seconds = backlog
                self.stats.max_backlog_seconds = max(self.stats.max_backlog_seconds, backlog)
                for heard, group in itertools.groupby(items, key=lambda item: item[0] == "audio"):
                    if heard:
                        self._hear(np.concatenate([value for _, value in group]), emit)
                        continue
                    for kind, value in group:
                        if kind == "failed":
                            raise value
                        if kind == "ended":
                            ended = True
                        else:  # "decoded"
                            in_flight -= 1
                            request, outcome = value
                            self._decoded(request, outcome, emit)
                while (request := self.policy.poll()) is not None:
                    job = self._job(request)
                    if job is not None:
                        in_flight += 1
                        pool.submit(self._compute_into, job, inbox)
                self._publish(self.policy.take_drafts(), emit)  # of a request answered at once
                self._buffer.trim(self.policy.keep_from)

    def _hear(self, chunk: np.ndarray, emit: Emit) -> None:
        self._buffer.append(chunk)
        self.stats.audio_seconds += len(chunk) / SAMPLE_RATE
        self.policy.push_vad(self.vad(chunk))
        # Finals the frames confirmed go out before any decode: a decode of the next
        # utterance would move UtteranceLanguage on, and they would be stamped (and
        # routed) in the last locked language, and miss from the next prompt.
        self._publish(self.policy.take_drafts(), emit)

    # ------------------------------------------------------------- the decodes
    def _job(self, request: DecodeRequest) -> _Job | None:
        """What decoding ``request`` needs, taken now (the audio, the prompt); ``None``
        when it is answered at once."""
        lang = self._utterance_lang.for_decode(request.utterance)
        if lang == "auto" and not request.final and request.end - request.start < DETECT_SECONDS:
            # Too little audio to tell the language: a partial decoded in a guessed
            # language would be shown, and filed, in the wrong one.
            nothing = Evidence(no_speech_prob=0.0, avg_logprob=0.0, speech_seconds=0.0)
            self.policy.on_result(request, Hypothesis((), nothing, 0.0))
            return None
        return _Job(
            request,
            self._buffer.window(request.start, request.end),
            lang,
            self.whisper.final_beam_size if request.final else self.whisper.beam_size,
            # The glossary helps a whole utterance (measured on the tuning set: without
            # it the room's WER was 1.8 points worse) but leaks into the short windows of
            # partials ("SSE, SNU" over a breath): finals only.
            self.hotwords if request.final else (),
            self._prompt(request),
            {k: list(v) for k, v in self._contexts.items()} if lang == "auto" else None,
        )

    def _compute(self, job: _Job) -> _Outcome:
        """Decode ``job`` (in any thread: it touches nothing of the captioner's)."""
        decoded = self._decode_window(job, reset=False)
        seconds = decoded.seconds
        retried = False
        if job.request.final and _astray(decoded):
            # A glossary term pressed onto noisy speech that does not hold it can send
            # beam search round in circles ("사회적기업 사회적기업 …" until the token cap,
            # in the room): what is left after the guard is a lost sentence. Whisper's
            # transcribe loop decodes such a window again with its prompt reset; so
            # does this, without the glossary or the earlier finals, and keeps the
            # second decode unless it goes astray too and is no likelier. (A decode that
            # only said its window over has been cut to its first copy already:
            # engine.py.) The same for a final that passed over a sentence
            # (``guard.skipped``): the prompt had led it past the speech.
            retry = self._decode_window(job, reset=True)
            seconds += retry.seconds
            retried = True
            if not _astray(retry) or retry.evidence.avg_logprob > decoded.evidence.avg_logprob:
                decoded = retry
        return _Outcome(decoded, seconds, retried)

    def _compute_into(self, job: _Job, inbox: queue.Queue[tuple[str, Any]]) -> None:
        try:
            inbox.put(("decoded", (job.request, self._compute(job))))
        except BaseException as exc:  # handed to the loop, raised there
            inbox.put(("failed", exc))

    def _decoded(self, request: DecodeRequest, outcome: _Outcome, emit: Emit) -> None:
        """A decode's words, to the policy; its drafts, out."""
        decoded = outcome.decoded
        self.stats.unlooped += decoded.unlooped
        self.stats.retries += outcome.retried
        self._utterance_lang.decoded(request.utterance, decoded.lang)
        self.stats.decodes += 1
        self.stats.decode_seconds += outcome.seconds
        self.stats.decode_costs.append(outcome.seconds)
        del self.stats.decode_costs[:-1000]
        cost = outcome.seconds * self.speed
        self.policy.on_result(request, Hypothesis(decoded.words, decoded.evidence, cost))
        self._publish(self.policy.take_drafts(), emit)

    def _decode_window(self, job: _Job, reset: bool) -> Decoded:
        """One decode of the job's audio; ``reset``: without the glossary or the earlier
        finals as the prompt."""
        return self.engine.decode(
            job.audio,
            offset=job.request.start,
            lang=job.lang,
            languages=self.languages,
            contexts=None if reset else job.contexts,
            context=[] if reset else job.context,
            hotwords=() if reset else job.hotwords,
            beam_size=job.beam,
            word_times=job.request.word_times,
        )

    def _prompt(self, request: DecodeRequest) -> list[int]:
        """Earlier finals in the utterance's language (bounded), as Whisper's prompt."""
        lang = self._utterance_lang.of(request.utterance)
        context = self._contexts.get(lang, [])
        return context[-self.settings.context_tokens :] if self.settings.context_tokens else []

    # -------------------------------------------------------------- the events
    def _publish(self, drafts: list[Draft], emit: Emit) -> None:
        for draft in drafts:
            if draft.dropped:
                self.stats.guard_drops += 1
                log.info("%s: guard dropped words: %s", self.channel, draft.dropped)
            event = self._event(draft)
            if event.final:
                self.stats.finals += 1
                self._utterance_lang.final(draft.utterance)
                if self.settings.context_tokens:
                    # One context per language: another language's words as Whisper's
                    # prompt pull it towards translating.
                    context = self._contexts.setdefault(event.lang, [])
                    context += self.engine.encode_text(" " + event.text, event.lang)
                    del context[: -self.settings.context_tokens]
            else:
                self.stats.partials += 1
            emit(event)

    def _event(self, draft: Draft) -> CaptionEvent:
        lang = self._utterance_lang.of(draft.utterance)
        words = tuple(
            Word(self.glossary.canonicalize(w.text, lang), w.start, w.end, w.probability)
            for w in draft.words
        )
        text = "".join(w.text for w in words).strip()
        self._seq += 1
        return CaptionEvent(
            channel=self.channel,
            seq=self._seq,
            final=draft.final,
            text=text,
            lang=lang,
            start=draft.start,
            end=draft.end,
            emitted=time.monotonic() - self._began,
            utterance=draft.utterance,
            end_of_utterance=draft.end_of_utterance,
            words=words,
            lines=tuple(layout_lines(text, lang)),
            at=round(self._began_wall + draft.start / max(self.speed, 1e-9), 3)
            if self.speed
            else 0.0,
        )


def _astray(decoded: Decoded) -> bool:
    """A final decode that looped or passed over speech: decoded again (``_compute``)."""
    return looped([w.text for w in decoded.words], decoded.evidence) or skipped(decoded.words)


def _read_into(chunks: Iterator[np.ndarray], inbox: queue.Queue[tuple[str, Any]]) -> None:
    """Read a paced or live source into ``inbox`` (in a thread of its own)."""
    try:
        for chunk in chunks:
            inbox.put(("audio", chunk))
    except BaseException as exc:  # handed to the loop, raised there
        inbox.put(("failed", exc))
    else:
        inbox.put(("ended", None))


def caption_source(captioner: Captioner, source: AudioSource, emit: Emit) -> None:
    """Caption ``source`` to its end (blocking)."""
    try:
        captioner.run(source.chunks(), emit, paced=source.speed > 0 or source.spec.live)
    finally:
        source.close()
