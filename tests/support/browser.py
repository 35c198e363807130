"""What the browser tests need around the browser: a network that can be cut, a fake
YouTube on its own thread, websocket viewers that record what the server sent, and a
check that a screenshot shows something.

Everything runs on threads, because Playwright's sync API owns the test's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

from tests.support.paths import REPO

CHROMIUM = "/usr/bin/chromium"


@contextlib.contextmanager
def chromium(*args: str) -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser).

    Fails (never skips) when it is missing: ``scripts/test`` installs it.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk")
    flags = [*args, *(["--no-sandbox"] if os.geteuid() == 0 else [])]  # root: no sandbox
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            yield browser
        finally:
            browser.close()


def artifacts_dir() -> Path:
    """Where screenshots go: $COMPANION_ARTIFACTS, else test-artifacts/ in the repository."""
    path = Path(os.environ.get("COMPANION_ARTIFACTS") or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def assert_not_blank(path: Path) -> None:
    """The screenshot has content: many colours, none of them covering nearly everything."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 24) or []
        total = pixels.width * pixels.height
    assert len(colours) > 50, f"{path.name}: only {len(colours)} colours: a blank page?"
    biggest = max(count for count, _ in colours)
    assert biggest < 0.97 * total, f"{path.name}: one colour covers {biggest / total:.0%}"


class CuttableProxy:
    """A TCP proxy on loopback; ``cut()`` drops every connection and refuses new ones
    until ``restore()``: a network drop as the browser sees it (no close frame)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.down = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.connections = 0
        self.refused = 0
        self.thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.down.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.open |= {client, upstream}
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src)
            self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self.lock:
            self.open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            doomed = list(self.open)
        for sock in doomed:
            self._drop(sock)

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.stopped.set()
        self.cut()
        self.thread.join(timeout=5)
        self.listener.close()


class ThreadedServer:
    """An aiohttp application served on loopback from a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-server")
        self.thread.start()
        self.runner = web.AppRunner(app)
        self._call(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self._call(site.start())
        self.port = int(self.runner.addresses[0][1])

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self._call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class Viewer:
    """A websocket viewer on a thread: it records every final caption the server sends."""

    def __init__(self, url: str, channel: str) -> None:
        self.url = url.replace("http", "ws", 1) + "/ws/viewer"
        self.channel = channel
        self.finals: list[tuple[int, str, float]] = []  # (seq, text, monotonic time received)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._read, name=f"viewer-{channel}")
        self.thread.start()
        if not self.connected.wait(10):
            self.close()
            raise AssertionError("the test viewer could not connect")

    def _read(self) -> None:
        from websockets.sync.client import connect

        hello = {"type": "hello", "v": 1, "channel": self.channel, "resume": None}
        try:
            with connect(self.url, max_queue=None) as ws:
                ws.send(json.dumps(hello))
                self.connected.set()
                while not self.stop.is_set():
                    try:
                        message = json.loads(ws.recv(timeout=0.2))
                    except TimeoutError:
                        continue
                    if (
                        message["type"] == "caption"
                        and message["final"]
                        and message["channel"] == self.channel
                    ):
                        self.finals.append((message["seq"], message["text"], time.monotonic()))
        except BaseException as error:  # handed to the test by close()
            self.error = error

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        if self.error is not None:
            raise self.error


# The YouTube IFrame Player API as the page uses it, recording what the page asks for.
FAKE_IFRAME_API = """
window.__yt = { created: [], loaded: [], cued: [] };
window.YT = {
  Player: function (element, options) {
    const frame = document.createElement("iframe");
    const show = (id) => {
      frame.dataset.video = id;
      frame.srcdoc = '<body style="margin:0;display:grid;place-items:center;height:100vh;' +
        'background:#202124;color:#eee;font:28px sans-serif">YouTube video ' + id + '</body>';
    };
    show(options.videoId);
    element.replaceWith(frame);
    window.__yt.created.push(options.videoId);
    this.loadVideoById = (id) => { window.__yt.loaded.push(id); show(id); };
    this.cueVideoById = (id) => { window.__yt.cued.push(id); show(id); };
    setTimeout(() => options.events.onReady({ target: this }), 0);
  },
};
setTimeout(() => window.onYouTubeIframeAPIReady(), 0);
"""


OUTSIDE = re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*")  # any request that leaves loopback


def _outside(route: Route) -> None:
    """Nothing leaves loopback; the YouTube player API is a stand-in."""
    if route.request.url.startswith("https://www.youtube.com/iframe_api"):
        route.fulfill(body=FAKE_IFRAME_API, content_type="text/javascript")
    else:
        route.abort()


def keep_on_loopback(context: BrowserContext) -> None:
    """Route ``context``'s requests that leave loopback: YouTube's API faked, the rest refused."""
    context.route(OUTSIDE, _outside)
