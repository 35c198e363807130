"""The interpreter console in Korean and English, in a real browser.

The scene of tests/support/pages_scene.py (the service in process; kim is live in
booth-en, whose source is the console's microphone), the page under its own
Content-Security-Policy, and chromium's fake microphone. A browser whose language is
Korean gets the console in Korean: the sign-in and its refusal of a wrong token, the
on-air indicator, a pending handover, mute, a relay, what the channel carries, the
floor's language set by hand, the microphone's status, the ear-voice span and the
booth log. Nothing of the page's own is left in English: the only Latin letters are
the event's data (booth and channel ids, names) and text marked as another language
(captions, the prompter's terms in the English booth's language). The 한국어 / English
button switches without a reload, and the choice holds on the viewer page and back.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from companion.captions import CaptionEvent
from tests.support.browser import artifacts_dir, assert_not_blank, chromium, keep_on_loopback
from tests.support.pages_scene import KIM, Scene, event_scene
from tests.support.paths import REPO

pytestmark = pytest.mark.browser

# What the Korean console may show in Latin letters: the scene's ids and names, EVS (the
# ear-voice span's usual abbreviation, beside its Korean name) and the glossary's
# English terms and notes, the event's data (a Korean caption may say "ILO", and the
# prompter shows what it heard with the term's note: "협동조합 · term").
DATA = ["booth-en", "booth-ko", "Kim", "Lee", "en"]
with (REPO / "config" / "glossary.csv").open(encoding="utf-8") as rows:
    GLOSSARY = {
        word
        for row in csv.DictReader(rows)
        for word in re.findall(r"[A-Za-z]+", f"{row['en']} {row['note']}")
    }
NAMES = {"EVS"} | GLOSSARY

# Every text node, aria-label, title and placeholder of the page, hidden ones too, less
# what is marked as another language than the page's (captions, the prompter's terms,
# the language button's own name).
PAGE_TEXT = """
() => {
  const page = document.documentElement.lang;
  const ours = (el) => !el.closest("[lang]") || el.closest("[lang]").lang === page;
  const texts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent.closest("script, style") || !ours(parent)) continue;
    texts.push(walker.currentNode.textContent);
  }
  for (const el of document.body.querySelectorAll("[aria-label], [title], [placeholder]")) {
    if (!ours(el)) continue;
    texts.push(el.getAttribute("aria-label") || "", el.title, el.getAttribute("placeholder") || "");
  }
  return texts.join(" ");
}
"""
# For each element with a word of the table: [key, what it shows].
SHOWN_WORDS = """
() => [
  ...[...document.querySelectorAll("[data-i18n]")].map((e) => [e.dataset.i18n, e.textContent]),
  ...[...document.querySelectorAll("[data-i18n-label]")].map(
    (e) => [e.dataset.i18nLabel, e.getAttribute("aria-label")]),
  ...[...document.querySelectorAll("[data-i18n-title]")].map((e) => [e.dataset.i18nTitle, e.title]),
]
"""
WORDS_OF = """
async (ui) => {
  const { CONSOLE_WORDS } = await import("/i18n.js");
  return Object.fromEntries(
    Object.entries(CONSOLE_WORDS[ui]).filter(([, v]) => typeof v === "string"),
  );
}
"""
# Each word's path and kind (a string, a function, a table), in both languages: the
# nested tables (the booth log's actions, the microphone's refusals) included.
SHAPES = """
async () => {
  const { CONSOLE_WORDS } = await import("/i18n.js");
  const shape = (words, path = "") => Object.entries(words).flatMap(([key, value]) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? shape(value, `${path}${key}.`)
      : [`${path}${key}: ${typeof value}`]);
  return { en: shape(CONSOLE_WORDS.en).sort(), ko: shape(CONSOLE_WORDS.ko).sort() };
}
"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with event_scene(tmp_path_factory.mktemp("console-i18n")) as scene:
        yield scene


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # A fake microphone, granted without asking (the context's "microphone" permission).
    with chromium(
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"
    ) as browser:
        yield browser


