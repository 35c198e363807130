"""Source addresses safe to show: what a public endpoint or a log line may say.

An audio source address can carry a secret: a password in its user info
(``http://user:PASSWORD@host/…``), an SRT passphrase or stream id, a key or token in
its query (``?passphrase=…``, ``?token=…``), an RTMP stream key as the last part of
its path (``rtmp://host/live/STREAM-KEY``). ``redact_source`` masks each with
``***`` and keeps the rest (scheme, host, port, path), so an organizer can still tell
which source failed. ``redact_text`` does the same to every address inside a text,
such as an error message that quotes one (PyAV's do). Pure.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "key",
        "passphrase",
        "pass",
        "password",
        "pwd",
        "secret",
        "sig",
        "signature",
        "streamid",
        "token",
    }
)
STREAM_KEY_SCHEMES = frozenset({"rtmp", "rtmps", "rtmpt", "rtmpe"})
_ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def redact_source(spec: str) -> str:
    """``spec`` with its secrets masked; a plain path or device is returned as it is."""
    if "://" not in spec:
        return spec
    try:
        parts = urlsplit(spec)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            masked = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
            query = urlencode(masked, safe="*")
        path = parts.path
        if parts.scheme.lower() in STREAM_KEY_SCHEMES and path.count("/") >= 2:
            path = path.rsplit("/", 1)[0] + "/" + MASK  # rtmp://host/app/KEY
        return urlunsplit((parts.scheme, netloc, path, query, parts.fragment and MASK))
    except ValueError:  # not parseable as a URL: show only its scheme
        return spec.split("://", 1)[0] + "://" + MASK


def redact_text(text: str) -> str:
    """``text`` with every address in it passed through ``redact_source``."""
    return _ADDRESS.sub(lambda m: redact_source(m.group(0)), text)
