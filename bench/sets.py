"""The named benchmark sets: what the captioner is tuned on, and what it is judged on.

A setting chosen on a recording is never judged on that recording. The recordings in
``shared/data`` (and ``shared/data/dev``) are split once, here, by recording and for
English also by speaker, so that no voice of the test set was heard while tuning:

* ``en-tune``: the TeamViewer CFO's earnings call (spontaneous, German-accented), the
  two LibriSpeech 1272 clips (one of them telephone band) and the eight LJ Speech files
  (read non-fiction): 5.5 minutes.
* ``en-test``: the other earnings call (spontaneous, French-accented, fillers), the
  four parts of the 2008 radio address (prepared), LibriVox's *A Tale of Two Cities*
  and LibriSpeech 2412 (read): 4.1 minutes.
* ``en-test-short``: the radio address alone (2.2 minutes, part of ``en-test``), as long
  as ``ko-test``, for two channels captioned at once.
* ``ko-tune``: ``ko_para_2`` and ``ko_walk``; ``ko-test``: ``ko_para_1`` and ``ko_para_3``.
  Korean is thin (read speech only); the room rendering gives it a second condition.
* ``floor-tune`` and ``floor-test``: a floor that changes language at every part,
  Korean and English alternating, from the tuning and the test recordings respectively.

``build_sets`` writes each as ``NAME.wav``, ``NAME_room.wav`` (the same through the
simulated room) and ``NAME.json`` (the reference both share) with ``bench.compose``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from bench.compose import Part, compose
from bench.room import Room
from companion.errors import ConfigError

DEV = "dev/en"


@dataclass(frozen=True)
class BenchSet:
    name: str
    tuning: bool  # whether settings were chosen on it
    parts: tuple[tuple[str, str], ...]  # (language, file under the data folder)


def _en(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple(("en", f"{DEV}/en_{n}.wav") for n in names)


def _ko(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple(("ko", f"{n}.wav") for n in names)


LJ = tuple(
    f"ljspeech_LJ001-{a}"
    for a in (
        "0001-0005",
        "0006-0009",
        "0010-0013",
        "0014-0017",
        "0018-0020",
        "0021-0023",
        "0024-0028",
        "0029-0032",
    )
)

SETS: tuple[BenchSet, ...] = (
    BenchSet(
        "en-tune",
        True,
        _en(
            "earnings22_4483589_261_321",
            "librispeech_1272-141231-0002",
            "librispeech_1272-128104-0004_8k",
            *LJ,
        ),
    ),
    BenchSet(
        "en-test",
        False,
        _en(
            "earnings22_4482311_003_062",
            "bush_radio_20081101_p1",
            "bush_radio_20081101_p2",
            "bush_radio_20081101_p3",
            "bush_radio_20081101_p4",
            "librivox_two_cities_ch1",
            "librispeech_2412-153948-0000",
        ),
    ),
    BenchSet(
        "en-test-short",  # the radio address alone: as long as ko-test, for two channels
        False,
        _en(
            "bush_radio_20081101_p1",
            "bush_radio_20081101_p2",
            "bush_radio_20081101_p3",
            "bush_radio_20081101_p4",
        ),
    ),
    BenchSet("ko-tune", True, _ko("ko_para_2", "ko_walk")),
    BenchSet("ko-test", False, _ko("ko_para_1", "ko_para_3")),
    BenchSet(
        "floor-tune",
        True,
        _ko("ko_para_2")
        + _en("librispeech_1272-141231-0002")
        + _ko("ko_walk")
        + _en("ljspeech_LJ001-0001-0005"),
    ),
    BenchSet(
        "floor-test",
        False,
        _ko("ko_para_1")
        + _en("librispeech_2412-153948-0000")
        + _ko("ko_para_3")
        + _en("bush_radio_20081101_p2"),
    ),
)


def bench_set(name: str) -> BenchSet:
    for s in SETS:
        if s.name == name:
            return s
    raise ConfigError(f"no benchmark set '{name}' (known: {', '.join(s.name for s in SETS)})")


def transcripts(data: Path) -> dict[str, str]:
    """Reference text of every recording, keyed by its path under ``data``.

    English: ``dev/en/transcripts.tsv``; the rest: the "reference transcript" column
    of the tables in ``NOTICE.md``.
    """
    out: dict[str, str] = {}
    tsv = data / DEV / "transcripts.tsv"
    try:
        with tsv.open(encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) >= 2:
                    out[f"{DEV}/{row[0]}"] = row[1].strip()
        notice = (data / "NOTICE.md").read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the test data in {data}: {exc}") from None
    column = -1
    for line in notice.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if "reference transcript" in cells:
            column = cells.index("reference transcript")
        elif column >= 0 and len(cells) > column and cells[0].startswith("`"):
            out[cells[0].strip("`")] = cells[column]
    return out


def build_set(s: BenchSet, data: Path, out_dir: Path, room: Room | None, gap: float = 1.5) -> Path:
    """Compose one set into ``out_dir``; the path of its clean WAV."""
    texts = transcripts(data)
    parts = []
    for lang, rel in s.parts:
        if rel not in texts:
            raise ConfigError(f"no reference transcript for {rel} in {data}")
        parts.append(Part(lang, str(data / rel), texts[rel]))
    out = out_dir / f"{s.name}.wav"
    compose(parts, out, gap, room)
    return out
