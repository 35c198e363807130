"""The viewer page and the organizer dashboard in a real browser (Debian's chromium,
headless, driven by Playwright) against a real ``companion serve --demo``.

The service replays the bundled recordings live: the floor plays config/demo/jfk.flac
(English) and booth-ko "interprets" with config/demo/ko_para_1.flac, so channel ``en``
carries the floor and ``ko`` the booth. A fake YouTube Data API on loopback says the
English broadcast is live with 321 viewers and the Korean one starts in two hours. The
browser reaches nothing outside loopback: the YouTube IFrame API is a stand-in that
records which video the page asks for. Screenshots go to test-artifacts/ (or
$COMPANION_ARTIFACTS) and are checked for content.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.browser import (
    CuttableProxy,
    ThreadedServer,
    Viewer,
    artifacts_dir,
    assert_not_blank,
    chromium,
    keep_on_loopback,
)
from tests.support.paths import REPO
from tests.support.serve_process import serve_process
from tests.support.waiting import until_sync
from tests.support.youtube_fake import API_KEY, FakeYouTube, ended, live, upcoming

# the real model in `companion serve` subprocesses, watched through chromium
pytestmark = [pytest.mark.model, pytest.mark.browser, pytest.mark.slow]

ORGANIZER = "organizer-browser-test-0123456789"
EN_VIDEO, KO_VIDEO = "envideo0001", "kovideo0001"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
DEMO = REPO / "config" / "demo"


@dataclass
class Service:
    url: str
    port: int


@dataclass
class YouTube:
    url: str
    api: FakeYouTube


@pytest.fixture(scope="module")
def youtube() -> Iterator[YouTube]:
    api = FakeYouTube()
    now = time.time()
    api.videos[EN_VIDEO] = live(EN_VIDEO, now - 600, viewers=321, title="Plenary (English)")
    api.videos[KO_VIDEO] = upcoming(KO_VIDEO, now + 7200, title="본회의 (한국어)")
    server = ThreadedServer(api.app())
    try:
        yield YouTube(f"http://127.0.0.1:{server.port}", api)
    finally:
        server.close()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
    base_model_dir: str,
    model_cache: Path,
    youtube: YouTube,
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("browser")
    config = (
        '[event]\nid = "browser-test"\ntitle = "Browser test"\ntitle_ko = "브라우저 시험"\n'
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        '[archive]\ndownloads = "public"\n'
        # Poll the fake API often (and spend freely), so the end of a broadcast shows soon.
        "[youtube]\npoll_live = 5.0\npoll_near = 5.0\npoll_far = 10.0\ndaily_quota = 1000000\n"
        f'[floor]\nsource = "{DEMO / "jfk.flac"}"\nlanguage = "ko"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\nname = "한국어"\n'
        f'youtube = {{ video_id = "{KO_VIDEO}" }}\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\nname = "English"\n'
        f'youtube = {{ video_id = "{EN_VIDEO}" }}\n'
        f'[[booths]]\nid = "booth-ko"\nchannel = "ko"\nsource = "{DEMO / "ko_para_1.flac"}"\n'
        'interpreters = [{ id = "park", name = "Park" }, { id = "choi", name = "Choi" }]\n'
        '[[booths]]\nid = "booth-en"\nchannel = "en"\n'
        'interpreters = [{ id = "kim", name = "Kim" }, { id = "lee", name = "Lee" }]\n'
    )
    env = {
        "COMPANION_ARCHIVE_DIR": str(tmp / "archive"),
        "COMPANION_ORGANIZER_TOKEN": ORGANIZER,
        "YOUTUBE_API_KEY": API_KEY,
        "YOUTUBE_API_ENDPOINT": youtube.url,
    }
    with serve_process(tmp, config, model_cache, ("--demo",), env) as url:
        yield Service(url, int(url.rsplit(":", 1)[1]))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", bypass_csp=True
    )  # the pages under their CSP: test_browser_csp.py
    keep_on_loopback(context)
    try:
        yield context
    finally:
        context.close()


def shoot(page: Page, name: str) -> None:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert_not_blank(path)


def finals_shown(page: Page) -> list[tuple[int, str, str]]:
    """(seq, lang, text) of every final caption in the page's transcript pane."""
    rows: list[list[Any]] = page.eval_on_selector_all(
        "#transcript-list li[data-seq]",
        "els => els.map(e => [Number(e.dataset.seq), e.dataset.lang,"
        " e.querySelector('.text').textContent])",
    )
    return [(int(seq), str(lang), str(text)) for seq, lang, text in rows]


def wait_for_finals(page: Page, lang: str, count: int = 1) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('#transcript-list li[data-lang={lang}]').length >= {count}",
        timeout=120_000,
    )


def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


