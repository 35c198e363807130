"""The layers hold in the imports: read from the source with ``ast``, not by importing.

::

    cli        the command line: wires the service and the workers together
     ├── service    the aiohttp app             ─┐ neither imports the other
     ├── workers    captioner, poster, archiver ─┘
     └── bench      benchmarks (may import anything but cli)
    companion  the core every layer imports; it imports none of them

Every import counts, also one inside a function: a lazy import is still a dependency.
Module-level imports (outside ``if TYPE_CHECKING:``) must not form a cycle, and no
source module may grow past ``MAX_LINES``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import REPO

PACKAGES = ("cli", "companion", "service", "workers", "bench")
FORBIDDEN = {
    "companion": {"cli", "service", "workers", "bench"},
    "service": {"cli", "workers", "bench"},
    "workers": {"cli", "service", "bench"},
    "bench": {"cli"},
    "cli": set(),
}
MAX_LINES = 600


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def imported(tree: ast.AST, module: str, top_level_only: bool = False) -> Iterator[str]:
    """The modules ``tree`` imports (absolute names; relative imports resolved)."""
    nodes: list[ast.AST]
    if top_level_only:
        nodes = []
        for node in tree.body if isinstance(tree, ast.Module) else []:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes.append(node)
    else:
        nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level or None]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def test_no_layer_imports_one_it_must_not() -> None:
    wrong = []
    for module, path in modules():
        layer = module.split(".")[0]
        for name in imported(ast.parse(path.read_text(encoding="utf-8")), module):
            if name.split(".")[0] in FORBIDDEN[layer]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_module_level_imports_form_no_cycle() -> None:
    known = dict(modules())
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {n for n in imported(tree, module, top_level_only=True) if n in known}
        graph[module].discard(module)
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_source_module_is_over_the_limit() -> None:
    long = {
        module: n
        for module, path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_layer_walk_sees_lazy_and_relative_imports() -> None:
    tree = ast.parse("def f():\n    from service.app import create_app\nfrom . import keys\n")
    assert set(imported(tree, "service.health")) >= {"service.app", "service.keys"}
    assert "service.app" not in set(imported(tree, "service.health", top_level_only=True))
