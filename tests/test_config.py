"""The event config: the shipped one loads; bad ones fail naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from companion.config import DEFAULT_CONFIG, load_config, parse_config, settings_table
from companion.errors import ConfigError
from companion.languages import WHISPER_LANGUAGES
from tests.support.paths import REPO

MINIMAL = '[[channels]]\nid = "en"\nlanguage = "en"\n'


def test_default_config_is_the_kosea_conference() -> None:
    config = load_config(DEFAULT_CONFIG, env={})
    assert [c.id for c in config.channels] == ["ko", "en"]
    assert [c.language for c in config.channels] == ["ko", "en"]
    assert config.whisper.model == "base"
    assert not config.whisper.allow_download
    for channel in config.channels:
        assert Path(config.resolve(channel.source)).is_file()
    assert Path(config.resolve(config.captioner.glossary)).is_file()


def test_environment_overrides_sources_and_model() -> None:
    config = load_config(
        DEFAULT_CONFIG,
        env={"COMPANION_SOURCE_KO": "srt://venue:9000", "COMPANION_MODEL": "tiny.en"},
    )
    assert config.channel("ko").source == "srt://venue:9000"
    assert config.resolve(config.channel("ko").source) == "srt://venue:9000"
    assert config.whisper.model == "tiny.en"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[whisper]\nmodle = "base"\n' + MINIMAL, "whisper.modle: unknown key"),
        (
            "[captioner]\nend_silence = -1\n" + MINIMAL,
            "captioner.end_silence: Input should be greater than 0",
        ),
        (
            '[whisper]\nbeam_size = "wide"\n' + MINIMAL,
            "whisper.beam_size: Input should be a valid integer",
        ),
        (
            '[[channels]]\nid = "ko"\nlanguage = "kr"\n',
            "channels[0].language: 'kr' is not a language",
        ),
        ("", "channels: Field required"),
        (MINIMAL + MINIMAL, "channel ids must be unique; repeated: en"),
        ('[[channels]]\nid = "Bad Id"\nlanguage = "en"\n', "channels[0].id: String should match"),
        ("[whisper\n", "not valid TOML"),
        (
            MINIMAL + 'youtube = { video_id = "https://youtu.be/x" }\n',
            "channels[0].youtube.video_id: String should match",
        ),
        (MINIMAL + "youtube = { vidoe_id = 'x' }\n", "channels[0].youtube.vidoe_id: unknown key"),
        ("[youtube]\nsearch_budget = -1\n" + MINIMAL, "youtube.search_budget: Input should be"),
        ("[youtube]\npoll_live = 120\n" + MINIMAL, "poll_live <= poll_near <= poll_far"),
    ],
)
def test_bad_config_gets_one_clear_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "event.toml", env={})
    assert message in str(info.value)
    assert str(info.value).startswith("event.toml")


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/no/such/event.toml", env={})


def test_unknown_channel_lists_the_known_ones() -> None:
    config = parse_config(MINIMAL, env={})
    with pytest.raises(ConfigError, match=r"no channel 'fr' in the config \(channels: en\)"):
        config.channel("fr")


def test_language_list_matches_faster_whisper() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(_LANGUAGE_CODES) == WHISPER_LANGUAGES


def test_every_setting_is_documented() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_\[\]]+(?:\.[a-z_\[\]]+)+)`", doc))
    keys = {key for key, _, _ in settings_table() if key != "channels[].base_dir"}
    assert keys - documented == set()


def test_policy_defaults_match_the_documented_settings() -> None:
    from dataclasses import fields

    from companion.config import CaptionerSettings
    from workers.captioner.policy import PolicySettings

    documented = CaptionerSettings()
    for f in fields(PolicySettings):
        if f.name in CaptionerSettings.model_fields:
            assert getattr(documented, f.name) == f.default, f.name


def test_channel_overrides_are_checked_and_applied() -> None:
    text = MINIMAL + "captioner = { end_silence = 1.0 }\n"
    config = parse_config(text, env={})
    assert config.captioner_for("en").end_silence == 1.0
    assert config.captioner_for("xx", "en").end_silence == 1.0
    assert config.captioner_for("xx", "ko").end_silence == config.captioner.end_silence
    with pytest.raises(ConfigError, match=r"channels\[0\]\.captioner\.end_silense: unknown key"):
        parse_config(MINIMAL + "captioner = { end_silense = 1.0 }\n", env={})


def test_searches_are_budgeted_apart_from_the_units() -> None:
    # search.list has its own bucket (100 calls a day): a budget of all of it fits any
    # daily_quota, and an old file's small search_budget still loads, as calls a day.
    text = "[youtube]\ndaily_quota = 100\nsearch_budget = 100\n" + MINIMAL
    youtube = parse_config(text, env={}).youtube
    assert (youtube.daily_quota, youtube.search_budget) == (100, 100)
    assert (
        parse_config("[youtube]\nsearch_budget = 3\n" + MINIMAL, env={}).youtube.search_budget == 3
    )
    assert load_config(DEFAULT_CONFIG, env={}).youtube.search_budget == 100


def test_youtube_settings_default_and_per_channel() -> None:
    config = load_config(DEFAULT_CONFIG, env={})
    assert config.youtube.daily_quota == 10_000 and config.youtube.track
    assert all(not c.youtube.video_id and c.youtube.post_captions for c in config.channels)
    text = MINIMAL + 'youtube = { channel_id = "UC0123456789abcdefghijkl", caption_delay = 3 }\n'
    channel = parse_config(text, env={}).channel("en")
    assert (channel.youtube.channel_id, channel.youtube.caption_delay) == (
        "UC0123456789abcdefghijkl",
        3.0,
    )
