"""The pages' routes in process (no browser): the dashboard, /api/event, the captioners.

The pages themselves are tested in a real browser by tests/test_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from companion.bus.memory import MemoryBus
from companion.config import EventConfig, parse_config
from service.app import create_app
from service.auth import Tokens
from service.pages import captioner_details, event_document
from service.settings import ServiceSettings
from tests.support.paths import REPO

ORG = "o" * 20
WEB = REPO / "web"


def config(tmp_path: Path) -> EventConfig:
    text = f"""
[event]
id = "pages"
title = "Pages"
title_ko = "페이지"
[archive]
directory = "{tmp_path / "archive"}"
[[channels]]
id = "ko"
language = "ko"
name = "한국어"
source = "secret://ko-feed"
youtube = {{ viewer_delay = 4.5 }}
[[channels]]
id = "en"
language = "en"
"""
    return parse_config(text, str(tmp_path / "event.toml"), env={})


def test_the_event_document_gives_names_and_delays_but_no_source(tmp_path: Path) -> None:
    doc = event_document(("ko", "en"), config(tmp_path))
    assert doc["event"] == {"id": "pages", "title": "Pages", "title_ko": "페이지"}
    assert doc["channels"][0] == {
        "id": "ko",
        "language": "ko",
        "name": "한국어",
        "caption_delay": 4.5,
    }
    assert doc["channels"][1]["caption_delay"] == 0.0
    assert "secret" not in repr(doc)
    bare = event_document(("en",), None)
    assert bare["channels"] == [{"id": "en", "language": "en", "name": "", "caption_delay": 0.0}]
    assert (bare["delivery"], bare["segment_seconds"]) == ("auto", 2.0)


def test_the_event_document_says_how_captions_reach_the_page(tmp_path: Path) -> None:
    doc = event_document(("ko", "en"), config(tmp_path), "segments", 0.5)
    assert (doc["delivery"], doc["segment_seconds"]) == ("segments", 0.5)
    with pytest.raises(ValidationError):
        ServiceSettings(channels=("en",), delivery="carrier-pigeon")  # type: ignore[arg-type]


def test_the_captioners_are_the_floor_and_booths_or_the_channels(tmp_path: Path) -> None:
    assert [c.id for c in config(tmp_path).captioners()] == ["ko", "en"]
    floor = parse_config(
        '[floor]\nsource = "floor.wav"\n[[channels]]\nid = "ko"\nlanguage = "ko"\n'
        '[[booths]]\nid = "booth-ko"\nchannel = "ko"\nsource = "b.wav"\n'
        'interpreters = [{ id = "park" }]\n',
        str(tmp_path / "floor.toml"),
        env={},
    )
    specs = floor.captioners()
    assert [(c.id, c.language, c.kind) for c in specs] == [
        ("floor", "auto", "floor"),
        ("booth-ko", "ko", "booth"),
    ]
    assert specs[0].source == floor.resolve("floor.wav")  # resolved as the config says
    assert floor.captioner_spec("ko").kind == "channel"  # run on its own by a worker


def test_captioner_details_add_the_last_caption_and_counts() -> None:
    state = {
        "captioner:floor": {
            "alive": True,
            "updated": 100.0,
            "source": "srt://venue",
            "real_time_factor": 0.2,
            "lag_seconds": 0.4,
            "error": "",
            "finals": 7,
            "partials": 30,
            "last_caption": {"text": "Welcome", "final": True, "at": 98.0},
        },
        "captioner:ko": {"alive": False, "error": "cannot open", "updated": 50.0},
    }
    report = captioner_details(state, ["ko", "en"], now=101.0)
    assert report["floor"]["status"] == "alive"
    assert report["floor"]["last_caption"] == {"text": "Welcome", "final": True, "age_seconds": 3.0}
    assert (report["floor"]["finals"], report["floor"]["partials"]) == (7, 30)
    assert report["ko"]["status"] == "stopped" and report["ko"]["last_caption"] is None
    assert report["en"]["status"] == "missing"


async def test_the_routes_refuse_without_the_organizer_token(tmp_path: Path) -> None:
    bus = MemoryBus()
    app = create_app(
        ServiceSettings(channels=("ko", "en")),
        bus,
        tokens=Tokens(organizer=ORG),
        config=config(tmp_path),
    )
    async with TestClient(TestServer(app)) as client:
        async with client.get("/dashboard") as r:
            assert r.status == 200 and "Organizer dashboard" in await r.text()
        async with client.get("/api/event") as r:
            assert (await r.json())["channels"][0]["name"] == "한국어"
        async with client.get("/api/admin/captioners") as r:
            assert r.status == 401 and (await r.json())["error"] == "token_required"
        wrong = {"Authorization": "Bearer " + "x" * 20}
        async with client.get("/api/admin/captioners", headers=wrong) as r:
            assert r.status == 403 and (await r.json())["error"] == "token_refused"
        await bus.set_state("captioner:ko", {"alive": True, "updated": 1e12, "source": "s"})
        right = {"Authorization": f"Bearer {ORG}"}
        async with client.get("/api/admin/captioners", headers=right) as r:
            body = await r.json()
            assert r.status == 200 and set(body["captioners"]) == {"ko", "en"}
        for name, kind in [("viewer.js", "javascript"), ("pages.css", "text/css")]:
            async with client.get(f"/{name}") as r:
                assert r.status == 200 and kind in r.headers["Content-Type"]


def _keys(block: str) -> set[str]:
    return set(re.findall(r"^    (\w+):", block, flags=re.MULTILINE))


def _tables() -> dict[str, tuple[set[str], set[str]]]:
    """i18n.js's tables by name: the keys of their English and Korean words."""
    source = (WEB / "i18n.js").read_text(encoding="utf-8")
    tables = {}
    for name, body in re.findall(r"^export const (\w+) = \{$(.*?)^\};$", source, re.M | re.S):
        en_block, ko_block = re.split(r"^  ko: \{$", body.split("  en: {", 1)[1], flags=re.M)
        tables[name] = (_keys(en_block), _keys(ko_block))
    return tables


