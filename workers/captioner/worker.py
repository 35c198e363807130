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

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields

import numpy as np

from companion.captions import CaptionEvent, Word
from companion.config import CaptionerSettings, WhisperSettings
from companion.glossary import Glossary
from companion.layout import layout_lines
from workers.captioner.audio import SAMPLE_RATE, AudioSource
from workers.captioner.engine import Decoded, WhisperEngine
from workers.captioner.guard import Evidence, looped
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


class _AudioBuffer:
    """The audio from ``start`` (seconds) to the live edge, trimmed from the front."""

    def __init__(self) -> None:
        self.start = 0.0
        self._data = np.zeros(0, dtype=np.float32)

    @property
    def end(self) -> float:
        return self.start + len(self._data) / SAMPLE_RATE

    def append(self, chunk: np.ndarray) -> None:
        self._data = np.concatenate([self._data, chunk])

    def trim(self, keep_from: float) -> None:
        drop = int((keep_from - self.start) * SAMPLE_RATE)
        if drop > 0:
            self._data = self._data[drop:]
            self.start += drop / SAMPLE_RATE

    def window(self, start: float, end: float) -> np.ndarray:
        a = max(0, int((start - self.start) * SAMPLE_RATE))
        b = max(a, int((end - self.start) * SAMPLE_RATE))
        return self._data[a:b]


