"""The pages under their Content-Security-Policy in a real browser: nothing refused.

Each page is loaded in chromium with a listener for ``securitypolicyviolation``
installed before the page's own scripts; a page whose inline script, style, socket
or YouTube's iframe API the policy refused would report it. The viewer page shows
itself connected (its script ran and its websocket opened), and the console and the
dashboard show their sign-in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from companion.bus.memory import MemoryBus
from service.app import create_app
from service.settings import ServiceSettings
from tests.support.booths import TOKENS, event_config
from tests.support.browser import ThreadedServer, chromium, keep_on_loopback

pytestmark = pytest.mark.browser

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_no_page_breaks_its_content_security_policy(browser: Browser) -> None:
    app = create_app(
        ServiceSettings(channels=("ko", "en")), MemoryBus(), tokens=TOKENS, config=event_config()
    )
    server = ThreadedServer(app)
    context = browser.new_context(locale="en-US")
    keep_on_loopback(context)
    context.add_init_script(WATCH)
    base = f"http://127.0.0.1:{server.port}"
    try:
        page = context.new_page()
        response = page.goto(f"{base}/?lang=en")
        assert response is not None and "script-src" in response.headers["content-security-policy"]
        page.wait_for_selector("#conn[data-state='connected']", state="attached")
        assert page.evaluate("document.documentElement.dataset.theme") in ("light", "dark")
        assert page.evaluate("window.__violations") == []
        for path, ready in (("/console", "#token"), ("/dashboard", "body")):
            response = page.goto(base + path)
            assert response is not None
            assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
            page.wait_for_selector(ready)
            page.wait_for_timeout(300)
            assert page.evaluate("window.__violations") == [], path
    finally:
        context.close()
        server.close()
