"""The package's modules form no import cycle, type-only imports included (docs/architecture.md:
data flows one way, so a module never needs one that needs it back)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "genoseg"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        deps = set()
        for node in tree.body:  # imports run at import time, or under `if TYPE_CHECKING:`
            for inner in ast.walk(node) if isinstance(node, (ast.If, ast.ImportFrom, ast.Import)) else ():
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("genoseg"):
                    deps.add(inner.module)
                elif isinstance(inner, ast.Import):
                    deps.update(a.name for a in inner.names if a.name.startswith("genoseg"))
        graph[_module_name(path)] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if dep == node or dep not in graph:
                continue
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep] if dep in path else [node, dep]
            if dep not in state and (found := visit(dep, path + [dep])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_package_has_no_import_cycle():
    graph = _top_level_graph()
    assert {"genoseg.genes.sites", "genoseg.genes.site_models", "genoseg.genes.columns"} <= graph.keys()
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
