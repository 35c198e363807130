"""The interpreter console in a real browser (Debian's chromium, headless, driven by
Playwright) against a real ``companion serve --demo``.

The floor replays config/demo/jfk.flac (English); booth-ko "interprets" with
config/demo/ko_para_1.flac, so the demo puts its first interpreter (park) on air. The
tests sign in as his partner (choi), see the floor's captions arrive, take over and
see "YOU ARE ON AIR"; a wrong token, typed or left in the tab by an earlier session,
gets the sign-in form back. The browser's websockets pass through Playwright's
``route_web_socket``: what the server sends goes on to the page unchanged, except that
the test decides the ear-voice spans (``evs``) the console is told, and may add a floor
caption of its own for the term prompter. A screenshot goes to test-artifacts/ (or
$COMPANION_ARTIFACTS) and is checked for content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    WebSocketRoute,
    expect,
)

from tests.support.browser import artifacts_dir, assert_not_blank, chromium
from tests.support.paths import REPO
from tests.support.serve_process import serve_process

# the real model in `companion serve` subprocesses, watched through chromium
pytestmark = [pytest.mark.model, pytest.mark.browser, pytest.mark.slow]

DEMO = REPO / "config" / "demo"
TOKENS = {
    "park": "park-console-test-0123456789",
    "choi": "choi-console-test-0123456789",
    "kim": "kim-console-test-0123456789",
    "lee": "lee-console-test-0123456789",
}
WAIT_MS = 120_000  # the real Whisper model on a shared CPU: the first captions take a while


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, base_model_dir: str, model_cache: Path
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("console")
    config = (
        '[event]\nid = "console-test"\n'
        f'[captioner]\nglossary = "{REPO / "config" / "glossary.csv"}"\n'
        f'[floor]\nsource = "{DEMO / "jfk.flac"}"\nlanguage = "ko"\n'
        '[[channels]]\nid = "ko"\nlanguage = "ko"\n'
        '[[channels]]\nid = "en"\nlanguage = "en"\n'
        f'[[booths]]\nid = "booth-ko"\nchannel = "ko"\nsource = "{DEMO / "ko_para_1.flac"}"\n'
        'interpreters = [{ id = "park", name = "Park" }, { id = "choi", name = "Choi" }]\n'
        '[[booths]]\nid = "booth-en"\nchannel = "en"\n'
        'interpreters = [{ id = "kim", name = "Kim" }, { id = "lee", name = "Lee" }]\n'
    )
    env = {f"COMPANION_TOKEN_{who.upper()}": token for who, token in TOKENS.items()}
    with serve_process(tmp, config, model_cache, ("--demo",), env) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, locale="en-US", bypass_csp=True
    )
    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), _outside)
    try:
        yield context
    finally:
        context.close()


def _outside(route: Route) -> None:
    """Nothing leaves loopback."""
    route.abort()


class Sockets:
    """The page's websockets, passed on to the server through Playwright.

    ``evs`` replaces the ear-voice spans of the ``console`` message, and the server's
    own ``evs`` messages are held back, so the page shows what the test sends
    (``tell``). The viewer sockets are kept by channel, for ``caption``.
    """

    def __init__(self, page: Page, evs: dict[str, Any]) -> None:
        self.evs = evs
        self.console: list[WebSocketRoute] = []
        self.viewers: dict[str, WebSocketRoute] = {}
        page.route_web_socket(re.compile(r"/ws/console$"), self._console)
        page.route_web_socket(re.compile(r"/ws/viewer$"), self._viewer)

    @staticmethod
    def _join(page_side: WebSocketRoute, to_page: Callable[[str | bytes], None]) -> None:
        server = page_side.connect_to_server()
        server.on_message(to_page)
        # Closing is passed on by hand, so the page sees the server's code (1008).
        server.on_close(lambda code, reason: page_side.close(code=code, reason=reason))
        page_side.on_close(lambda code, reason: server.close(code=code, reason=reason))

    def _console(self, ws: WebSocketRoute) -> None:
        self.console.append(ws)

        def to_page(message: str | bytes) -> None:
            data = json.loads(message)
            if data.get("type") == "evs":
                return
            if data.get("type") == "console":
                data["evs"] = self.evs
            ws.send(json.dumps(data, ensure_ascii=False))

        self._join(ws, to_page)

    def _viewer(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            data = json.loads(message)
            if data.get("type") == "hello":
                self.viewers[str(data["channel"])] = ws
            server.send(message)

        ws.on_message(to_server)

    def tell(self, message: dict[str, Any]) -> None:
        """Send ``message`` to the console page as if the server had sent it."""
        self.console[-1].send(json.dumps(message))

    def caption(self, channel: str, **fields: Any) -> None:
        """A caption on ``channel``'s viewer socket, as if the server had sent it."""
        self.viewers[channel].send(json.dumps({"type": "caption", "channel": channel, **fields}))


def sign_in(page: Page, who: str) -> None:
    page.fill("#token", TOKENS[who])
    page.click("#login button[type=submit]")
    expect(page.locator("#desk")).to_be_visible()


def prompts(page: Page) -> list[tuple[str, str]]:
    """(shown, heard) of the term prompter's items, newest first."""
    rows: list[list[str]] = page.eval_on_selector_all(
        "#terms li",
        "els => els.map(e => [e.querySelector('b').textContent,"
        " e.querySelector('small').textContent])",
    )
    return [(shown, heard) for shown, heard in rows]


