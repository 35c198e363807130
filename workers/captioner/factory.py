"""Building captioners from an event config: the model, the glossary, the threads."""

from __future__ import annotations

import os
from pathlib import Path

from companion.config import EventConfig
from companion.errors import ConfigError, ModelError
from companion.glossary import Glossary, load_event_glossary
from workers.captioner.engine import WhisperEngine
from workers.captioner.model import default_cache_dir, resolve_model
from workers.captioner.worker import DECODE_THREADS, Captioner


def load_engine(config: EventConfig, channels: int = 1, progress: bool = True) -> WhisperEngine:
    """Resolve and load the configured model, sized for ``channels`` concurrent decoders."""
    w = config.whisper
    cache = Path(w.cache_dir) if w.cache_dir else default_cache_dir()
    path = resolve_model(
        config.resolve(w.model) if w.model not in ("base", "tiny.en") else w.model,
        cache,
        w.allow_download,
        progress,
    )
    # Each channel decodes a partial and a final at once (``DECODE_THREADS``), each on
    # its share of the cores. One thread per decode on two cores, not two: measured
    # with ``companion bench decode`` on ``ko-tune`` (twelfth session, AMD EPYC, int8),
    # a final of a 12 s window took 0.63 s on one thread and 1.04 s on two, of 6 s 0.28
    # and 0.46 s; a final beside a partial, one thread each, 0.74 and 0.32 s. (The time
    # is in the beam search: the encoder took 0.11 s on one thread or two.)
    decoders = DECODE_THREADS * max(1, channels)
    threads = w.cpu_threads or max(1, (os.cpu_count() or 1) // decoders)
    try:
        return WhisperEngine(
            path,
            device=w.device,
            compute_type=w.compute_type,
            cpu_threads=threads,
            num_workers=decoders,
            encoder_window=w.encoder_window,
            allow_download=w.allow_download,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot load Whisper model '{w.model}' ({path}): {exc}") from None


def build_captioner(
    config: EventConfig,
    engine: WhisperEngine,
    channel: str,
    lang: str,
    speed: float,
    glossary: Glossary | None = None,
) -> Captioner:
    """A captioner for one channel."""
    if lang != "en" and not engine.multilingual:
        raise ConfigError(
            f"channel '{channel}' is '{lang}' but model '{config.whisper.model}' is English-only"
        )
    # "auto" detects each utterance's language among those the floor may speak.
    languages = config.floor_languages() if lang == "auto" else ()
    return Captioner(
        engine,
        channel,
        lang,
        config.captioner_for(channel, lang),
        config.whisper,
        glossary if glossary is not None else load_event_glossary(config),
        speed=speed,
        languages=languages,
    )
