"""Building benchmark recordings: real recordings joined with known gaps.

``compose`` concatenates recordings with ``gap`` seconds of silence between them and
writes the WAV and a reference JSON in the shape ``shared/tools/score_captions.py``
reads: one segment per recording, with its text, language, and the exact start and
end of its speech in the joined file (found by the Silero VAD inside each piece).
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.captioner.audio import SAMPLE_RATE, decode_file
from workers.captioner.vad import FRAME, StreamingVad


@dataclass(frozen=True)
class Part:
    """One recording to join: its language, audio file and reference text."""

    lang: str
    audio: str
    text: str


def speech_span(audio: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    """Start and end (seconds) of the speech in ``audio``; the whole of it if none."""
    probs = StreamingVad()(audio)
    speech = [i for i, p in enumerate(probs) if p >= threshold]
    if not speech:
        return 0.0, len(audio) / SAMPLE_RATE
    return speech[0] * FRAME / SAMPLE_RATE, (speech[-1] + 1) * FRAME / SAMPLE_RATE


def compose(parts: list[Part], out: Path, gap: float = 1.5) -> dict[str, object]:
    """Write ``out`` (.wav) and ``out`` with .json; return the reference."""
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    segments = []
    offset = 0.0
    for part in parts:
        audio = decode_file(part.audio)
        start, end = speech_span(audio)
        segments.append(
            {
                "text": part.text,
                "lang": part.lang,
                "start": round(offset + start, 3),
                "end": round(offset + end, 3),
                "source": part.audio,
            }
        )
        pieces += [audio, silence]
        offset += (len(audio) + len(silence)) / SAMPLE_RATE
    joined = np.clip(np.concatenate(pieces), -1.0, 1.0)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((joined * 32767).astype("<i2").tobytes())
    reference: dict[str, object] = {"duration": round(offset, 3), "segments": segments}
    out.with_suffix(".json").write_text(json.dumps(reference, ensure_ascii=False, indent=1))
    return reference
