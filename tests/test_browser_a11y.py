"""Every page passes an accessibility audit: axe-core in headless chromium, 0 violations.

The rules are WCAG 2.1 levels A and AA (axe's tags ``wcag2a``, ``wcag2aa``,
``wcag21a``, ``wcag21aa``), axe's experimental ones among them, switched on by hand
(axe leaves them out unless asked): ``label-content-name-mismatch`` (WCAG 2.5.3: a
control's accessible name contains the words it shows) was one of them in older axe
releases and is a plain WCAG 2.1 A rule in the pinned one; it runs either way.
Each page is audited with everything it can show (tests/support/pages_scene.py): the
viewer in English and Korean with a long transcript, in its light, dark and
high-contrast themes; the console signed in and live, with floor captions, a partial,
prompted terms and an ear-voice span, in English and Korean, in the system's light and
dark schemes; the dashboard signed in with the organizer token, in English and Korean,
light and dark, with a test caption's answer; and all three on a phone.

axe-core comes from npm (``package.json``; ``scripts/test`` runs ``npm ci``). It is put
into the page with Playwright's ``evaluate``, which goes through the DevTools protocol
and not through the page, so the pages keep their Content-Security-Policy during the
audit (``add_script_tag`` would be refused by it, and ``bypass_csp`` is not needed).
For the same reason the tests wait with locators, never ``wait_for_function`` (whose
polling evaluates a string, which the policy refuses). YouTube's player is a stand-in
here and not ours: frames are not entered (``iframes: false``), though the frame
element itself (its title) is audited.

A failure lists each violation's rule, impact, help and the offending elements, with
axe's summary of what to fix.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from companion.captions import CaptionEvent
from tests.support.browser import chromium, keep_on_loopback
from tests.support.pages_scene import KIM, ORG, Scene, event_scene
from tests.support.paths import REPO

pytestmark = pytest.mark.browser

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Rules the issue named, checked to run: a visible label in the accessible name,
# keyboard access to scrolling regions, contrast.
NAMED = {"label-content-name-mismatch", "scrollable-region-focusable", "color-contrast"}

# The WCAG tags, with the experimental rules that carry one of them switched on (axe
# leaves experimental rules out unless asked).
RUN = """
(tags) => {
  const experimental = axe.getRules(["experimental"])
    .filter((rule) => rule.tags.some((tag) => tags.includes(tag)))
    .map((rule) => [rule.ruleId, { enabled: true }]);
  return axe.run(document, {
    runOnly: { type: "tag", values: tags },
    rules: Object.fromEntries(experimental),
    iframes: false,
    resultTypes: ["violations"],
  }).then((r) => ({
    ran: [...r.passes, ...r.violations, ...r.incomplete, ...r.inapplicable].map((v) => v.id),
    violations: r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
    })),
  }));
}
"""


def report(violations: list[dict[str, Any]]) -> str:
    """What a newcomer reads to fix the page: each rule broken, and where."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {' '.join(node['target'])}: {summary}")
    return "\n".join(lines)


def audit(page: Page, what: str) -> None:
    """axe-core on ``page`` as it is now: no violation of the WCAG 2.1 A and AA rules."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in the repository (scripts/test does)")
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate("() => {" + AXE.read_text(encoding="utf-8") + "\n}")
    result = page.evaluate(RUN, WCAG)
    assert set(result["ran"]) >= NAMED, NAMED - set(result["ran"])
    violations = result["violations"]
    assert not violations, f"{what}: {len(violations)} rules broken\n{report(violations)}"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with event_scene(tmp_path_factory.mktemp("a11y")) as scene:
        yield scene


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


LOCALES = {"en": "en-US", "ko": "ko-KR"}


@contextlib.contextmanager
def browsing(browser: Browser, locale: str, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """A page of a new context in ``locale``, kept on loopback, closed at the end."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    keep_on_loopback(context)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    with browsing(browser, "en-US") as page:
        yield page.context


def caption(
    channel: str, text: str, *, final: bool = True, source: str = "", at: float = 0.0
) -> CaptionEvent:
    """A caption as a captioner publishes it (the bus numbers it)."""
    lang = "ko" if any("\uac00" <= c <= "\ud7a3" for c in text) else "en"
    return CaptionEvent(
        channel, 0, final, text, lang, 0.0, 1.0, 1.0, 0, final, at=at or time.time(), source=source
    )


