"""The one exception tree and the one table that answers it (``companion/errors.py``,
``service/errors.py``).

Every exception class the project defines must be a ``CompanionError``: a walk of the
source with ``ast`` finds them all, wherever they are. Every ``CompanionError`` has an
HTTP status and a close code in ``service.errors.ANSWERS``, and what the routes answer
is what the table says.
"""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from companion import errors as core
from companion.bus.memory import MemoryBus
from companion.config import EventConfig
from companion.errors import (
    ArchiveUnavailableError,
    BadRequestError,
    BusUnavailableError,
    CompanionError,
    ProgrammeError,
    ProtocolError,
    Refused,
    TokenRefusedError,
    TokenRequiredError,
    TooLargeError,
    TooManyBadFrames,
    TranscriptError,
)
from service.app import create_app
from service.auth import Tokens
from service.errors import ANSWERS, ROOT, answer_for, close_for, error_code, http_error
from service.protocol import CLOSE_CODES
from service.settings import ServiceSettings
from tests.support import booths as booths_app
from tests.support.archive_config import archive_config
from tests.support.paths import REPO

PACKAGES = ("cli", "companion", "service", "workers", "bench")
TREE_ROOT = "companion.errors.CompanionError"
MOVED = {  # the exceptions that lived outside the tree, and where they were
    "Refused": "companion.booths",
    "GlossaryError": "companion.glossary",
    "ProtocolError": "service.protocol",
    "TooManyBadFrames": "service.booth_audio",
    "QuotaRefused": "service.youtube.ledger",
    "LostClaim": "workers.poster.poster",
    "OutboxError": "workers.poster.format",
    "ArchiveLockedError": "workers.archiver.store",
}


# ------------------------------------------------------------------ the source walk
@dataclass
class Module:
    name: str
    classes: dict[str, ast.ClassDef]
    imports: dict[str, str]  # local name -> dotted target


