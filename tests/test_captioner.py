"""The real captioner: faster-whisper's base model on real recordings, replayed live."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.captions import CaptionEvent
from companion.config import CaptionerSettings, WhisperSettings
from companion.glossary import Glossary, Term, load_glossary
from companion.metrics import error_rate, final_text
from tests.conftest import REPO, data
from workers.captioner.audio import AudioSource
from workers.captioner.worker import Captioner, caption_source

pytestmark = pytest.mark.model

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
KO_WALK = "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"


def replay(
    engine: object, path: str, lang: str, speed: float = 1.0, glossary: Glossary | None = None
) -> list[CaptionEvent]:
    captioner = Captioner(
        engine,
        lang,
        lang,
        CaptionerSettings(),
        WhisperSettings(),  # type: ignore[arg-type]
        glossary,
        speed=speed,
    )
    events: list[CaptionEvent] = []
    caption_source(captioner, AudioSource(path, speed=speed), events.append)
    return events


def test_jfk_replayed_live_has_wer_at_most_5_percent(engine: object) -> None:
    events = replay(engine, data("jfk.flac"), "en", speed=1.0)
    metric, value = error_rate(JFK, final_text(events), "en")
    assert metric == "wer"
    assert value <= 0.05, final_text(events)
    assert any(not e.final and e.text for e in events), "no partial captions while speaking"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    finals = [e for e in events if e.final]
    assert all(e.lang == "en" and e.words for e in finals)
    for e in finals:
        assert e.start <= e.end <= 11.5
        assert all(e.start <= w.start <= w.end <= e.end + 0.01 for w in e.words)
        assert all(len(line) <= 42 for line in e.lines)
    assert finals[-1].end_of_utterance


def test_ko_walk_has_cer_at_most_25_percent(engine: object) -> None:
    events = replay(engine, data("ko_walk.wav"), "ko", speed=1.0)
    metric, value = error_rate(KO_WALK, final_text(events), "ko")
    assert metric == "cer"
    assert value <= 0.25, final_text(events)
    assert all(e.lang == "ko" for e in events)


def test_room_tone_gives_no_caption_at_all(engine: object) -> None:
    events = replay(engine, data("room_tone.wav"), "en", speed=1.0)
    assert events == []


def test_glossary_hotword_comes_out_right(engine: object, tmp_path: Path) -> None:
    glossary = Glossary((Term(ko="", en="ComfyUI", note="product"),))
    events = replay(engine, data("hotwords.mp3"), "en", speed=0.0, glossary=glossary)
    assert "ComfyUI" in final_text(events)


def test_shipped_glossary_does_not_harm_english(engine: object) -> None:
    glossary = load_glossary(REPO / "config" / "glossary.csv")
    events = replay(engine, data("jfk.flac"), "en", speed=0.0, glossary=glossary)
    assert error_rate(JFK, final_text(events), "en")[1] <= 0.05, final_text(events)


def test_korean_paragraph_streaming_close_to_offline(engine: object) -> None:
    """Streaming CER stays within 2 points of the same model offline."""
    from workers.captioner.audio import decode_file

    reference = (REPO / "tests" / "data" / "ko_para_3.txt").read_text(encoding="utf-8")
    path = data("ko_para_3.wav")
    events = replay(engine, path, "ko", speed=0.0)
    streaming = error_rate(reference, final_text(events), "ko")[1]
    segments, _ = engine.model.transcribe(
        decode_file(path),
        language="ko",
        beam_size=5,  # type: ignore[attr-defined]
        vad_filter=True,
    )
    offline = error_rate(reference, " ".join(s.text for s in segments), "ko")[1]
    assert streaming <= offline + 0.02, (streaming, offline, final_text(events))
