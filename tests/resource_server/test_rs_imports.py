"""The RS's modules import each other in one direction only: no import cycles.

A cycle means two modules are one module in two files, and it is one refactoring away from an
``ImportError`` at start-up. The graph is read from the source (``ast``), ``TYPE_CHECKING``
imports included, so a cycle hidden from the interpreter still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "resource_server"


def _imports_of(path: Path, modules: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [alias.name for alias in node.names]
            elif node.module and node.module.startswith("resource_server"):
                names = node.module.split(".")[1:2] or [alias.name for alias in node.names]
            else:
                continue
            found.update(name.split(".")[0] for name in names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("resource_server."))
    return found & modules


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_resource_server() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    graph = {path.stem: _imports_of(path, modules) - {path.stem} for path in PACKAGE.glob("*.py")}
    assert graph["app"], "the graph reader found no imports at all"
    assert _cycle(graph) is None
