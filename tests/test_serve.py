"""End to end: `companion serve` captions jfk.flac live into `en`; real viewers read it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO, data
from tests.support.serve_process import serve_process

pytestmark = [pytest.mark.model, pytest.mark.slow]  # `companion serve` subprocesses


@pytest.fixture
def server(tmp_path: Path, base_model_dir: str, model_cache: Path) -> Iterator[str]:
    config = (
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[[channels]]\nid = "en"\nlanguage = "en"\nsource = "{data("jfk.flac")}"\n'
    )
    with serve_process(tmp_path, config, model_cache) as url:
        yield url.replace("http", "ws") + "/ws/viewer"


async def collect(
    url: str, resume: int | None = None, stop_after_finals: int = 0, quiet: float = 6.0
) -> list[dict[str, object]]:
    """Caption messages until ``quiet`` seconds pass with none (or N finals seen)."""
    import websockets

    got: list[dict[str, object]] = []
    async with websockets.connect(url) as ws:
        hello: dict[str, object] = {"type": "hello", "v": 1, "channel": "en"}
        if resume is not None:
            hello["resume"] = resume
        await ws.send(json.dumps(hello))
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=quiet if got else 60)
            except TimeoutError:
                return got
            message = json.loads(raw)
            if message["type"] != "caption":
                continue
            got.append(message)
            finals = [m for m in got if m["final"]]
            if stop_after_finals and len(finals) >= stop_after_finals:
                return got


def test_viewers_get_partials_then_finals_and_resume_loses_nothing(server: str) -> None:
    async def scenario() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        whole = asyncio.create_task(collect(server))
        first = await collect(server, stop_after_finals=2)
        last_seq = max(int(m["seq"]) for m in first)  # type: ignore[call-overload]
        await asyncio.sleep(1.5)  # away while captions go on
        rest = await collect(server, resume=last_seq)
        return await whole, first + rest

    whole, resumed = asyncio.run(scenario())
    seqs = [int(m["seq"]) for m in whole]  # type: ignore[call-overload]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert any(not m["final"] for m in whole), "no partial captions"
    finals = [(m["seq"], m["text"]) for m in whole if m["final"]]
    text = " ".join(str(t) for _, t in finals).lower()
    assert "fellow americans" in text and "your country" in text
    resumed_finals = [(m["seq"], m["text"]) for m in resumed if m["final"]]
    assert resumed_finals == finals  # every final exactly once, in order, no gap
