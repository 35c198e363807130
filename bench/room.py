"""A venue microphone, simulated: reverberation, steady noise, no digital silence. Pure.

Test recordings are clean close-talk speech joined with digital silence, which makes
the end of an utterance trivial to find. In a conference room the microphone also
hears the room: every word rings on for about the room's RT60, and a steady noise
(air handling, projectors, the audience) never stops. ``render_room`` gives any
recording that sound, reproducibly from a seed:

* **Reverberation**: the recording convolved with a synthetic impulse response, the
  direct path followed, after a few milliseconds, by exponentially decaying Gaussian
  noise (Schroeder's statistical model of a diffuse field) that falls 60 dB in
  ``rt60`` seconds, its energy ``drr_db`` below the direct sound's. The direct path
  arrives at time 0, so the reference times of the clean recording stay exact.
* **Noise**: pink (1/f) noise, the usual model of room tone, over the whole file (so
  no sample is digitally silent, before, between or after the speech), scaled to lie
  ``snr_db`` below the speech's power. The speech's power is measured on the active
  frames of the clean recording (``speech_frames``), so pauses do not dilute it.

``speech_runs`` finds the stretches of speech in a *clean* recording from its energy
(frames above the recording's own noise floor, short gaps bridged). The benchmarks
measure latency from the end of these runs, not from the end of a file's padding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

SAMPLE_RATE = 16000
FRAME = 160  # 10 ms energy frames


@dataclass(frozen=True)
class Room:
    """How the simulated venue sounds."""

    rt60: float = 0.5  # seconds for the reverberation to fall by 60 dB
    snr_db: float = 15.0  # speech power over noise power
    drr_db: float = 0.0  # direct-to-reverberant energy ratio: a microphone a few metres off
    seed: int = 1

    def describe(self) -> str:
        return (
            f"RT60 {self.rt60:g} s, SNR {self.snr_db:g} dB, DRR {self.drr_db:g} dB, "
            f"seed {self.seed}"
        )


def impulse_response(room: Room, rng: np.random.Generator) -> np.ndarray:
    """The room's impulse response: a unit direct path, then the diffuse tail."""
    if room.rt60 <= 0:
        return np.ones(1, dtype=np.float64)
    length = int(SAMPLE_RATE * room.rt60 * 1.2)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * 10.0 ** (-3.0 * t / room.rt60)
    tail[: int(0.004 * SAMPLE_RATE)] = 0.0  # the first reflections come a few ms later
    tail *= np.sqrt(10.0 ** (-room.drr_db / 10.0) / np.sum(tail**2))
    tail[0] = 1.0
    return tail


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-power pink noise (power falling as 1/f above 20 Hz)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spectrum /= np.sqrt(np.maximum(f, 20.0))
    noise = np.fft.irfft(spectrum, n)
    return np.asarray(noise / np.sqrt(np.mean(noise**2)))


def frame_db(audio: np.ndarray) -> np.ndarray:
    """Energy of each 10 ms frame, dB."""
    n = len(audio) // FRAME
    frames = audio[: n * FRAME].astype(np.float64).reshape(n, FRAME)
    return np.asarray(10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12))


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """Which 10 ms frames of a clean recording carry speech, from their energy.

    A frame is speech when it is 15 dB above the recording's noise floor (its 10th
    percentile of frame energy, or -70 dB for digital silence) and within 40 dB of its
    loud frames (99th percentile).
    """
    db = frame_db(audio)
    if not len(db):
        return np.zeros(0, dtype=bool)
    floor = max(float(np.percentile(db, 10)), -70.0)
    threshold = max(floor + 15.0, float(np.percentile(db, 99)) - 40.0)
    return np.asarray(db > threshold)


def speech_runs(
    audio: np.ndarray, bridge: float = 0.25, shortest: float = 0.08
) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of each stretch of speech in a clean recording.

    Gaps shorter than ``bridge`` (stops, short breaths) do not split a run; runs
    shorter than ``shortest`` (clicks) are left out.
    """
    active = speech_frames(audio)
    runs: list[list[float]] = []
    step = FRAME / SAMPLE_RATE
    for i in np.flatnonzero(active):
        start, end = i * step, (i + 1) * step
        if runs and start - runs[-1][1] < bridge:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [(round(a, 3), round(b, 3)) for a, b in runs if b - a >= shortest]


def render_room(audio: np.ndarray, room: Room) -> np.ndarray:
    """``audio`` as a microphone in ``room`` hears it (same length, same timing)."""
    rng = np.random.default_rng(room.seed)
    clean = audio.astype(np.float64)
    ir = impulse_response(room, rng)
    n = len(clean) + len(ir) - 1
    size = 1 << (n - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(clean, size) * np.fft.rfft(ir, size), size)[: len(clean)]
    active = np.repeat(speech_frames(audio), FRAME)
    voiced = wet[: len(active)][active] if active.any() else wet
    speech_power = float(np.mean(voiced**2)) if len(voiced) else 0.0
    noise = pink_noise(len(clean), rng) * np.sqrt(speech_power / 10.0 ** (room.snr_db / 10.0))
    mixed = wet + noise
    peak = float(np.max(np.abs(mixed))) if len(mixed) else 0.0
    if peak > 0.99:  # keep it inside a 16-bit file without clipping
        mixed *= 0.99 / peak
    return np.asarray(mixed, dtype=np.float32)


def conditions(room: Room | None, seeds: int = 1) -> list[tuple[str, Room | None]]:
    """The conditions a benchmark replays: clean, then through ``room`` if given, then
    through ``seeds - 1`` more renderings of the same room, the next seeds
    (``room_seed_N``): its impulse response's tail and its noise drawn again."""
    if room is None:
        return [("clean", None)]
    more = [replace(room, seed=room.seed + k) for k in range(1, max(1, seeds))]
    return [("clean", None), ("room", room), *((f"room_seed_{r.seed}", r) for r in more)]


def heard(audio: np.ndarray, room: Room | None) -> np.ndarray:
    """``audio`` as it is heard in a condition: as it is, or through ``room``."""
    return audio if room is None else render_room(audio, room)
