"""The simulated venue microphone and the speech runs latency is counted from (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.room import (
    SAMPLE_RATE,
    Room,
    frame_db,
    impulse_response,
    render_room,
    speech_frames,
    speech_runs,
)


def bursts(spans: list[tuple[float, float]], seconds: float, seed: int = 3) -> np.ndarray:
    """Noise bursts (speech-like energy) at ``spans``, digital silence elsewhere."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    for a, b in spans:
        i, j = int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)
        audio[i:j] = 0.2 * rng.standard_normal(j - i)
    return audio


SPANS = [(0.5, 2.0), (2.15, 3.0), (4.0, 6.5)]  # a 0.15 s gap bridged, a 1 s gap not


def test_speech_runs_find_the_bursts_and_bridge_short_gaps() -> None:
    runs = speech_runs(bursts(SPANS, 8.0))
    assert len(runs) == 2
    (a1, b1), (a2, b2) = runs
    assert a1 == pytest.approx(0.5, abs=0.011) and b1 == pytest.approx(3.0, abs=0.011)
    assert a2 == pytest.approx(4.0, abs=0.011) and b2 == pytest.approx(6.5, abs=0.011)


def test_the_room_is_reproducible_from_its_seed() -> None:
    audio = bursts(SPANS, 8.0)
    one = render_room(audio, Room(seed=5))
    assert np.array_equal(one, render_room(audio, Room(seed=5)))
    assert not np.array_equal(one, render_room(audio, Room(seed=6)))
    assert len(one) == len(audio) and one.dtype == np.float32


def test_no_digital_silence_anywhere_in_the_room() -> None:
    audio = bursts(SPANS, 8.0)
    assert frame_db(audio).min() < -100  # the clean file has digital silence
    room = render_room(audio, Room(snr_db=15.0))
    assert frame_db(room).min() > -60  # the room never falls silent
    assert not np.any(np.convolve(room == 0.0, np.ones(32), mode="valid") >= 32)


@pytest.mark.parametrize("snr", [5.0, 15.0, 25.0])
def test_noise_lies_snr_below_the_speech(snr: float) -> None:
    audio = bursts(SPANS, 8.0)
    dry = Room(rt60=0.0, snr_db=snr)  # no reverberation: the difference is the noise
    noise = render_room(audio, dry).astype(np.float64) - audio
    active = np.repeat(speech_frames(audio), 160)
    speech_power = np.mean(audio[: len(active)][active].astype(np.float64) ** 2)
    measured = 10 * np.log10(speech_power / np.mean(noise**2))
    assert measured == pytest.approx(snr, abs=0.3)


@pytest.mark.parametrize("rt60", [0.3, 0.5, 1.0])
def test_the_reverberation_falls_60_db_in_rt60(rt60: float) -> None:
    ir = impulse_response(Room(rt60=rt60), np.random.default_rng(0))
    tail = ir.copy()
    tail[0] = 0.0  # the direct path is not part of the decay
    energy = np.cumsum(tail[::-1] ** 2)[::-1]  # Schroeder's backward integral
    decay = 10 * np.log10(energy / energy[0] + 1e-30)
    # the time from -5 dB to -25 dB, times 3 (T20), as acousticians measure it
    t5 = np.argmax(decay <= -5) / SAMPLE_RATE
    t25 = np.argmax(decay <= -25) / SAMPLE_RATE
    assert 3 * (t25 - t5) == pytest.approx(rt60, rel=0.15)


def test_the_direct_sound_keeps_the_timing() -> None:
    audio = bursts(SPANS, 8.0)
    room = render_room(audio, Room(snr_db=40.0))
    lag = int(np.argmax(np.correlate(room[:16000], audio[:16000], mode="full"))) - 15999
    assert lag == 0