def console_in(browser: Browser, locale: str) -> BrowserContext:
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, locale=locale, permissions=["microphone"]
    )
    keep_on_loopback(context)
    return context


def caption(channel: str, text: str, lang: str, source: str, at: float) -> CaptionEvent:
    return CaptionEvent(channel, 0, True, text, lang, 0.0, 1.0, 1.0, 0, True, at=at, source=source)


def latin_words(text: str) -> set[str]:
    """The words in Latin letters in ``text``, less the scene's data and the names."""
    data = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, DATA))})(?![\w-])")
    return set(re.findall(r"[A-Za-z]+", data.sub(" ", text))) - NAMES


def assert_words(page: Page, ui: str) -> None:
    """Every element with a word of the table shows the word of ``ui``."""
    expect(page.locator("html")).to_have_attribute("lang", ui)
    words = page.evaluate(WORDS_OF, ui)
    shown = page.evaluate(SHOWN_WORDS)
    assert len(shown) > 25
    for key, text in shown:
        assert text == words[key], (key, text)
    assert page.title() == words["title"]


def sign_in(page: Page, token: str) -> None:
    page.fill("#token", token)
    page.click("#login button[type=submit]")


def test_the_console_is_in_korean_and_switches_to_english(scene: Scene, browser: Browser) -> None:
    context = console_in(browser, "ko-KR")
    try:
        page = context.new_page()
        page.goto(f"{scene.url}/console")
        assert_words(page, "ko")
        expect(page.locator("#ui-language")).to_have_text("English")
        assert page.get_attribute("#ui-language", "lang") == "en"
        sign_in(page, "not-kim-0123456789")
        expect(page.locator("#loginerror")).to_have_text(
            "토큰이 거부되었습니다. 확인한 뒤 다시 로그인하세요."
        )
        sign_in(page, KIM)
        onair = page.locator("#onair")
        expect(onair).to_have_text("내가 방송 중")

        # The floor (in Korean, on channel ko) and booth-en say a number and a term: the
        # prompter shows them in English (booth-en's language), and the ear-voice span is
        # measured.
        now = time.time()
        scene.publish(
            caption("ko", "ILO는 1500개의 협동조합을 셌습니다.", "ko", "floor", now - 2),
            caption("en", "The ILO counted 1500 cooperatives.", "en", "booth-en", now),
        )
        page.locator("#terms li").nth(1).wait_for()
        expect(page.locator("#evs")).to_have_text(re.compile(r"^\d+\.\d초$"))
        expect(page.locator("#evsdetail")).to_have_text(re.compile(r"^Kim · 기준점 \d+개$"))

        # What the interpreter does, by the Korean names of the controls.
        page.get_by_role("button", name="교대 요청").click()
        expect(page.locator("#request")).to_have_text("Lee 님의 교대 응답을 기다리는 중…")
        expect(page.get_by_role("button", name="요청 취소")).to_be_visible()
        page.get_by_role("button", name="음소거", exact=True).click()
        expect(onair).to_have_text("음소거 · Kim")
        expect(page.locator("#mute")).to_have_text("음소거 해제")
        page.get_by_label("듣는 음성").select_option(label="릴레이: booth-ko")
        page.get_by_label("채널 송출").select_option(label="연단")
        page.get_by_label("연단 언어 지정").select_option(label="영어")
        expect(page.locator("#floorlang")).to_have_text("영어")
        expect(page.locator("#carries")).to_have_text("연단")
        page.get_by_role("button", name="내 마이크 보내기").click()
        expect(page.locator("#mic-status")).to_have_text("마이크 소리를 보내는 중입니다.")
        log = page.locator("#log")
        for said in ["Kim: 방송 시작", "Kim: 교대 요청 Kim → Lee", "Kim: 음소거 켬",
                     "Kim: 듣는 음성 릴레이: booth-ko", "Kim: 채널 송출 연단"]:  # fmt: skip
            expect(log).to_contain_text(said)
        expect(log.locator("li").first).to_have_text(re.compile(r"^오[전후] "))  # the time

        assert_words(page, "ko")
        english = latin_words(page.evaluate(PAGE_TEXT))
        assert not english, f"English left on the Korean console: {sorted(english)}"
        shot = artifacts_dir() / "console-ko.png"
        page.screenshot(path=str(shot), full_page=True)
        assert_not_blank(shot)

        page.evaluate("window.__sameDocument = true")
        page.click("#ui-language")  # no reload: everything is said again in English
        assert_words(page, "en")
        assert page.evaluate("window.__sameDocument") is True
        expect(onair).to_have_text("MUTED · Kim")
        expect(page.locator("#request")).to_have_text("Waiting for Lee to answer your handover…")
        expect(page.locator("#mute")).to_have_text("Unmute")
        expect(page.locator("#floorlang")).to_have_text("English")
        expect(page.locator("#listening option:checked")).to_have_text("relay: booth-ko")
        expect(page.locator("#mic-status")).to_have_text("Sending your microphone.")
        expect(page.locator("#evsdetail")).to_have_text(re.compile(r"^Kim · \d+ anchors?$"))
        expect(log).to_contain_text("Kim: request handover Kim → Lee")
        expect(log).to_contain_text("Kim: mute on")
        expect(page.locator("#ui-language")).to_have_text("한국어")
        assert page.evaluate("localStorage.getItem('companion.ui')") == "en"

        # Put the booth back as the scene had it: the request cancelled, unmuted.
        page.get_by_role("button", name="Cancel request").click()
        page.get_by_role("button", name="Unmute").click()
        page.get_by_label("Channel carries").select_option("auto")
        page.get_by_role("button", name="Send my microphone").click()
        expect(page.locator("#mic-status")).to_have_text("Your microphone is not sent.")
        expect(onair).to_have_text("YOU ARE ON AIR")

        page.goto(f"{scene.url}/?lang=ko")  # the viewer page shares the choice…
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.click("#ui-language")  # …and the console takes the viewer's
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        page.goto(f"{scene.url}/console")  # the token is kept for the tab
        expect(onair).to_have_text("내가 방송 중")
        assert_words(page, "ko")
        expect(log).to_contain_text("Kim: 연단 언어 영어")  # the floor's, in the log it sends
        expect(log).to_contain_text("Kim: 요청 취소")
    finally:
        context.close()


