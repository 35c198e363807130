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


def test_a_window_is_the_same_samples_whatever_the_trims_before_it() -> None:
    """The captioner trims its buffer after each batch of audio, at times a paced run's
    load decides; a decode's window must not move with them. (With the buffer's start
    summed in seconds trim by trim, most windows moved by a sample.)"""
    from workers.captioner.worker import AudioBuffer

    audio = np.random.default_rng(0).standard_normal(16000 * 40).astype(np.float32)
    rng = np.random.default_rng(1)
    trims = np.sort(rng.uniform(0, 20, 200))
    often, once = AudioBuffer(), AudioBuffer()
    for buffer in (often, once):
        buffer.append(audio)
    for t in trims:
        often.trim(float(t))
    once.trim(float(trims[-1]))
    assert often.start == once.start
    for start in rng.uniform(trims[-1], 35, 300):
        start = float(start)
        window = often.window(start, start + 3.3)
        first = round(start * 16000)
        assert np.array_equal(window, once.window(start, start + 3.3))
        assert np.array_equal(window, audio[first : first + len(window)])
        assert len(window) == round((start + 3.3) * 16000) - first


def test_a_trim_never_goes_past_the_audio_heard() -> None:
    from workers.captioner.worker import AudioBuffer

    buffer = AudioBuffer()
    buffer.append(np.ones(16000, dtype=np.float32))
    buffer.trim(2.0)  # past the edge: nothing is left, and the next audio starts at 1 s
    buffer.append(np.full(16000, 2.0, dtype=np.float32))
    assert buffer.start == 1.0 and buffer.end == 2.0
    assert np.array_equal(buffer.window(1.5, 2.0), np.full(8000, 2.0, dtype=np.float32))