@dataclass
class Source:
    """Every class of a set of packages, with its bases resolved through the imports."""

    modules: dict[str, Module] = field(default_factory=dict)
    _exception: dict[str, bool] = field(default_factory=dict)
    _in_tree: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path, packages: tuple[str, ...]) -> Source:
        source = cls()
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = list(path.relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                name = ".".join(parts)
                tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
                classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
                source.modules[name] = Module(name, classes, _imports(tree, name, path))
        return source

    def classes(self) -> Iterator[str]:
        for module in self.modules.values():
            for name in module.classes:
                yield f"{module.name}.{name}"

    def bases(self, qualname: str) -> list[str]:
        module_name, _, name = qualname.rpartition(".")
        module = self.modules[module_name]
        found = []
        for base in module.classes[name].bases:
            dotted = _dotted(base)
            if dotted is not None:
                found.append(self._qualify(module, dotted))
        return found

    def _qualify(self, module: Module, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        if head in module.imports:
            target = module.imports[head]
        elif head in module.classes:
            target = f"{module.name}.{head}"
        else:
            target = f"builtins.{head}"
        return f"{target}.{rest}" if rest else target

    def project_class(self, qualname: str, seen: frozenset[str] = frozenset()) -> str | None:
        """``qualname`` as the class the project defines, following re-exports."""
        module_name, _, name = qualname.rpartition(".")
        module = self.modules.get(module_name)
        if module is None or qualname in seen:
            return None
        if name in module.classes:
            return qualname
        if name in module.imports:
            return self.project_class(module.imports[name], seen | {qualname})
        return None

    def is_exception(self, qualname: str) -> bool:
        if qualname not in self._exception:
            self._exception[qualname] = False  # a cycle is no exception
            self._exception[qualname] = any(
                self.is_exception(own) if (own := self.project_class(base)) else _raises(base)
                for base in self.bases(qualname)
            )
        return self._exception[qualname]

    def in_tree(self, qualname: str) -> bool:
        if qualname == TREE_ROOT:
            return True
        if qualname not in self._in_tree:
            self._in_tree[qualname] = False
            self._in_tree[qualname] = any(
                (own := self.project_class(base)) is not None and self.in_tree(own)
                for base in self.bases(qualname)
            )
        return self._in_tree[qualname]

    def outside_tree(self) -> list[str]:
        return [q for q in self.classes() if self.is_exception(q) and not self.in_tree(q)]


def _imports(tree: ast.Module, module: str, path: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    names[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package.pop()
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    if isinstance(node, ast.Subscript):  # Generic[T], Protocol[T] …
        return _dotted(node.value)
    return None


def _raises(qualname: str) -> bool:
    """Whether the class ``qualname`` outside the project is an exception."""
    parts = qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part, None)
        return isinstance(found, type) and issubclass(found, BaseException)
    return False


@pytest.fixture(scope="module")
def source() -> Source:
    return Source.read(REPO, PACKAGES)


def test_every_exception_of_the_project_is_a_companion_error(source: Source) -> None:
    assert source.outside_tree() == []


def test_the_walk_finds_the_exceptions_wherever_they_are(source: Source) -> None:
    found = {q.rpartition(".")[2] for q in source.classes() if source.is_exception(q)}
    assert set(MOVED) | {"CompanionError", "RequestError", "YouTubeError"} <= found
    assert "Booth" not in found and "Tokens" not in found  # not every class is one


def test_the_walk_flags_an_exception_outside_the_tree(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from aiohttp import web\n"
        "from companion.errors import ConfigError\n"
        "class Bad(ValueError): ...\n"
        "class Good(ConfigError, ValueError): ...\n"
        "class Http(web.HTTPNotFound): ...\n"
        "class Plain: ...\n"
    )
    (package / "b.py").write_text(
        "from .a import Bad, Good\nclass AlsoBad(Bad): ...\nclass AlsoGood(Good): ...\n"
    )
    walk = Source.read(tmp_path, ("pkg",))
    walk.modules |= Source.read(REPO, ("companion",)).modules
    assert sorted(walk.outside_tree()) == ["pkg.a.Bad", "pkg.a.Http", "pkg.b.AlsoBad"]


@pytest.mark.parametrize(("name", "old"), sorted(MOVED.items()))
def test_the_moved_exceptions_keep_their_old_names(name: str, old: str) -> None:
    assert getattr(importlib.import_module(old), name) is getattr(core, name)


def test_what_callers_catch_still_catches() -> None:
    assert issubclass(core.GlossaryError, ValueError)
    assert issubclass(core.GlossaryError, core.ConfigError)
    locked = core.ArchiveLockedError("another archiver is writing /x")
    assert isinstance(locked, OSError) and str(locked) == "another archiver is writing /x"
    error = ProtocolError("flood", "slow down")
    assert (error.code, error.message, str(error)) == ("flood", "slow down", "flood: slow down")
    assert Refused("no").reason == "no"
    with pytest.raises(ValueError, match="unknown protocol error code"):
        ProtocolError("whatever", "no")


# ------------------------------------------------------------------ the table
def companion_errors(source: Source) -> list[type[CompanionError]]:
    """Every class of the tree the project defines, as a class (module level)."""
    found = []
    for qualname in source.classes():
        if source.in_tree(qualname):
            module, _, name = qualname.rpartition(".")
            cls = getattr(importlib.import_module(module), name)
            assert issubclass(cls, CompanionError)
            found.append(cls)
    return found


def test_every_companion_error_has_an_http_status_and_a_close_code(source: Source) -> None:
    classes = companion_errors(source)
    assert len(classes) > 20
    for cls in classes:
        answer = next(a for a in ANSWERS if a.when_code is None and issubclass(cls, a.error))
        assert 400 <= answer.status.status_code < 600, cls
        assert answer.close in CLOSE_CODES, cls


def test_the_rows_go_most_specific_first() -> None:
    for i, earlier in enumerate(ANSWERS):
        for later in ANSWERS[i + 1 :]:
            if earlier.when_code is None:
                assert not issubclass(later.error, earlier.error), (earlier, later)
    assert ANSWERS[-1] is ROOT and ROOT.error is CompanionError


@pytest.mark.parametrize(
    ("error", "close"),
    [
        (ProtocolError("too_large", "too big"), (1009, "message too big")),
        (ProtocolError("flood", "slow down"), (1008, "too many bad messages")),
        (
            BusUnavailableError("redis://secret-host refused"),
            (1013, "captions are unavailable for a moment: reconnect and resume"),
        ),
        (RuntimeError("a bug at /srv/secret"), (1011, "internal error: reconnect and resume")),
        (core.ConfigError("x.y: bad"), (1011, "internal error: reconnect and resume")),
        (TooManyBadFrames("odd"), (1008, "too many frames that are not 16-bit PCM")),
        (BadRequestError("no_console_source", "b does not take it"), (1008, "b does not take it")),
        (TokenRefusedError("wrong"), (1008, "sign in with your token")),
    ],
)
def test_close_for(error: BaseException, close: tuple[int, str]) -> None:
    assert close_for(error) == close


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (Refused("no handover is pending"), 409, ("refused", "no handover is pending")),
        (ProgrammeError("not running"), 409, ("programme", "not running")),
        (TranscriptError("no session 'x'"), 404, ("not_found", "no session 'x'")),
        (
            BadRequestError("bad_json", "the body is not JSON"),
            400,
            ("bad_json", "the body is not JSON"),
        ),
        (TokenRequiredError("a token is required"), 401, ("token_required", "a token is required")),
        (TokenRefusedError("not this one"), 403, ("token_refused", "not this one")),
        (
            BusUnavailableError("redis://secret"),
            503,
            ("bus_unavailable", "the event state is unavailable"),
        ),
        (
            ArchiveUnavailableError("/srv/secret"),
            503,
            ("archive_unavailable", "the archive is unavailable"),
        ),
        (core.YouTubeError("key=secret"), 500, ("internal_error", "internal error")),
    ],
)
def test_http_error(error: CompanionError, status: int, body: tuple[str, str]) -> None:
    answer = http_error(error)
    assert answer.status == status and answer.content_type == "application/json"
    assert answer.text is not None
    assert json.loads(answer.text) == {"error": body[0], "message": body[1]}


def test_only_the_root_row_goes_on_to_aiohttp() -> None:
    assert answer_for(core.ModelError("no model")) is ROOT
    assert answer_for(KeyError("x")) is ROOT
    assert answer_for(core.QuotaRefused("spent")) is ROOT
    assert answer_for(TooLargeError("big")).status is web.HTTPRequestEntityTooLarge


# ------------------------------------------------------------------ the routes
Client = TestClient[web.Request, web.Application]
ORG = "organizer-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def serving(
    config: EventConfig, tokens: Tokens, bus: MemoryBus | None = None
) -> AsyncIterator[Client]:
    app = create_app(
        ServiceSettings(channels=("ko", "en")), bus or MemoryBus(), tokens=tokens, config=config
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def answered(client: Client, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with client.request(method, path, **kw) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


def expected(error: CompanionError) -> tuple[int, dict[str, str]]:
    """The status and body the table gives ``error``."""
    answer = http_error(error)
    assert answer.text is not None
    return answer.status, json.loads(answer.text)


async def test_the_booth_routes_answer_as_the_table_says() -> None:
    kim = bearer(booths_app.KIM)
    action = "/api/booths/actions"
    async with serving(booths_app.event_config(), booths_app.TOKENS) as client:
        cases: list[tuple[CompanionError, str, str, dict[str, Any]]] = [
            (TokenRequiredError("an interpreter token is required"), "POST", action, {}),
            (
                TokenRefusedError("this token is not an interpreter's"),
                "POST",
                action,
                {"headers": bearer("x" * 20)},
            ),
            (
                BadRequestError("bad_message", 'send {"action": ..., "arg": ...} as JSON'),
                "POST",
                action,
                {"headers": kim, "data": "not json"},
            ),
            (
                Refused("no handover is pending"),
                "POST",
                action,
                {"headers": kim, "json": {"action": "accept"}},
            ),
            (TokenRequiredError("an organizer token is required"), "GET", "/api/admin/booths", {}),
            (
                TokenRefusedError("this token is not an organizer's"),
                "GET",
                "/api/admin/captioners",
                {"headers": kim},
            ),
        ]
        statuses = [401, 403, 400, 409, 401, 403]  # what the routes answered before the table
        for (error, method, path, kw), status in zip(cases, statuses, strict=True):
            answer = await answered(client, method, path, **kw)
            assert answer == expected(error) and answer[0] == status, error
        status, body = await answered(client, "POST", action, headers=kim, json={"action": "x"})
    assert (status, body) == (409, {"error": "refused", "message": "unknown action 'x'"})


class StateDownBus(MemoryBus):
    """A bus whose state cannot be read once ``down`` is set."""

    down = False

    async def get_state(self) -> dict[str, dict[str, Any]]:
        if self.down:
            raise BusUnavailableError("redis://secret-host:6379 is unreachable")
        return await super().get_state()


async def test_a_bus_that_cannot_answer_is_503() -> None:
    bus = StateDownBus()
    async with serving(booths_app.event_config(), booths_app.TOKENS, bus) as client:
        bus.down = True
        status, body = await answered(
            client, "GET", "/api/admin/captioners", headers=bearer(booths_app.ORG)
        )
    assert (status, body) == expected(BusUnavailableError("whatever"))
    assert (status, body["error"]) == (503, "bus_unavailable") and "secret" not in body["message"]


async def test_the_transcript_routes_answer_as_the_table_says(tmp_path: Path) -> None:
    org = bearer(ORG)
    async with serving(archive_config(tmp_path), Tokens(organizer=ORG)) as client:
        cases: list[tuple[CompanionError, str, str, dict[str, Any]]] = [
            (
                TranscriptError("no session 'nope' in the programme"),
                "GET",
                "/api/transcripts/nope/en.srt",
                {"headers": org},
            ),
            (
                ProgrammeError("session 'afternoon' is not running"),
                "POST",
                "/api/sessions/afternoon/end",
                {"headers": org},
            ),
            (
                BadRequestError("bad_json", "the body is not JSON"),
                "POST",
                "/api/sessions/morning/start",
                {"headers": org, "data": "not json"},
            ),
            (
                BadRequestError("bad_by", "'by' must be a name of 1 to 80 characters"),
                "POST",
                "/api/sessions/morning/start",
                {"headers": org, "json": {"by": ""}},
            ),
            (TokenRequiredError("an organizer token is required"), "GET", "/api/archive", {}),
        ]
        statuses = [404, 409, 400, 400, 401]
        for (error, method, path, kw), status in zip(cases, statuses, strict=True):
            answer = await answered(client, method, path, **kw)
            assert answer == expected(error) and answer[0] == status, error
    root = tmp_path / "archive-file"
    root.write_text("not a directory")
    async with serving(archive_config(root), Tokens(organizer=ORG)) as client:
        status, body = await answered(client, "POST", "/api/sessions/afternoon/start", headers=org)
    unavailable = {"error": "archive_unavailable", "message": "the archive is unavailable"}
    assert (status, body) == (503, unavailable)
    assert (status, body) == expected(ArchiveUnavailableError("/x: Not a directory"))


async def test_a_body_too_large_is_413(tmp_path: Path) -> None:
    async with serving(archive_config(tmp_path), Tokens(organizer=ORG)) as client:
        status, body = await answered(
            client, "POST", "/api/sessions/morning/start", headers=bearer(ORG), data="x" * 20_000
        )
    assert (status, body) == expected(TooLargeError("the body is too large"))


def test_the_code_of_a_request_error_comes_from_the_error_when_the_row_has_none() -> None:
    assert error_code(BadRequestError("bad_at", "when?")) == "bad_at"
    assert error_code(ProtocolError("unknown_channel", "no channel 'x'")) == "unknown_channel"
    assert error_code(TranscriptError("none")) == "not_found"
    assert error_code(ValueError("not ours")) == "internal_error"
    assert issubclass(TooManyBadFrames, core.RequestError)