SAID = {
    "en": "Welcome to the conference on the social and solidarity economy, part {}.",
    "ko": "사회연대경제 국제회의에 오신 것을 환영합니다. {}부입니다.",
}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_viewer_page_passes_the_audit(scene: Scene, context: BrowserContext, lang: str) -> None:
    page = context.new_page()
    page.goto(f"{scene.url}/?lang={lang}")
    page.wait_for_selector("#conn[data-state='connected']", state="attached")
    assert page.evaluate("document.documentElement.lang") == lang
    # Enough finals that the transcript scrolls, and a partial after them.
    scene.publish(*(caption(lang, SAID[lang].format(i)) for i in range(40)))
    scene.publish(caption(lang, SAID[lang].format(40), final=False))
    page.locator("#transcript-list li[data-seq]").nth(39).wait_for(timeout=20_000)
    page.wait_for_selector("#track-primary .partial")
    page.wait_for_selector("#player-box iframe[title]", state="attached")
    assert page.evaluate(
        "(l => l.scrollHeight > l.clientHeight)(document.querySelector('#transcript-list'))"
    ), "the transcript should scroll, to be audited as a scrolling region"
    audit(page, f"the viewer page ({lang}, light)")
    page.keyboard.press("d")
    audit(page, f"the viewer page ({lang}, dark)")
    page.keyboard.press("c")
    audit(page, f"the viewer page ({lang}, dark, high contrast)")
    page.keyboard.press("d")
    audit(page, f"the viewer page ({lang}, light, high contrast)")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_console_passes_the_audit_signed_in_and_live(
    scene: Scene, browser: Browser, lang: str
) -> None:
    with browsing(browser, LOCALES[lang]) as page:
        audit_the_console(scene, page, lang)


def audit_the_console(scene: Scene, page: Page, lang: str) -> None:
    page.goto(f"{scene.url}/console")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    audit(page, f"the console's sign-in ({lang})")
    page.fill("#token", KIM)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#onair.live")  # kim is live: the live controls are enabled
    page.wait_for_selector("#mic")  # booth-en's source is the console's microphone
    # The floor (channel ko carries it) says numbers and a glossary term, and booth-en
    # says them two seconds later: the prompter shows them and the ear-voice span is
    # measured. A partial of the floor follows, once the console is watching the floor
    # (finals published before that come from the history; partials are not kept).
    now = time.time()
    scene.publish(
        caption("ko", "The ILO counted 1500 cooperatives in 2023.", source="floor", at=now - 2),
        caption("en", "ILO는 2023년에 1500개의 협동조합을 셌습니다.", source="booth-en", at=now),
    )
    page.locator("#floorlines p").first.wait_for()
    scene.publish(
        caption("ko", "and the social and solidarity economy", final=False, source="floor")
    )
    expect(page.locator("#floorpartial")).not_to_be_empty()
    page.locator("#ownlines p").first.wait_for()
    page.locator("#terms li").nth(1).wait_for()
    expect(page.locator("#evsdetail")).not_to_be_empty()
    page.click("#mute")
    page.wait_for_selector("#onair.muted")
    audit(page, f"the console ({lang}, live, muted, light)")
    page.emulate_media(color_scheme="dark")
    audit(page, f"the console ({lang}, live, muted, dark)")
    page.click("#mute")
    page.wait_for_selector("#onair.live")
    audit(page, f"the console ({lang}, live, dark)")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_dashboard_passes_the_audit_signed_in(
    scene: Scene, browser: Browser, lang: str
) -> None:
    with browsing(browser, LOCALES[lang]) as page:
        page.goto(f"{scene.url}/dashboard")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        audit(page, f"the dashboard's sign-in ({lang})")
        page.fill("#token", ORG)
        page.click("#signin button[type=submit]")
        page.wait_for_selector("#board:not([hidden])")
        page.wait_for_selector("#posters button")  # the poster's report is in
        page.wait_for_selector("#sessions button")  # the transcripts' downloads
        page.locator("#posters button").click()  # a test caption, and YouTube's answer
        page.wait_for_selector("#trial-en .ok")
        audit(page, f"the dashboard ({lang}, light)")
        page.emulate_media(color_scheme="dark")
        page.reload()  # the dashboard takes the system's scheme as it loads
        page.wait_for_selector("#board:not([hidden]) #posters button")
        audit(page, f"the dashboard ({lang}, dark)")


def test_the_pages_pass_the_audit_on_a_phone(scene: Scene, browser: Browser) -> None:
    """Where the transcript starts closed and the dashboard's tables scroll sideways."""
    with browsing(browser, "ko-KR", 390, 844) as page:
        page.goto(f"{scene.url}/?lang=ko")
        page.wait_for_selector("#conn[data-state='connected']", state="attached")
        expect(page.locator("#transcript")).to_be_hidden()
        audit(page, "the viewer page (ko, phone)")
        page.goto(f"{scene.url}/console")
        page.fill("#token", KIM)
        page.click("#login button[type=submit]")
        page.wait_for_selector("#onair.live, #onair.muted")
        audit(page, "the console (live, phone)")
        page.goto(f"{scene.url}/dashboard")
        page.fill("#token", ORG)
        page.click("#signin button[type=submit]")
        page.wait_for_selector("#posters button")
        assert page.evaluate(
            "[...document.querySelectorAll('.scroll')].some(e => e.scrollWidth > e.clientWidth)"
        ), "a table should scroll sideways, to be audited as a scrolling region"
        audit(page, "the dashboard (ko, phone)")


def test_a_violation_is_reported_with_what_to_fix(context: BrowserContext) -> None:
    """The audit itself: a page with a nameless button fails, and says where and why."""
    page = context.new_page()
    page.set_content('<html lang="en"><title>t</title><main><button id="nameless"></button></main>')
    with pytest.raises(AssertionError) as failure:
        audit(page, "a broken page")
    message = str(failure.value)
    assert "button-name (critical)" in message, message
    assert "#nameless" in message and "https://dequeuniversity.com/rules/axe/" in message
