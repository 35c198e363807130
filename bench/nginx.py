"""Debian's nginx in front of a service, running the shipped ``deploy/nginx/nginx.conf``
(for ``companion bench cdn`` and the tests).

The shipped file is copied unchanged into a directory of the test's own, beside an
``upstream.conf`` (the service's address) and a ``listen.conf`` (a free port on
loopback) written here: those two includes are all a deployment changes, so what the
tests run is what the repository ships. Everything nginx writes (pid, logs, temp and
cache directories) is under that directory, its ``-p`` prefix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.drill_parts import REPO, free_port
from companion.errors import CompanionError

CONF = REPO / "deploy" / "nginx" / "nginx.conf"
READY_WITHIN = 10.0


def nginx_binary() -> str:
    """Debian's nginx (``/usr/sbin``, often not on a non-root PATH); fails when missing."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        raise NginxError("nginx is missing: apt-get install nginx (scripts/test does)")
    return found


class NginxError(CompanionError):
    """nginx is missing, or did not start (its error log's end says why)."""


@dataclass(frozen=True)
class Nginx:
    url: str
    prefix: Path
    pid: int

    def access_log(self) -> str:
        return (self.prefix / "logs" / "access.log").read_text(errors="replace")


@contextlib.contextmanager
def nginx_in_front(
    directory: Path, upstreams: Sequence[str], without: Sequence[str] = ()
) -> Iterator[Nginx]:
    """nginx on a free loopback port proxying to ``upstreams`` (``host:port``), until
    the block ends; ``without``: directives whose lines are left out (a control run to
    show what they do; never in a test of the shipped file)."""
    prefix = directory / "nginx"
    for sub in ("logs", "temp", "cache"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    lines = CONF.read_text(encoding="utf-8").splitlines(keepends=True)
    left_out = [line for line in lines if line.split() and line.split()[0] in without]
    assert len(left_out) == len(without), f"not all of {without} in {CONF}"
    conf.write_text("".join(line for line in lines if line not in left_out), encoding="utf-8")
    (prefix / "upstream.conf").write_text(
        "".join(f"server {address};\n" for address in upstreams), encoding="utf-8"
    )
    port = free_port()
    (prefix / "listen.conf").write_text(f"listen 127.0.0.1:{port};\n", encoding="utf-8")
    # As root, nginx's workers would run as nobody, who may not enter the test's directory.
    globals_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    command = [nginx_binary(), "-p", f"{prefix}/", "-c", str(conf), "-e", "logs/error.log"]
    proc = subprocess.Popen(
        [*command, "-g", globals_], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + READY_WITHIN
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = prefix / "logs" / "error.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                raise NginxError(f"nginx did not start: {text[-2000:]}")
            time.sleep(0.05)
        yield Nginx(f"http://127.0.0.1:{port}", prefix, proc.pid)
    finally:
        proc.terminate()  # SIGTERM: a fast shutdown
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
