"""The offline yardstick (``bench.captions.offline``): several draws of the real model.

``transcribe`` samples when it falls back to a higher temperature, at random, so one
offline run is one draw: the yardstick reports the median of several, their spread,
and the median draw's text.
"""

from __future__ import annotations

import pytest

from bench.captions import offline
from bench.room import Room, heard
from tests.support.paths import data
from workers.captioner.audio import decode_file

pytestmark = pytest.mark.model

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def test_the_offline_yardstick_is_the_median_of_its_draws(engine: object) -> None:
    # a far microphone in a loud room: where the fallback samples, and draws differ
    audio = heard(decode_file(data("jfk.flac")), Room(rt60=0.9, snr_db=3.0, seed=4))
    found = offline(engine, audio, "en", JFK, draws=3)
    values = found["draws"]
    assert len(values) == 3
    assert found["wer"] == sorted(values)[1]
    assert found["wer_spread"] == round(max(values) - min(values), 2)
    assert found["text"].strip(), "the median draw's text is kept"


def test_clean_speech_gives_the_same_draw_every_time(engine: object) -> None:
    found = offline(engine, decode_file(data("jfk.flac")), "en", JFK, draws=2)
    assert found["wer_spread"] == 0.0
    assert found["wer"] < 10.0, found["text"]