class UtteranceLanguage:
    """The language of each utterance: the captioner's own, or detected per utterance.

    With ``"auto"``, each decode of an utterance detects its language again until a
    word of the utterance is final; from then on the utterance keeps that language,
    so its final words and the words after them are decoded alike.
    """

    def __init__(self, lang: str) -> None:
        self.fixed = "" if lang == "auto" else lang
        self.last = self.fixed  # of the last utterance with a final word
        self._utterance = -1
        self._lang = ""
        self._locked = False

    def for_decode(self, utterance: int) -> str:
        """The language to decode ``utterance`` in, or ``"auto"`` to detect it."""
        if self.fixed:
            return self.fixed
        if utterance != self._utterance:
            self._utterance, self._lang, self._locked = utterance, "", False
        return self._lang if self._locked else "auto"

    def decoded(self, utterance: int, lang: str) -> None:
        """A decode of ``utterance`` came out in ``lang``."""
        if not self.fixed and utterance == self._utterance and not self._locked:
            self._lang = lang

    def final(self, utterance: int) -> None:
        """A word of ``utterance`` is final: its language is fixed from now on."""
        if not self.fixed and utterance == self._utterance and self._lang:
            self._locked = True
            self.last = self._lang

    def of(self, utterance: int) -> str:
        """The language ``utterance``'s words are in, as far as is known."""
        if self.fixed:
            return self.fixed
        if utterance == self._utterance and self._lang:
            return self._lang
        return self.last or "und"


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
        self._buffer = _AudioBuffer()
        self._contexts: dict[str, list[int]] = {}  # earlier finals' tokens, per language
        self._seq = 0
        self._began = time.monotonic()
        self._began_wall = time.time()

    # ---------------------------------------------------------------- the loop
    def run(self, chunks: Iterable[np.ndarray], emit: Emit) -> None:
        """Caption every chunk until the source ends, calling ``emit`` per event."""
        self._began = time.monotonic()
        self._began_wall = time.time()
        for chunk in chunks:
            self.feed(chunk, emit)
        self.finish(emit)

    def feed(self, chunk: np.ndarray, emit: Emit) -> None:
        """Take one chunk of audio and run whatever decodes the policy wants now."""
        self._buffer.append(chunk)
        self.stats.audio_seconds += len(chunk) / SAMPLE_RATE
        self.policy.push_vad(self.vad(chunk))
        # Finals the frames confirmed go out before any decode: a decode of the next
        # utterance would move UtteranceLanguage on, and they would be stamped (and
        # routed) in the last locked language, and miss from the next prompt.
        self._publish(self.policy.take_drafts(), emit)
        while (request := self.policy.poll()) is not None:
            self._decode(request, emit)
        self._publish(self.policy.take_drafts(), emit)
        self._buffer.trim(self.policy.keep_from)

    def finish(self, emit: Emit) -> None:
        """The source ended: close the utterance still open."""
        while True:
            request = self.policy.flush()
            self._publish(self.policy.take_drafts(), emit)  # before any decode: see feed
            if request is None:
                return
            self._decode(request, emit)

    def _decode(self, request: DecodeRequest, emit: Emit) -> None:
        audio = self._buffer.window(request.start, request.end)
        beam = self.whisper.final_beam_size if request.final else self.whisper.beam_size
        lang = self._utterance_lang.for_decode(request.utterance)
        if lang == "auto" and not request.final and request.end - request.start < DETECT_SECONDS:
            # Too little audio to tell the language: a partial decoded in a guessed
            # language would be shown, and filed, in the wrong one.
            nothing = Evidence(no_speech_prob=0.0, avg_logprob=0.0, speech_seconds=0.0)
            self.policy.on_result(request, Hypothesis((), nothing, 0.0))
            return
        # The glossary helps a whole utterance (measured on the tuning set: without it
        # the room's WER was 1.8 points worse) but leaks into the short windows of
        # partials ("SSE, SNU" over a breath): finals only.
        hotwords = self.hotwords if request.final else ()
        decoded = self._decode_window(audio, request, lang, beam, hotwords)
        seconds = decoded.seconds
        words = [w.text for w in decoded.words]
        self.stats.unlooped += decoded.unlooped
        if request.final and looped(words, decoded.evidence):
            # A glossary term pressed onto noisy speech that does not hold it can send
            # beam search round in circles ("사회적기업 사회적기업 …" until the token cap,
            # in the room): what is left after the guard is a lost sentence. Whisper's
            # transcribe loop decodes such a window again with its prompt reset; so
            # does this, without the glossary or the earlier finals, and keeps the
            # second decode unless it loops too and is no likelier. (A decode that
            # only said its window over has been cut to its first copy already:
            # engine.py.)
            retry = self._decode_window(audio, request, lang, beam, (), reset=True)
            seconds += retry.seconds
            self.stats.retries += 1
            again = looped([w.text for w in retry.words], retry.evidence)
            if not again or retry.evidence.avg_logprob > decoded.evidence.avg_logprob:
                decoded = retry
        self._utterance_lang.decoded(request.utterance, decoded.lang or lang)
        self.stats.decodes += 1
        self.stats.decode_seconds += seconds
        self.stats.decode_costs.append(seconds)
        del self.stats.decode_costs[:-1000]
        cost = seconds * self.speed
        self.policy.on_result(request, Hypothesis(decoded.words, decoded.evidence, cost))
        self._publish(self.policy.take_drafts(), emit)

    def _decode_window(
        self,
        audio: np.ndarray,
        request: DecodeRequest,
        lang: str,
        beam: int,
        hotwords: tuple[str, ...],
        reset: bool = False,
    ) -> Decoded:
        """One decode of ``audio``; ``reset``: without the earlier finals as the prompt."""
        return self.engine.decode(
            audio,
            offset=request.start,
            lang=lang,
            languages=self.languages,
            contexts=self._contexts if lang == "auto" and not reset else None,
            context=[] if reset else self._prompt(request),
            hotwords=hotwords,
            beam_size=beam,
            word_times=request.word_times,
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


def reader_thread(chunks: Iterator[np.ndarray], stats: CaptionerStats) -> Iterator[np.ndarray]:
    """Read a paced or live source in its own thread, so decoding never delays reading.

    Whatever arrived while the captioner was decoding comes out as one chunk, so the
    next decision is taken at the live edge, not on stale audio.
    """
    q: queue.Queue[np.ndarray | BaseException | None] = queue.Queue()

    def reader() -> None:
        try:
            for chunk in chunks:
                q.put(chunk)
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(exc)
        else:
            q.put(None)

    thread = threading.Thread(target=reader, name="audio-reader", daemon=True)
    thread.start()
    while True:
        items = [q.get()]
        while not q.empty() and isinstance(items[-1], np.ndarray):
            items.append(q.get_nowait())
        audio = [i for i in items if isinstance(i, np.ndarray)]
        backlog = sum(len(a) for a in audio) / SAMPLE_RATE
        stats.backlog_seconds = backlog
        stats.max_backlog_seconds = max(stats.max_backlog_seconds, backlog)
        if audio:
            yield np.concatenate(audio) if len(audio) > 1 else audio[0]
        last = items[-1]
        if last is None:
            return
        if isinstance(last, BaseException):
            raise last


def caption_source(captioner: Captioner, source: AudioSource, emit: Emit) -> None:
    """Caption ``source`` to its end (blocking)."""
    try:
        chunks: Iterator[np.ndarray] = source.chunks()
        if source.speed > 0 or source.spec.live:
            chunks = reader_thread(chunks, captioner.stats)
        captioner.run(chunks, emit)
    finally:
        source.close()
