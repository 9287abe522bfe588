"""The shape of the packages: no import cycles, and endpoints import helpers, never each other.

Read from the source with ``ast`` (nothing is imported). An *endpoint module* is one that
defines a module-level ``router`` (the FastAPI ``APIRouter`` its routes hang on); ``app.py``
is where they are composed and may import them all. Imports under ``if TYPE_CHECKING:`` are
annotations only and are left out; imports inside functions count, since they run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSITION_ROOTS = {"auth_server.app", "resource_server.app"}


def _modules(package: str) -> dict[str, ast.Module]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): ast.parse(path.read_text(), str(path))
        for path in sorted((ROOT / package).rglob("*.py"))
        if ".venv" not in path.parts
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (name for child in node.orelse for name in _imports(ast.Module([child], [])))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from auth_server import paths` imports the module auth_server.paths
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        yield from _imports(node)


def import_graph(*packages: str) -> dict[str, set[str]]:
    modules: dict[str, ast.Module] = {}
    for package in packages:
        modules |= _modules(package)
    graph = {}
    for name, tree in modules.items():
        targets = {target.removesuffix(".__init__") for target in _imports(tree)}
        graph[name.removesuffix(".__init__")] = {
            t for t in targets if t in modules or f"{t}.__init__" in modules
        }
    return {name: {t for t in targets if t != name} for name, targets in graph.items()}


def cycles(graph: dict[str, set[str]], within: str) -> list[list[str]]:
    """Every cycle through modules of ``within`` (one path per cycle found by a depth-first walk)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node.startswith(within) and node not in state:
            visit(node, [node])
    return [cycle for cycle in found if any(step.startswith(within) for step in cycle)]


def endpoint_modules(package: str) -> set[str]:
    def defines_router(tree: ast.Module) -> bool:
        return any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "router" for t in node.targets)
            for node in tree.body
        )

    return {name for name, tree in _modules(package).items() if defines_router(tree)}


GRAPH = import_graph("auth_server", "resource_server", "shared")


def test_the_graph_sees_real_imports() -> None:
    # Guards the test itself: were the parsing wrong, every check below would pass vacuously.
    assert "auth_server.errors" in GRAPH["auth_server.token"]
    assert "auth_server.paths" in GRAPH["auth_server.metadata"]
    assert {"auth_server.token", "auth_server.authorize"} <= endpoint_modules("auth_server")
    assert cycles({"a.x": {"a.y"}, "a.y": {"a.x"}}, "a.") == [["a.x", "a.y", "a.x"]]


@pytest.mark.parametrize("package", ["auth_server", "shared"])
def test_no_import_cycles(package: str) -> None:
    assert cycles(GRAPH, package + ".") == []


# resource_server is being reshaped; once its endpoints are modules of their own, tighten
# this to the endpoint rule below as well (add it to the parametrize of that test).
def test_no_import_cycles_in_resource_server() -> None:
    assert cycles(GRAPH, "resource_server.") == []


@pytest.mark.parametrize("package", ["auth_server"])
def test_endpoints_import_helpers_never_each_other(package: str) -> None:
    endpoints = endpoint_modules(package)
    assert endpoints, f"no endpoint modules found in {package}"
    crossings = {
        module: sorted(GRAPH[module] & endpoints)
        for module in sorted(endpoints)
        if module not in COMPOSITION_ROOTS and GRAPH[module] & endpoints
    }
    assert crossings == {}


def test_only_the_app_imports_endpoints() -> None:
    endpoints = endpoint_modules("auth_server")
    importers = {
        module
        for module, targets in GRAPH.items()
        if module.startswith("auth_server.") and targets & endpoints and module not in COMPOSITION_ROOTS
    }
    assert importers == set(), sorted(importers)
