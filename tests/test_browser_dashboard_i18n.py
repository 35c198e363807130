"""The organizer dashboard in Korean and English, in a real browser.

The scene of tests/support/pages_scene.py (the service in process, a running caption
poster whose YouTube is 12 s ahead, booths, captioners, broadcasts). A browser whose
language is Korean gets the dashboard in Korean: its static words, the tables the
refresh draws, the refusal of a wrong token, the test caption's answer and the clock
warning. Nothing of the page's own is left in English: the only Latin letters on the
board are the event's data (channel, booth and file names) and names such as YouTube
or NTP. The 한국어 / English button switches without a reload and is remembered, as the
viewer page's choice is (the two pages share it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import artifacts_dir, assert_not_blank, chromium, keep_on_loopback
from tests.support.pages_scene import ORG, Scene, event_scene

pytestmark = pytest.mark.browser

# What the Korean board may show in Latin letters: the event's data as the scene put it
# there (ids, names, a source, the service's own words: a tracker's note, an error), the
# file names of the downloads, and names.
DATA = ["backing off", "no audio yet", "Welcome", "floor.wav", "floor", "console",
        "booth-en", "booth-ko", "Kim", "ko", "en", "bilingual"]  # fmt: skip
NAMES = {"YouTube", "API", "HTTP", "seq", "NTP", "EVS", "ms", "srt", "vtt", "txt", "json",
         "html", "md"}  # fmt: skip

# Some of what the refresh draws, in Korean: a captioner's status, the broadcasts, the
# quota, a booth and the poster's clock warning.
SAID_ON_THE_BOARD = ["작동 중", "생중계", "예정 · 추적 일시 중지", "오늘의 YouTube API 할당량",
                     "없음", "아직 없음", "YouTube 시계가 이 컴퓨터보다 12.0초"]  # fmt: skip

# The text under a selector, each text node apart (buttons side by side stay apart).
TEXT = """
(selector) => {
  const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode.textContent);
  return texts.join(" ");
}
"""
# For each [data-i18n] element: its key and its text.
I18N_TEXTS = """
() => [...document.querySelectorAll("[data-i18n]")].map((e) => [e.dataset.i18n, e.textContent])
"""
WORDS_OF = """
async (ui) => {
  const { DASHBOARD_WORDS } = await import("/i18n.js");
  return Object.fromEntries(
    Object.entries(DASHBOARD_WORDS[ui]).filter(([, v]) => typeof v === "string"),
  );
}
"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with event_scene(tmp_path_factory.mktemp("dashboard-i18n")) as scene:
        yield scene


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def latin_words(text: str) -> set[str]:
    """The words in Latin letters in ``text``, less the scene's data and the names."""
    data = re.compile(rf"\b(?:{'|'.join(map(re.escape, DATA))})\b")
    return set(re.findall(r"[A-Za-z]+", data.sub(" ", text))) - NAMES


def assert_words(page: Page, ui: str) -> None:
    """Every translated element of the page shows the words of ``ui``."""
    expect(page.locator("html")).to_have_attribute("lang", ui)
    words = page.evaluate(WORDS_OF, ui)
    shown = page.evaluate(I18N_TEXTS)
    assert len(shown) > 30
    for key, text in shown:
        assert text == words[key], (key, text)


def test_the_dashboard_is_in_korean_and_switches_to_english(scene: Scene, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    keep_on_loopback(context)
    try:
        page = context.new_page()
        page.goto(f"{scene.url}/dashboard")
        expect(page.locator("#event-title")).to_have_text("운영자 대시보드 · 사회연대경제")
        assert_words(page, "ko")
        assert page.title() == "운영자 대시보드 · 사회연대경제"
        expect(page.locator("#ui-language")).to_have_text("English")
        assert page.get_attribute("#ui-language", "lang") == "en"

        page.fill("#token", "not-the-organizer-token")
        page.click("#signin button[type=submit]")
        expect(page.locator("#signin-error")).to_have_text("거부됨: 운영자 토큰이 아닙니다.")
        page.fill("#token", ORG)
        page.click("#signin button[type=submit]")
        button = page.get_by_role("button", name="시험 자막 보내기: 채널 en")
        button.click()
        trial = page.locator("#trial-en")
        expect(trial).to_contain_text("수락됨 (seq", timeout=20_000)  # YouTube's answer
        expect(trial).to_contain_text("시계 차이 +12")
        expect(trial).to_contain_text("빠릅니다 (10초 초과)")  # the clock warning
        page.locator("#sessions button").first.wait_for()
        board = page.evaluate(TEXT, "#board")
        for said in SAID_ON_THE_BOARD:
            assert said in board, said
        assert_words(page, "ko")
        english = latin_words(board)
        assert not english, f"English left on the Korean board: {sorted(english)}"
        shot = artifacts_dir() / "dashboard-ko.png"
        page.screenshot(path=str(shot), full_page=True)
        assert_not_blank(shot)

        page.click("#ui-language")  # no reload: the board is redrawn in English
        assert_words(page, "en")
        expect(page.locator("#captioner-floor")).to_have_text("alive")
        expect(page.locator("#quota")).to_contain_text("YouTube API quota today")
        expect(trial).to_contain_text("accepted (seq")
        expect(page.locator("#ui-language")).to_have_text("한국어")
        assert page.evaluate("localStorage.getItem('companion.ui')") == "en"
        page.reload()  # remembered; the token is kept for the tab
        page.locator("#posters button").wait_for()
        assert_words(page, "en")
        page.goto(f"{scene.url}/?lang=ko")  # the viewer page shares the choice
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.goto(f"{scene.url}/dashboard")
        page.click("#ui-language")
        assert_words(page, "ko")
        expect(page.locator("#captioner-floor")).to_have_text("작동 중")
    finally:
        context.close()


def test_an_english_browser_gets_english(scene: Scene, browser: Browser) -> None:
    context = browser.new_context(locale="en-US")
    keep_on_loopback(context)
    try:
        page = context.new_page()
        page.goto(f"{scene.url}/dashboard")
        expect(page.locator("#event-title")).to_have_text(
            "Organizer dashboard · Social and solidarity economy"
        )
        assert_words(page, "en")
        expect(page.locator("#ui-language")).to_have_text("한국어")
    finally:
        context.close()