# ---------------------------------------------------------------------------- the viewer
def test_the_viewer_shows_the_chosen_language_and_switches_without_a_reload(
    service: Service, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{service.url}/?lang=en")
    wait_for_finals(page, "en")
    caption = page.locator("#track-primary .caption")
    assert caption.locator(".line").count() >= 1 and caption.locator(".line").count() <= 2
    assert {lang for _, lang, _ in finals_shown(page)} == {"en"}
    # Once the floor's captioner hears English, "en" carries the floor: the line follows.
    carries = page.locator("#track-primary .carries")
    until_sync(lambda: carries.inner_text() == "Now: floor, English", "the floor on en", timeout=60)
    until_sync(
        lambda: "321 watching" in page.inner_text("#broadcast"), "the live badge", timeout=60
    )
    assert page.inner_text("#broadcast-status .badge") == "LIVE"
    until_sync(
        lambda: page.evaluate("window.__yt && window.__yt.created"),
        "the YouTube player",
        timeout=60,
    )
    assert page.evaluate("window.__yt.created") == [EN_VIDEO]
    assert page.get_attribute("#player-box iframe", "data-video") == EN_VIDEO
    assert page.locator("#announce p").count() >= 1  # read out by screen readers
    shoot(page, "viewer-en")
    first_text = finals_shown(page)[0][2]
    word = max(first_text.split(), key=len).strip(".,!?")
    page.fill("#search", word.upper())
    assert page.locator("#transcript-list li[data-seq]:visible mark").count() >= 1
    assert "matching" in page.inner_text("#matches")
    page.fill("#search", "")
    with page.expect_download() as download:
        page.click("#download")
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert first_text in saved and download.value.suggested_filename.endswith(
        "-en-" + time.strftime("%Y-%m-%d", time.gmtime()) + ".txt"
    )

    page.evaluate("window.__sameDocument = true")
    page.select_option("#channel", "ko")
    wait_for_finals(page, "ko")
    assert {lang for _, lang, _ in finals_shown(page)} == {"ko"}
    until_sync(lambda: HANGUL.search(caption.inner_text()), "Korean captions on screen", timeout=60)
    assert page.evaluate("window.__sameDocument") is True  # switched without a reload
    assert page.get_attribute("#player-box iframe", "data-video") == KO_VIDEO
    assert KO_VIDEO in page.evaluate("window.__yt.loaded.concat(window.__yt.cued)")
    assert page.evaluate("document.documentElement.lang") == "ko"  # the page's words follow
    assert page.inner_text("#conn") == "자막 연결됨"
    assert "booth-ko" in page.inner_text("#track-primary .carries")
    assert "후 시작" in page.inner_text("#broadcast-detail")  # the countdown
    assert "lang=ko" in page.url
    shoot(page, "viewer-ko")

    # The choice is remembered: the bare address opens Korean again.
    again = context.new_page()
    again.goto(f"{service.url}/")
    again.wait_for_function("document.querySelector('#channel').value === 'ko'")
    again.close()


def test_dual_captions_and_the_keyboard(service: Service, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{service.url}/?lang=en")
    page.wait_for_selector("#channel option", state="attached")
    page.keyboard.press("b")  # both languages
    assert page.is_checked("#dual")
    assert page.get_attribute("#track-second", "data-channel") == "ko"
    page.wait_for_selector("#track-primary .caption .line", timeout=120_000)
    until_sync(
        lambda: HANGUL.search(page.inner_text("#track-second .caption")),
        "Korean beside",
        timeout=120,
    )
    page.keyboard.press("]")
    assert page.inner_text("#delay-value") == "0.5 s"
    page.keyboard.press("[")
    assert page.inner_text("#delay-value") == "0.0 s"
    assert page.evaluate("localStorage.getItem('companion.delay')") == "0"
    # With a delay, a final shows that much after it arrives (here: 3 s).
    for _ in range(6):
        page.keyboard.press("]")
    assert page.evaluate("localStorage.getItem('companion.delay')") == "3"
    before = max((seq for seq, _, _ in finals_shown(page)), default=0)
    reference = Viewer(service.url, "en")
    try:

        def new_final() -> tuple[int, str, float] | None:
            return next((f for f in reference.finals if f[0] > before), None)

        seq, _, heard = until_sync(new_final, "a new final", timeout=60)
        shown = f"#transcript-list li[data-seq='{seq}']"
        while time.monotonic() < heard + 1.5:
            assert page.locator(shown).count() == 0, "shown before its delay"
            time.sleep(0.1)
        page.wait_for_selector(shown, state="attached", timeout=8000)
    finally:
        reference.close()
    for _ in range(6):
        page.keyboard.press("[")
    page.keyboard.press("k")  # the page's words in Korean
    assert page.inner_text("#delay-label") == "자막 지연"
    page.keyboard.press("k")
    assert page.inner_text("#delay-label") == "Caption delay"
    page.keyboard.press("+")
    assert page.evaluate("localStorage.getItem('companion.fontScale')") == "1.125"
    # Tab reaches the controls; the live region is polite.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "channel"
    assert page.get_attribute("#announce", "aria-live") == "polite"
    shoot(page, "viewer-dual")
    page.keyboard.press("d")  # in the channel list: a letter picks a channel, no shortcut
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.keyboard.press("Escape")  # leaves the control
    page.keyboard.press("d")  # dark mode, remembered
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("localStorage.getItem('companion.theme')") == "dark"
    shoot(page, "viewer-dual-dark")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "viewer-phone")


def test_a_network_cut_loses_no_final_caption(service: Service, context: BrowserContext) -> None:
    proxy = CuttableProxy(service.port)
    reference = Viewer(service.url, "en")  # what the server sent, straight from it
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{proxy.port}/?lang=en")
        wait_for_finals(page, "en")
        before = proxy.connections
        cut_at = time.monotonic()
        proxy.cut()
        context.set_offline(True)
        page.wait_for_function("document.querySelector('#conn').dataset.state === 'lost'")
        # Stay away until the server has sent at least one final the page could not get.
        until_sync(
            lambda: sum(t > cut_at for _, _, t in reference.finals) >= 2,
            "finals during the cut",
            timeout=60,
        )
        missed = [seq for seq, _, t in reference.finals if t > cut_at]
        proxy.restore()
        context.set_offline(False)
        page.wait_for_function(
            f"document.querySelector('#transcript-list li[data-seq=\"{max(missed)}\"]')",
            timeout=60_000,
        )
        assert proxy.connections > before  # it did reconnect
        assert page.inner_text("#conn") == "Captions connected"
        shown = [(seq, text) for seq, _, text in finals_shown(page)]
        first, last = shown[0][0], shown[-1][0]
        sent = [(seq, text) for seq, text, _ in reference.finals if first <= seq <= last]
        assert reference.finals[0][0] <= first, "the reference began after the page"
        assert shown == sent  # every final once, in order, none missing across the cut
        assert set(missed) <= {seq for seq, _ in shown}
    finally:
        reference.close()
        proxy.close()


# ---------------------------------------------------------------------------- the dashboard
def test_the_dashboard_needs_the_organizer_token_and_counts_listeners(
    service: Service, context: BrowserContext
) -> None:
    api = service.url + "/api/admin/captioners"
    assert get_json(api)[0] == 401
    assert get_json(api, "not-the-organizer-token")[0] == 403
    status, body = get_json(api, ORGANIZER)
    assert status == 200 and {"floor", "booth-ko"} <= set(body["captioners"])

    page = context.new_page()
    page.goto(f"{service.url}/dashboard")
    assert page.is_visible("#signin") and page.is_hidden("#board")
    page.fill("#token", "not-the-organizer-token")
    page.click("#signin button[type=submit]")
    page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
    assert "not an organizer" in page.inner_text("#signin-error")
    assert page.is_hidden("#board")
    assert page.evaluate("sessionStorage.getItem('companion.organizer')") is None

    page.fill("#token", ORGANIZER)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#board", state="visible")
    page.wait_for_selector("#listeners-ko")
    base = int(page.inner_text("#listeners-ko"))
    viewers = [Viewer(service.url, "ko") for _ in range(3)]
    try:
        page.wait_for_function(
            f"Number(document.querySelector('#listeners-ko').textContent) >= {base + 3}",
            timeout=20_000,
        )
        until_sync(
            lambda: "alive" in page.inner_text("#captioner-floor"),
            "the floor's captioner",
            timeout=60,
        )
        assert "Park" in page.inner_text("#onair-booth-ko")
        assert "321" in page.inner_text("#channels")
        assert re.search(r"quota today: \d+ of 1000000 units", page.inner_text("#quota"))
        assert page.locator("#sessions button").count() > 0  # the transcripts' downloads
        shoot(page, "dashboard")
    finally:
        for viewer in viewers:
            viewer.close()
    page.wait_for_function(
        f"Number(document.querySelector('#listeners-ko').textContent) <= {base}",
        timeout=20_000,
    )


# ---------------------------------------------------------------------------- the end
def test_after_the_broadcast_ends_the_viewer_links_the_transcript(
    service: Service, youtube: YouTube, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{service.url}/?lang=en")
    until_sync(
        lambda: "321 watching" in page.inner_text("#broadcast"), "the live badge", timeout=60
    )
    wait_for_finals(page, "en")  # the archive has some of the English session by now
    now = time.time()
    youtube.api.videos[EN_VIDEO] = ended(EN_VIDEO, now - 600, now)
    page.wait_for_selector("#transcript-link", timeout=40_000)
    assert page.inner_text("#broadcast-status") == "The broadcast has ended."
    # No session of a programme ran: the archive files the captions outside the programme.
    href = page.get_attribute("#transcript-link", "href")
    assert href == "/api/transcripts/unscheduled/en.txt"
    shown = finals_shown(page)[0][2]

    def archived() -> bool:
        with urllib.request.urlopen(service.url + href, timeout=5) as r:
            return shown in r.read().decode("utf-8")

    until_sync(archived, "the first final shown in the archive's transcript", timeout=30)
    shoot(page, "viewer-ended")
