"""The house rules of the code's shape: layers import downwards only, no import cycles, files of one size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"
DOMAINS = ("server.auth", "server.chat", "server.iot", "server.calls", "server.people")
DOMAIN_FREE = ("server/realtime/", "server/storage/", "server/events/", "server/web/")
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SERVER.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every server module `path` imports, at module level or under TYPE_CHECKING (functions' imports aside)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from package import module` imports the module (and runs the package's __init__ first, which
                # the package's own imports account for); `from module import name` imports the module.
                submodules = {f"{base}.{alias.name}" for alias in node.names} & known
                found.update(submodules)
                if len(submodules) < len(node.names):
                    found.add(base)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_domain_free_layers_import_no_domain() -> None:
    graph, modules = import_graph(), _modules()
    wrong = [
        f"{name} imports {target}"
        for name, targets in graph.items()
        if any(str(modules[name].relative_to(ROOT)).startswith(prefix) for prefix in DOMAIN_FREE)
        for target in targets
        if target.startswith(DOMAINS)
    ]
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strong(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                strong(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(import_graph()) == []


@pytest.mark.parametrize("folder", ["server", "pwa/js"])
def test_files_of_one_size(folder: str) -> None:
    limit = MAX_LINES if folder == "server" else 400
    suffix = "*.py" if folder == "server" else "*.js"
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / folder).rglob(suffix)
        if (n := len(p.read_text().splitlines())) > limit
    }
    assert too_long == {}
