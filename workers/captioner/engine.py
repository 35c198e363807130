"""The Whisper decoder behind the streaming policy (faster-whisper / CTranslate2).

One ``WhisperEngine`` per loaded model; ``decode`` turns one window of 16 kHz audio
(an utterance, or its part before a cut) into words with times, with the earlier
finals as Whisper's prompt. Two things make each decode cheap enough for live
partials on two cores:

* ``encoder_window = "trimmed"``: Whisper's encoder is given the window plus one
  second of padding (at least 6 s in all) instead of the full 30 s it was trained
  on; CTranslate2 accepts shorter inputs. Measured here on the test recordings: the
  same text as the full window, and a decode 3–4x cheaper (a 3 s window: 0.44 s
  instead of 1.5 s). Windows of under 6 s looped ("and so my fellow Americans and so
  my fellow Americans …") more often, hence the floor. ``"full"`` keeps Whisper's
  30-second window for anyone who prefers to pay for it.
* no timestamp tokens; word times come from one cross-attention alignment pass
  (``find_alignment``), only when the words are wanted (finals).
* a final that says its window over ("… 적용됩니다. 각 프로젝트는 도맨 및 …", the
  whole sentence again into the padding: ``guard.whole_repeat``) keeps its first
  copy, which alone is aligned. Measured on the tuning sets at speed 0 (one run, the
  shipped glossary): such finals were 3 of 8 on ``ko-tune`` clean and 2 of 43 on
  ``en-tune``; decoding them again (the worker's retry, still there for the other
  loops) cost a second decode, often looped again, and the text came out no better.
  Keeping the first copy: ``ko-tune`` CER 9.32 % clean (the same) and 24.15 → 23.31 %
  in the room; ``en-tune`` WER 8.37 → 8.24 % and 14.58 % (the same); finals decoded
  again 3 + 1 → 0 + 0 and 2 + 3 → 0 + 1. Decoding with timestamp tokens instead (so
  that Whisper ends its windows as it was trained to) looped more on English (35
  finals of 86) and cost 2 points in the room; ``no_repeat_ngram_size`` moved the
  Korean room by -2 to +9 points. Neither was kept. A copy heard a little
  differently under noise (one syllable of a six-word sentence) counts too: on another
  machine (Intel Xeon, ninth session) ``ko-tune`` in the room said one sentence over
  that way, CER 32.20 → 23.31 % with it; ``en-tune`` the same (8.37 / 14.83 %).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from companion.captions import Word
from workers.captioner.guard import Evidence, whole_repeat

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP = 160  # samples per mel frame
PAD_SECONDS = 1.0
MIN_FRAMES = 600  # the trimmed encoder still sees at least 6 s (shorter windows loop more)
MAX_PROMPT = 223 // 2 - 1
TOKENS_PER_SECOND = 10  # read Korean measured 4.3 tokens/s, fast English about 4
PREPEND = "\"'“¿([{-"
APPEND = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class Decoded:
    """What one decode produced (times absolute: window start added)."""

    words: tuple[Word, ...]
    tokens: tuple[int, ...]
    evidence: Evidence
    seconds: float
    lang: str = ""  # the language decoded in (detected when asked for "auto")
    lang_probability: float = 1.0
    unlooped: bool = False  # it said its window again; only the first copy was kept


class WhisperEngine:
    """A loaded faster-whisper model, decoding one window at a time."""

    def __init__(
        self,
        model_path: str,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        num_workers: int = 1,
        encoder_window: str = "trimmed",
        allow_download: bool = False,
    ) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            model_path,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=num_workers,
            local_files_only=not allow_download,
        )
        self.encoder_window = encoder_window
        self._tokenizers: dict[str, Any] = {}
        self._hotword_cache: dict[tuple[tuple[str, ...], int], list[int]] = {}
        self._silence = self.model.feature_extractor(
            np.zeros(SAMPLE_RATE * 30, dtype=np.float32), padding=0
        )

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def tokenizer(self, lang: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        if lang not in self._tokenizers:
            self._tokenizers[lang] = Tokenizer(
                self.model.hf_tokenizer,
                self.multilingual,
                task="transcribe",
                language=lang if self.multilingual else "en",
            )
        return self._tokenizers[lang]

    def _hotword_tokens(self, tok: Any, terms: tuple[str, ...], room: int) -> list[int]:
        """The glossary's ``terms`` as prompt tokens (``" A, B, C"``): as many whole
        terms, in order, as fit in ``room`` tokens beside the earlier finals.

        Cut to the room by tokens instead, the shipped Korean list (200 characters, 170
        tokens) kept only the end of its first 110 tokens, from the middle of a term
        ("적경제, 연대경제, …"). Measured on the tuning sets at speed 0 (one run, this
        machine, ninth session): ``ko-tune`` CER 9.32 → 8.05 % clean and 23.31 → 22.46 %
        in the room (no glossary at all: 7.63 / 22.88 %); the English list fits either
        way. (``en-tune`` without the glossary: WER 8.37 → 8.24 % clean, 14.83 → 15.72 %
        in the room, so it stays.)
        """
        key = (terms, room)  # Whisper's BPE does not depend on the language
        if key not in self._hotword_cache:
            tokens: list[int] = []
            for k in range(1, len(terms) + 1):
                longer = list(tok.encode(" " + ", ".join(terms[:k])))
                if len(longer) > room:
                    break
                tokens = longer
            self._hotword_cache[key] = tokens
        return self._hotword_cache[key]

    def encode_text(self, text: str, lang: str = "en") -> list[int]:
        # Whisper's BPE does not depend on the language: any tokenizer encodes alike.
        return list(self.tokenizer(lang if lang in self._known_languages() else "en").encode(text))

    @staticmethod
    def _known_languages() -> frozenset[str]:
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        return frozenset(_LANGUAGE_CODES)

    def _features(self, audio: np.ndarray) -> tuple[np.ndarray, int]:
        content = int(len(audio) // HOP)
        feats = self.model.feature_extractor(audio, padding=0)[:, :content]
        if self.encoder_window == "full":
            target = 3000
        else:
            target = min(3000, max(MIN_FRAMES, int(np.ceil((content + PAD_SECONDS * 100) / 2) * 2)))
        if feats.shape[1] > 3000:
            feats, content = feats[:, :3000], 3000
        if feats.shape[1] < target:
            feats = np.concatenate([feats, self._silence[:, : target - feats.shape[1]]], axis=1)
        return np.ascontiguousarray(feats[None], dtype=np.float32), content

    def decode(
        self,
        audio: np.ndarray,
        offset: float,
        lang: str,
        context: list[int] | None = None,
        hotwords: tuple[str, ...] = (),
        beam_size: int = 1,
        word_times: bool = True,
        languages: tuple[str, ...] = (),
        contexts: dict[str, list[int]] | None = None,
    ) -> Decoded:
        """Decode ``audio`` (starting at audio time ``offset``).

        The tokens generated are capped by the window's length (``TOKENS_PER_SECOND``),
        so a decode that starts to loop stops early instead of running to Whisper's
        448-token limit; one that reaches the cap is flagged ``runaway``. Without
        ``word_times`` the alignment pass is skipped and every word is stamped with the
        window's end (enough for a partial that cannot become final yet). With
        ``lang="auto"`` the language is detected on this window's encoder output (no
        second encoder pass), among ``languages`` when given, and ``contexts`` gives
        the prompt per language (the earlier finals in that language).
        """
        import ctranslate2
        from faster_whisper.transcribe import merge_punctuations

        began = time.perf_counter()
        feats, content = self._features(audio)
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(feats), to_cpu=False)
        probability = 1.0
        if lang == "auto":
            lang, probability = self._detect(encoded, languages)
            context = (contexts or {}).get(lang, [])
        tok = self.tokenizer(lang)
        prompt: list[int] = []
        head: list[int] = []
        if hotwords:
            head += self._hotword_tokens(tok, hotwords, MAX_PROMPT - len(context or ()))
        if context:
            head += context
        if head:
            prompt = [tok.sot_prev, *head[-MAX_PROMPT:]]
        prompt += [*tok.sot_sequence, tok.no_timestamps]
        seconds = len(audio) / SAMPLE_RATE
        max_new = int(seconds * TOKENS_PER_SECOND) + 10
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=beam_size,
            max_length=min(448, len(prompt) + max_new),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
        )[0]
        new_tokens = [t for t in result.sequences_ids[0] if t < tok.eot]
        score = float(result.scores[0]) if result.scores else 0.0
        evidence = Evidence(
            no_speech_prob=float(result.no_speech_prob),
            avg_logprob=score,
            speech_seconds=seconds,
            runaway=len(new_tokens) >= max_new - 1,  # stopped by the cap, not by itself
        )
        words: tuple[Word, ...] = ()
        unlooped = False
        if new_tokens and not word_times:
            texts, _ = tok.split_to_word_tokens([*new_tokens, tok.eot])
            end = round(offset + seconds, 3)
            words = tuple(Word(t, end, end) for t in texts if t)
        elif new_tokens:
            texts, word_tokens = tok.split_to_word_tokens(new_tokens)
            said = whole_repeat(texts)
            if said:  # said again into the padding: align (and keep) the first copy only
                new_tokens = [t for w in word_tokens[:said] for t in w]
                evidence = replace(evidence, runaway=False)
                unlooped = True
            alignment = self.model.find_alignment(tok, [new_tokens], encoded, content)[0]
            merge_punctuations(alignment, PREPEND, APPEND)
            words = tuple(
                Word(
                    text=str(w["word"]),
                    start=round(offset + float(w["start"]), 3),
                    end=round(offset + float(w["end"]), 3),
                    probability=float(w["probability"]),
                )
                for w in alignment
                if w["word"]
            )
        seconds_taken = time.perf_counter() - began
        return Decoded(
            words, tuple(new_tokens), evidence, seconds_taken, lang, probability, unlooped
        )

    def _detect(self, encoded: Any, languages: tuple[str, ...]) -> tuple[str, float]:
        """The likeliest language of an encoded window (among ``languages`` if given)."""
        if not self.multilingual:
            return "en", 1.0
        ranked = self.model.model.detect_language(encoded)[0]  # [("<|ko|>", p), …]
        for token, probability in ranked:
            code = token[2:-2]
            if not languages or code in languages:
                return code, float(probability)
        return (languages[0] if languages else "en"), 0.0