@pytest.mark.parametrize(
    ("table", "page", "scripts"),
    [
        ("WORDS", "index.html", ["viewer.js"]),
        ("DASHBOARD_WORDS", "dashboard.html", ["dashboard.js"]),
        ("CONSOLE_WORDS", "console.html", ["console.js", "console-mic.js"]),
    ],
)
def test_the_page_has_every_word_in_korean_and_english(
    table: str, page: str, scripts: list[str]
) -> None:
    en, ko = _tables()[table]
    assert en == ko and len(en) > 30, en ^ ko
    html = (WEB / page).read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-label|-title)?="(\w+)"', html))
    assert len(used) > 10 and used <= en, used - en
    for script in scripts:
        text = (WEB / script).read_text(encoding="utf-8")
        assert 'from "./i18n.js"' in text, f"{script} does not take its words from i18n.js"
        said = set(re.findall(r"\bw(?:ords\(\))?\.(\w+)", text))
        assert len(said) > 5 and said <= en, said - en  # every word the script asks for exists


# The console's controls and headings, which the interpreters' guide names in bold.
GUIDE_NAMES = ["token", "signIn", "goLive", "handOver", "askToTakeOver", "accept", "decline",
               "cancel", "takeOver", "signOff", "cough", "mute", "unmute", "listeningTo",
               "floorSpeaks", "carries", "mic", "shift", "floorLanguage", "evs", "floorPane",
               "ownPane", "terms", "log"]  # fmt: skip


def test_the_interpreters_guide_names_the_consoles_words_in_both_languages() -> None:
    """docs/interpreters.md names each control as the console shows it, in each language."""
    source = (WEB / "i18n.js").read_text(encoding="utf-8")
    table = source.split("export const CONSOLE_WORDS = {", 1)[1]
    en_block, ko_block = re.split(r"^  ko: \{$", table, maxsplit=1, flags=re.M)
    guide = (REPO / "docs" / "interpreters.md").read_text(encoding="utf-8")
    english, korean = guide.split("\n## 한국어\n", 1)
    for block, section in ((en_block, english.split("\n## English\n", 1)[1]), (ko_block, korean)):
        words = dict(re.findall(r'^    (\w+): "([^"]*)",$', block, flags=re.M))
        missing = [f"{k}: {words[k]}" for k in GUIDE_NAMES if f"**{words[k]}**" not in section]
        assert not missing, f"docs/interpreters.md does not name {missing}"