def test_an_english_browser_gets_english_and_both_tables_match(
    scene: Scene, browser: Browser
) -> None:
    context = console_in(browser, "en-US")
    try:
        page = context.new_page()
        page.goto(f"{scene.url}/console")
        assert_words(page, "en")
        expect(page.locator("#ui-language")).to_have_text("한국어")
        sign_in(page, KIM)
        expect(page.locator("#onair")).to_have_text("YOU ARE ON AIR")
        expect(page.locator("#log li").last).to_contain_text("Kim: go live")
        shapes = page.evaluate(SHAPES)
        assert shapes["en"] == shapes["ko"]
        assert "micRefused.not_live: string" in shapes["en"]
        assert "actions.take_over: string" in shapes["en"]
    finally:
        context.close()


def test_floor_captions_that_come_before_the_glossary_are_prompted_with_its_terms(
    scene: Scene, browser: Browser
) -> None:
    """A new console gets the floor's recent finals at once, and the glossary by a request
    of its own. Held back here, the glossary still comes first: the captions wait for it
    (they used to be prompted with no terms, which failed the Korean test above once)."""
    said = "국제협동조합연맹 회의가 열렸습니다."
    scene.publish(caption("ko", said, "ko", "floor", time.time()))
    context = console_in(browser, "en-US")
    try:
        page = context.new_page()

        def held(route: Route) -> None:
            time.sleep(1.5)  # the browser goes on meanwhile: only this request waits
            route.continue_()

        page.route("**/api/glossary", held)
        page.goto(f"{scene.url}/console")
        sign_in(page, KIM)
        expect(page.locator("#floorlines")).to_contain_text(said)
        expect(page.locator("#terms")).to_contain_text("International Cooperative Alliance")
    finally:
        context.close()
