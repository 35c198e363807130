"""Audio sources and the streaming VAD, on real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from companion.errors import SourceError
from tests.support.paths import data
from workers.captioner.audio import AudioSource, decode_file, parse_source
from workers.captioner.vad import StreamingVad


@pytest.mark.parametrize(
    ("spec", "url", "fmt", "live"),
    [
        ("talk.wav", "talk.wav", None, False),
        ("https://cdn.example/talk.mp3", "https://cdn.example/talk.mp3", None, False),
        ("https://cdn.example/live/ko.m3u8", "https://cdn.example/live/ko.m3u8", None, True),
        ("rtmp://venue/live/ko", "rtmp://venue/live/ko", None, True),
        ("srt://venue:9000", "srt://venue:9000", None, True),
        ("alsa:default", "default", "alsa", True),
        ("pulse:booth_en.monitor", "booth_en.monitor", "pulse", True),
        ("lavfi:sine=f=440:d=1", "sine=f=440:d=1", "lavfi", False),
    ],
)
def test_source_specs(spec: str, url: str, fmt: str | None, live: bool) -> None:
    parsed = parse_source(spec)
    assert (parsed.url, parsed.format, parsed.live) == (url, fmt, live)


def test_empty_source_is_refused() -> None:
    with pytest.raises(SourceError, match="no audio source given"):
        parse_source("  ")


def test_files_decode_to_16k_mono_float() -> None:
    audio = decode_file(data("jfk.flac"))  # 44.1 kHz stereo FLAC
    assert audio.dtype == np.float32
    assert abs(len(audio) / 16000 - 11.0) < 0.05
    assert 0.05 < float(np.abs(audio).max()) < 1.5  # resampling may overshoot a little


def test_lavfi_device_source_decodes() -> None:
    source = AudioSource("lavfi:sine=frequency=440:duration=1", speed=0)
    audio = np.concatenate(list(source.chunks()))
    assert abs(len(audio) - 16000) < 400


def test_chunks_are_a_tenth_of_a_second() -> None:
    source = AudioSource(data("ko_walk.wav"), speed=0)
    sizes = [len(c) for c in source.chunks()]
    assert set(sizes[:-1]) == {1600}


def test_streaming_vad_matches_faster_whispers_batch_vad() -> None:
    from faster_whisper.vad import get_vad_model

    audio = decode_file(data("jfk.flac"))
    vad = StreamingVad()
    probs: list[float] = []
    for i in range(0, len(audio), 1000):  # odd chunk size on purpose
        probs += vad(audio[i : i + 1000])
    padded = np.pad(audio, (0, 512 - len(audio) % 512))
    batch = get_vad_model()(padded).reshape(-1)
    assert np.allclose(probs, batch[: len(probs)], atol=1e-4)
    assert sum(p > 0.5 for p in probs) > len(probs) // 2


def test_room_tone_is_not_speech() -> None:
    probs = StreamingVad()(decode_file(data("room_tone.wav")))
    assert max(probs) < 0.5
