"""Captioners as long-running tasks that publish to the bus.

``caption_channel`` captions one channel's source for as long as it runs: in a
worker thread (decoding never blocks the event loop), publishing every event to the
bus, and publishing its own health (``captioner:<channel>`` in the event state)
every few seconds and on every change of fortune. A live source that fails is
reopened with backoff; a recording ends, or with ``loop`` starts again (the demo).
A booth's ``console`` source is not opened: its audio is what the live interpreter's
console sends to the service, relayed from the bus (``Bus.follow_audio``) into a
``PushSource`` of the captioner's own (``companion/push.py``), in this process or in
``companion worker caption --booth`` on another machine.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from companion.aio import running
from companion.bus.base import Bus
from companion.captions import CaptionEvent
from companion.config import CONSOLE_SOURCE, CaptionerSpec, EventConfig
from companion.errors import SourceError
from companion.push import PushSource, relay
from companion.redact import redact_source, redact_text
from workers.captioner.audio import SAMPLE_RATE, AudioSource
from workers.captioner.routing import Router
from workers.captioner.worker import Captioner

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0


def _chunks(
    spec: str,
    speed: float,
    loop: bool,
    stop: threading.Event,
    pushed: PushSource | None = None,
) -> Iterator[np.ndarray]:
    """Chunks of the source; reopened after a failure (live) or at the end (``loop``).

    With ``pushed`` (a ``console`` spec) it reads that instead, until it is closed or
    ``stop`` is set.
    """
    if pushed is not None:
        for chunk in pushed.chunks():
            if stop.is_set():
                return
            yield chunk
        return
    delay = 0.5
    gap = np.zeros(SAMPLE_RATE // 10, dtype=np.float32)
    while not stop.is_set():
        source = None
        try:
            source = AudioSource(spec, speed=speed)
            delay = 0.5
            for chunk in source.chunks():
                if stop.is_set():
                    return
                yield chunk
            if not (loop or source.spec.live):
                return
            for _ in range(15):  # 1.5 s of silence between two plays of a recording
                yield gap
                time.sleep(0.1 / max(speed, 1e-3) if speed > 0 else 0)
        except SourceError as exc:
            if source is None and not (loop or _looks_live(spec)):
                raise
            log.warning(
                "source %s failed (%s); reopening in %.1f s", redact_source(spec), exc, delay
            )
            stop.wait(delay * (1 + random.random() / 2))
            delay = min(delay * 2, 30.0)
        finally:
            if source is not None:
                source.close()


def _looks_live(spec: str) -> bool:
    from workers.captioner.audio import parse_source

    try:
        return parse_source(spec).live
    except SourceError:
        return False


async def caption_channel(
    captioner: Captioner,
    spec: str,
    bus: Bus,
    speed: float = 1.0,
    loop: bool = False,
    router: Router | None = None,
) -> None:
    """Caption ``spec`` into ``bus`` until cancelled (or until a recording ends).

    Without ``router`` every event goes to the captioner's channel; with one (the
    floor's or a booth's captioner) each goes to the channels the router names, with
    its ``source`` set, and the floor's language is published when it changes.
    A ``console`` spec hears the microphone frames the bus carries for the booth
    (the captioner's id), from the moment it starts.
    """
    event_loop = asyncio.get_running_loop()
    stop = threading.Event()
    key = f"captioner:{captioner.channel}"
    status: dict[str, Any] = {
        "channel": captioner.channel,
        "source": redact_source(spec),  # the event state is read by the dashboard
        "alive": True,
        "error": "",
        "last_caption": None,
    }

    async def publish(event: CaptionEvent) -> None:
        if router is None:
            await bus.publish(event)
            return
        for channel in router.targets(event):
            await bus.publish(replace(event, channel=channel, source=router.source))
        floor = router.heard(event)
        if floor is not None:
            await bus.set_state("floor", floor)

    def emit(event: CaptionEvent) -> None:
        status["last_caption"] = {"text": event.text, "final": event.final, "at": time.time()}
        coroutine = publish(event)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, event_loop)
        except RuntimeError:  # the loop has closed: the service is stopping
            coroutine.close()
            log.info("%s: event %d not published: shutting down", captioner.channel, event.seq)
            return
        try:
            future.result(timeout=30)
        except Exception as exc:  # the loop is closing or the bus refused: say so, go on
            status["error"] = f"publish failed: {type(exc).__name__}"
            log.error("%s: event %d not published: %r", captioner.channel, event.seq, exc)

    pushed = PushSource(captioner.channel) if spec == CONSOLE_SOURCE else None

    def work() -> None:
        captioner.run(_chunks(spec, speed, loop, stop, pushed), emit, paced=True)

    async def heartbeat() -> None:
        while True:
            stats = captioner.stats
            await bus.set_state(
                key,
                {
                    **status,
                    "updated": time.time(),
                    "real_time_factor": round(stats.real_time_factor, 3),
                    "lag_seconds": round(stats.backlog_seconds, 2),
                    "finals": stats.finals,
                    "partials": stats.partials,
                },
            )
            await asyncio.sleep(HEARTBEAT_SECONDS)

    background = [heartbeat(), *([router.follow()] if router is not None else [])]
    if pushed is not None:
        background.append(relay(bus, captioner.channel, pushed))
    try:
        async with running(*background, name=f"captioner-{captioner.channel}"):
            try:
                await asyncio.to_thread(work)
            finally:
                stop.set()
                if pushed is not None:
                    pushed.close()
    except SourceError as exc:
        status.update(alive=False, error=redact_text(str(exc)))
        log.error("captioner %s stopped: %s", captioner.channel, exc)
        raise
    finally:
        status["alive"] = False
        await bus.set_state(key, {**status, "updated": time.time()})


async def run_captioners(
    config: EventConfig,
    bus: Bus,
    specs: Sequence[CaptionerSpec],
    *,
    loop: bool = False,
) -> None:
    """Run the captioners ``specs`` (one engine shared) into ``bus`` until cancelled.

    With a floor source, each is routed (``Router``): its captions go to the channels
    that carry it. ``companion serve`` runs every captioner of the event this way.
    """
    from companion.glossary import load_event_glossary
    from workers.captioner.factory import build_captioner, load_engine

    engine = await asyncio.to_thread(load_engine, config, len(specs), False)
    glossary = load_event_glossary(config)
    routed = bool(config.floor.source)
    captioners = []
    for spec in specs:
        router = await Router.start(spec.id, bus) if routed else None
        captioner = build_captioner(config, engine, spec.id, spec.language, 1.0, glossary)
        captioners.append(
            caption_channel(captioner, spec.source, bus, speed=1.0, loop=loop, router=router)
        )
    async with running(*captioners, name="captioner"):  # one failing: logged, the rest go on
        await asyncio.Event().wait()
