"""Shared fixtures: an archive directory, one real Whisper base model per session, and
private redis-servers (``redis_server`` per module, ``outage_server`` per test).

Helpers the tests import live in ``tests/support/``; no test imports another test module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session", autouse=True)
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Services the tests start archive transcripts here, never in the home directory."""
    path = tmp_path_factory.mktemp("archive")
    before = os.environ.get("COMPANION_ARCHIVE_DIR")
    os.environ["COMPANION_ARCHIVE_DIR"] = str(path)
    yield path
    if before is None:
        del os.environ["COMPANION_ARCHIVE_DIR"]
    else:
        os.environ["COMPANION_ARCHIVE_DIR"] = before


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache shared by the session: the base model is joined into it once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def base_model_dir(model_cache: Path) -> str:
    from workers.captioner.model import prepare_base

    return str(prepare_base(model_cache, progress=False))


@pytest.fixture(scope="session")
def engine(base_model_dir: str) -> Iterator[object]:
    from workers.captioner.engine import WhisperEngine

    # as the captioner's factory makes it on two cores: a partial and a final at once,
    # one thread each (workers/captioner/factory.py)
    yield WhisperEngine(base_model_dir, cpu_threads=1, num_workers=2)


@pytest.fixture
def env(model_cache: Path) -> dict[str, str]:
    """A clean environment for config loading that points at the session's cache."""
    return {"COMPANION_CACHE_DIR": str(model_cache)}


# scripts/test installs redis-server; without it the Redis tests fail, they are not skipped.
@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port, shared by a module's tests (each test
    keeps to a namespace of its own)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def outage_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own: it may be stopped, killed and started again."""
    with RedisServer() as server:
        yield server
