"""Building benchmark recordings: real recordings joined with known gaps.

``compose`` concatenates recordings with ``gap`` seconds of silence between them and
writes the WAV and a reference JSON in the shape ``shared/tools/score_captions.py``
reads: one segment per recording, with its text, language, the start and end of its
speech in the joined file (found by the Silero VAD inside each piece) and
``speech_end``, where its last word ends (from the energy of the clean recording, so
a clip's trailing silence never counts as latency saved). The reference also lists
``runs``: every stretch of speech in the joined file (``bench.room.speech_runs``), from
whose ends the benchmarks count each final caption's latency.

With a ``Room``, the same file is also written as a venue microphone hears it
(``*_room.wav``, ``bench.room.render_room``): same timing, so the same reference.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.room import Room, render_room, speech_runs
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


def write_wav(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def room_path(out: Path) -> Path:
    """Where the room rendering of the composed ``out`` is written."""
    return out.with_name(out.stem + "_room.wav")


def compose(
    parts: list[Part], out: Path, gap: float = 1.5, room: Room | None = None
) -> dict[str, object]:
    """Write ``out`` (.wav) and ``out`` with .json (and the room's WAV); return the reference."""
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    segments = []
    offset = 0.0
    for part in parts:
        audio = decode_file(part.audio)
        start, end = speech_span(audio)
        runs = speech_runs(audio)
        speech_end = runs[-1][1] if runs else end
        segments.append(
            {
                "text": part.text,
                "lang": part.lang,
                "start": round(offset + start, 3),
                "end": round(offset + max(end, speech_end), 3),
                "speech_end": round(offset + speech_end, 3),
                "source": part.audio,
            }
        )
        pieces += [audio, silence]
        offset += (len(audio) + len(silence)) / SAMPLE_RATE
    joined = np.clip(np.concatenate(pieces), -1.0, 1.0)
    write_wav(out, joined)
    reference: dict[str, object] = {
        "duration": round(offset, 3),
        "segments": segments,
        "runs": [list(r) for r in speech_runs(joined)],
    }
    if room is not None:
        write_wav(room_path(out), render_room(joined, room))
        reference["room"] = {"file": room_path(out).name, "description": room.describe()}
    out.with_suffix(".json").write_text(json.dumps(reference, ensure_ascii=False, indent=1))
    return reference
