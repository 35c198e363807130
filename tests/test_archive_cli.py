"""``companion export`` and ``companion bench archive``, in process; the archive settings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pysubs2
import pytest
from click.testing import CliRunner

from cli import main
from companion.config import parse_config
from companion.errors import ConfigError
from companion.transcripts.archive import TranscriptArchive, archive_root
from tests.support.archive_config import archive_config, config_text, final
from workers.archiver.store import CaptionStore, Pending


def archived(tmp_path: Path) -> Path:
    """A config file whose archive holds two captions per channel in 'morning'.

    The commands below see ``COMPANION_ARCHIVE_DIR`` (conftest sets one for the whole
    session), so they are given this archive's directory that way too.
    """
    path = tmp_path / "event.toml"
    path.write_text(config_text(tmp_path / "archive"))
    config = parse_config(path.read_text(), env={})
    store = CaptionStore(TranscriptArchive(config, archive_root(config)).files)
    items = [
        Pending(replace(final(ch, text), seq=seq), "ep", "morning", 0.0)
        for ch, seq, text in [
            ("en", 1, "Welcome to the conference."),
            ("ko", 1, "학술대회에 오신 것을 환영합니다."),
            ("en", 2, "Let us begin."),
            ("ko", 2, "시작하겠습니다."),
        ]
    ]
    store.write(items)
    store.close()
    return path


def env(tmp_path: Path) -> dict[str, str | None]:
    return {"COMPANION_ARCHIVE_DIR": str(tmp_path / "archive")}


def test_export_writes_one_transcript_to_stdout(tmp_path: Path) -> None:
    config = archived(tmp_path)
    result = CliRunner(env=env(tmp_path)).invoke(
        main, ["export", "morning", "--lang", "en", "--format", "srt", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    subs = pysubs2.SSAFile.from_string(result.stdout, format_="srt")
    assert [e.plaintext for e in subs] == ["Welcome to the conference.", "Let us begin."]


def test_export_writes_every_transcript_into_a_directory(tmp_path: Path) -> None:
    config = archived(tmp_path)
    out = tmp_path / "out"
    result = CliRunner(env=env(tmp_path)).invoke(
        main, ["export", "--out", str(out), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name.split(".", 1)[1] for p in out.iterdir() if "-morning." in p.name)
    assert names == [
        "bilingual.html", "bilingual.md", "en.json", "en.srt", "en.txt", "en.vtt",
        "ko.json", "ko.srt", "ko.txt", "ko.vtt",
    ]  # fmt: skip
    assert len(list(out.iterdir())) == 20  # morning and afternoon; nothing unscheduled
    data = json.loads(next(out.glob("*-morning.ko.json")).read_text())
    assert [c["text"] for c in data["captions"]] == [
        "학술대회에 오신 것을 환영합니다.",
        "시작하겠습니다.",
    ]


def test_export_names_what_is_wrong(tmp_path: Path) -> None:
    config = archived(tmp_path)
    result = CliRunner().invoke(
        main, ["export", "evening", "--lang", "en", "--format", "srt", "--config", str(config)]
    )
    assert result.exit_code == 1 and "no session 'evening'" in result.output
    result = CliRunner().invoke(main, ["export", "morning", "--config", str(config)])
    assert result.exit_code == 2 and "--out DIR" in result.output


def test_bench_archive_prints_its_figures() -> None:
    result = CliRunner().invoke(main, ["bench", "archive", "--captions", "600", "--rate", "2000"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stored"] == report["captions"] == 600
    assert report["throughput"] > 0 and report["writes"] >= 1
    assert 0 < report["lag_ms"]["p50"] <= report["lag_ms"]["p99"] <= report["lag_ms"]["max"]
    assert set(report["meets"]) == {"throughput", "p99"}


def test_archive_settings_and_the_programme_are_checked(tmp_path: Path) -> None:
    config = archive_config(tmp_path)
    assert archive_root(config) == tmp_path
    env_config = parse_config(config_text(Path("x")), env={"COMPANION_ARCHIVE_DIR": "/srv/a"})
    assert env_config.archive.directory == "/srv/a"
    assert archive_root(parse_config('[[channels]]\nid="en"\nlanguage="en"\n', env={}), env={
        "HOME": "/home/x", "XDG_DATA_HOME": "/data"
    }) == Path("/data/companion/archive")  # fmt: skip
    base = '[[channels]]\nid = "en"\nlanguage = "en"\n'
    s = '[[sessions]]\nid = "{}"\nstart = {}\nend = {}\n'
    a = s.format("a", "2026-12-10T10:00:00+09:00", "2026-12-10T11:00:00+09:00")
    bad = [
        (s.format("b", "2026-12-10T11:00:00+09:00", "2026-12-10T10:00:00+09:00"), "must end after"),
        (
            a + s.format("b", "2026-12-10T10:30:00+09:00", "2026-12-10T12:00:00+09:00"),
            "starts before 'a' ends",
        ),
        (a + s.format("a", "2026-12-10T11:00:00+09:00", "2026-12-10T12:00:00+09:00"), "unique"),
        (s.format("c", "2026-12-10T10:00:00", "2026-12-10T11:00:00+09:00"), "timezone"),
        ('[archive]\ndownloads = "everyone"\n', "archive.downloads"),
    ]
    for text, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config(base + text, env={})