def test_the_console_signs_in_shows_the_floor_and_takes_over(
    service: str, context: BrowserContext
) -> None:
    page = context.new_page()
    sockets = Sockets(page, evs={"booth-en": {"seconds": 9.9, "interpreter": "kim", "anchors": 2}})
    page.goto(f"{service}/console")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#desk")).to_be_hidden()
    sign_in(page, "choi")
    expect(page.locator("#who")).to_have_text("Choi")
    expect(page.locator("#boothname")).to_have_text("booth-ko")
    # The demo put park on air: his partner sees it and may take over.
    onair = page.locator("#onair")
    expect(onair).to_have_text("ON AIR · Park")
    expect(onair).to_have_class(re.compile(r"\blive\b"))

    # The floor's captions arrive in the floor's pane (JFK: English, on channel en).
    expect(page.locator("#floorlines p").first).to_have_text(re.compile(r"\w"), timeout=WAIT_MS)

    expect(page.locator("#take_over")).to_be_visible()
    page.click("#take_over")
    expect(onair).to_have_text("YOU ARE ON AIR")
    expect(onair).to_have_class(re.compile(r"\blive\b"))
    expect(page.locator("#sign_off")).to_be_visible()
    expect(page.locator("#take_over")).to_be_hidden()
    expect(page.locator("#log li").first).to_contain_text("Choi: take over")

    # The ear-voice span: only this console's booth counts, "–" until one is known.
    expect(page.locator("#evs")).to_have_text("–")
    sockets.tell({"type": "evs", "booth": "booth-en", "seconds": 7.5, "interpreter": "kim"})
    sockets.tell(
        {"type": "evs", "booth": "booth-ko", "seconds": 2.84, "interpreter": "choi", "anchors": 5}
    )
    expect(page.locator("#evs")).to_have_text("2.8 s")
    expect(page.locator("#evsdetail")).to_have_text("Choi · 5 anchors")

    # The term prompter: a floor caption (the test's own, on the floor's channel) with a
    # glossary term and a number shows them in the booth's language (Korean), the term
    # at once from the partial, the number at the end of the partial with the final, and
    # neither twice for the same utterance.
    utterance = 10**6
    seq = 10**9
    words = "The social and solidarity economy employs 3,000 people"
    sockets.caption(
        "en", seq=seq, final=False, text=words, lang="en", source="floor", utterance=utterance
    )
    expect(page.locator("#terms li b").first).to_have_text("사회연대경제 (SSE)")
    assert prompts(page)[0] == ("사회연대경제 (SSE)", "social and solidarity economy · term")
    sockets.caption(
        "en",
        seq=seq + 1,
        final=True,
        text=words + ".",
        lang="en",
        source="floor",
        utterance=utterance,
    )
    expect(page.locator("#terms li b").first).to_have_text("3,000 명")
    shown = [s for s, _ in prompts(page)]
    assert shown[:2] == ["3,000 명", "사회연대경제 (SSE)"]
    assert shown.count("사회연대경제 (SSE)") == 1
    assert page.get_attribute("#terms li b >> nth=0", "lang") == "ko"
    expect(page.locator("#floorlines")).to_contain_text(words)

    path = artifacts_dir() / "console.png"
    page.screenshot(path=str(path), full_page=True)
    assert_not_blank(path)


def test_a_wrong_token_gets_the_sign_in_form_back(service: str, context: BrowserContext) -> None:
    page = context.new_page()
    Sockets(page, evs={"booth-en": {"seconds": 4.21, "interpreter": "kim", "anchors": 3}})
    # A token an earlier session left in the tab is tried at once, and refused.
    page.add_init_script("sessionStorage.setItem('console-token', 'stale-token-0123456789')")
    page.goto(f"{service}/console")
    error = page.locator("#loginerror")
    expect(error).to_contain_text("not accepted")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#desk")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('console-token')") is None

    page.fill("#token", "wrong-token-0123456789")
    page.click("#login button[type=submit]")
    expect(error).to_contain_text("not accepted")
    expect(page.locator("#desk")).to_be_hidden()

    sign_in(page, "lee")
    expect(error).to_have_text("")
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#boothname")).to_have_text("booth-en")
    # The spans the console message brings: booth-en's is this console's.
    expect(page.locator("#evs")).to_have_text("4.2 s")
    expect(page.locator("#evsdetail")).to_have_text("Kim · 3 anchors")


def test_the_prompter_in_the_browser(service: str, context: BrowserContext) -> None:
    """prompter.js as chromium runs it (its full tests: tests/prompter.test.js, in Node)."""
    page = context.new_page()
    page.goto(f"{service}/console")
    page.wait_for_function("typeof window.Prompter === 'object'")
    got = page.evaluate(
        """async () => {
            const terms = (await (await fetch('/api/glossary')).json()).terms;
            const p = Prompter.create(terms);
            const hear = (text, final, lang) => p.hear(
                {source: 'floor', utterance: 1, text, final}, lang).map((i) => i.shown);
            return [
                hear('사회연대경제와 한국사회적기업진흥원', false, 'en'),
                hear('사회연대경제와 한국사회적기업진흥원이 3천 명', false, 'en'),
                hear('사회연대경제와 한국사회적기업진흥원이 3천 명을 고용', true, 'en'),
                Prompter.scan(Prompter.compile(terms), '1억 2천만 원', 'ko')
                    .map((x) => x.item.shown),
            ];
        }"""
    )
    assert got == [
        ["social and solidarity economy (SSE)", "Korea Social Enterprise Promotion Agency (KoSEA)"],
        [],
        ["3,000 people"],
        ["1억 2,000만 원 (120,000,000)"],
    ]
