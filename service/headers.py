"""Security headers on every response the service sends: pages, APIs, errors, static
files and websocket handshakes alike (``on_response_prepare`` sees them all).

* ``X-Content-Type-Options: nosniff``: a browser takes each body as the type it says;
* ``Referrer-Policy: strict-origin-when-cross-origin``: other sites learn the origin
  only, never a path or a ``?token=``; not ``no-referrer``, because YouTube's embedded
  player refuses to play without its embedder's origin;
* ``Permissions-Policy``: no camera or location, and the microphone for this origin
  only (the interpreter console's);
* ``Cross-Origin-Opener-Policy: same-origin``: a page opened from another site cannot
  reach into ours.

``AccessLogger`` is the access log ``companion serve`` writes (with ``-v``): tokens
never reach it. Every HTML page also gets a Content-Security-Policy: scripts from this origin, the
pages' own inline scripts by their hashes, and YouTube's iframe API; frames from
YouTube only; connections to this origin (its websockets included); no plugins, no
``<base>``. The interpreter console and the organizer dashboard may not be framed by
another site (``frame-ancestors 'self'``); the viewer page may, so an event's own
site can embed it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers above, unless the route set its own."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


YOUTUBE_SCRIPTS = "https://www.youtube.com https://s.ytimg.com"
YOUTUBE_FRAMES = "https://www.youtube.com https://www.youtube-nocookie.com"
UNFRAMED = ("/console", "/dashboard")  # pages only this origin may frame


def inline_hashes(web_dir: Path, tag: str) -> list[str]:
    """The CSP hashes of the inline ``<tag>`` blocks (no attributes) of the pages."""
    pattern = re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL)
    hashes = set()
    for page in sorted(web_dir.glob("*.html")):
        for body in pattern.findall(page.read_text(encoding="utf-8")):
            digest = hashlib.sha256(body.encode("utf-8")).digest()
            hashes.add(f"'sha256-{base64.b64encode(digest).decode()}'")
    return sorted(hashes)


def content_security_policy(host: str, scripts: list[str], styles: list[str], framed: bool) -> str:
    """The policy of one HTML page served to ``host``."""
    parts = [
        "default-src 'self'",
        " ".join(["script-src 'self'", *scripts, YOUTUBE_SCRIPTS]),
        " ".join(["style-src 'self'", *styles]),
        "img-src 'self' data: https://i.ytimg.com",
        f"frame-src {YOUTUBE_FRAMES}",
        f"connect-src 'self' ws://{host} wss://{host}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    if not framed:
        parts.append("frame-ancestors 'self'")
    return "; ".join(parts)


def install(app: web.Application, web_dir: Path) -> None:
    scripts, styles = inline_hashes(web_dir, "script"), inline_hashes(web_dir, "style")

    async def add_csp(request: web.Request, response: web.StreamResponse) -> None:
        if (
            response.content_type == "text/html"
            and "Content-Security-Policy" not in response.headers
        ):
            framed = request.path not in UNFRAMED
            response.headers["Content-Security-Policy"] = content_security_policy(
                request.host, scripts, styles, framed
            )

    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(add_csp)


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log without secrets: a ``token`` in the query is masked, and
    neither the Referer (which may carry one) nor any other header is written."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        url = request.rel_url
        if "token" in url.query:
            url = url.update_query(token="***")
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            url,
            response.status,
            response.body_length,
            time,
        )
