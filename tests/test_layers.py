"""The layers, read from the source: no import cycle anywhere in lpe_nb (lazy imports inside functions count
too), and the arrows point down ARCHITECTURE.md's order: widgets -> client -> operations -> jobs, llm."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import lpe_nb

ROOT = Path(lpe_nb.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["lpe_nb", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every lpe_nb module imported anywhere in ``tree`` (but under ``if TYPE_CHECKING``)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("lpe_nb"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.startswith("lpe_nb"):
                for alias in node.names:  # `from pkg import module` imports the submodule
                    yield (
                        f"{base}.{alias.name}"
                        if (ROOT.parent / f"{base}.{alias.name}".replace(".", "/")).exists()
                        or (ROOT.parent / (f"{base}.{alias.name}".replace(".", "/") + ".py")).exists()
                        else base
                    )


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = {
            target for target in _imports(tree, module, path.name == "__init__.py") if target != module
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _edges(graph: dict[str, set[str]], source: str, target: str) -> list[tuple[str, str]]:
    return sorted(
        (module, imported)
        for module, imports in graph.items()
        if module == source or module.startswith(source + ".")
        for imported in imports
        if imported == target or imported.startswith(target + ".")
    )


def test_no_import_cycle_anywhere() -> None:
    graph = import_graph()
    assert graph.get("lpe_nb.client._async_client")  # the graph is real
    assert _cycles(graph) == []


def test_the_client_never_imports_the_widgets() -> None:
    assert _edges(import_graph(), "lpe_nb.client", "lpe_nb.widgets") == []


def test_the_widgets_import_only_the_client_of_the_engine() -> None:
    graph = import_graph()
    for lower in ("lpe_nb.jobs", "lpe_nb.operations", "lpe_nb.embedded", "lpe_nb.llm", "lpe_nb.server_ext"):
        assert _edges(graph, "lpe_nb.widgets", lower) == []
    assert _edges(graph, "lpe_nb.widgets", "lpe_nb.client")  # and they do use it


def test_the_engine_never_imports_a_layer_above_it() -> None:
    graph = import_graph()
    for lower, upper in [
        ("lpe_nb.jobs", "lpe_nb.operations"),
        ("lpe_nb.jobs", "lpe_nb.llm"),
        ("lpe_nb.jobs", "lpe_nb.server_ext"),
        ("lpe_nb.jobs", "lpe_nb.client"),
        ("lpe_nb.llm", "lpe_nb.jobs"),
        ("lpe_nb.operations", "lpe_nb.client"),
        ("lpe_nb.operations", "lpe_nb.server_ext"),
        ("lpe_nb.server_ext", "lpe_nb.client"),
        ("lpe_nb.server_ext", "lpe_nb.widgets"),
    ]:
        assert _edges(graph, lower, upper) == [], f"{lower} imports {upper}"


def test_the_graph_sees_a_planted_cycle() -> None:
    graph = {"lpe_nb.a": {"lpe_nb.b"}, "lpe_nb.b": {"lpe_nb.c"}, "lpe_nb.c": {"lpe_nb.a"}, "lpe_nb.d": set()}
    assert _cycles(graph) == [["lpe_nb.a", "lpe_nb.b", "lpe_nb.c"]]
