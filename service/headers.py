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
never reach it. A Content-Security-Policy is not set yet: the pages' inline scripts and YouTube's
player would need one written and tested page by page.
"""

from __future__ import annotations

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


def install(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)


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
