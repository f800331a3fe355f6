"""The daemon's layout is its data flow: stage packages in the order a record meets them.

Walks the imports of every module of ``daemon/logmarketd/`` (module level and inside
functions) and fails on an import of a later stage, on an import cycle between modules, and on
a module-level import of the daemon in the client package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DAEMON = REPO / "daemon" / "logmarketd"
CLIENT = REPO / "src" / "logmarket"

# A record meets them in this order; a stage may import the ones before it, never after.
STAGES = ["store", "ingest", "transform", "analysis", "market", "serve"]
# Wiring: they build every stage and connect them, so they may import any.
WIRING = {"logmarketd.main", "logmarketd.service", "logmarketd.__main__", "logmarketd.flow"}


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def modules(root: Path, package: str) -> dict[str, Path]:
    return {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}


def imports(path: Path, name: str, *, module_level_only: bool = False) -> set[str]:
    """Absolute names of the modules ``path`` imports (``from a import b``: ``a.b`` if that is a
    module, else ``a``). Imports under ``if TYPE_CHECKING:`` count: a type is a dependency."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = list(_module_level(tree)) if module_level_only else list(ast.walk(tree))
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _module_level(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes run at import: everything but the bodies of functions."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield child
            yield from _module_level(child)


def stage_of(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1])
    return None


def daemon_graph() -> dict[str, set[str]]:
    mods = modules(DAEMON, "logmarketd")
    return {
        name: {i for i in imports(path, name) if i in mods} - {name} for name, path in mods.items()
    }


def test_every_stage_package_exists() -> None:
    for stage in STAGES:
        assert (DAEMON / stage / "__init__.py").is_file(), f"stage package {stage}/ is missing"


def test_no_module_imports_a_later_stage() -> None:
    backwards = []
    for name, deps in daemon_graph().items():
        if name in WIRING:
            continue
        mine = stage_of(name)
        for dep in sorted(deps):
            theirs = stage_of(dep)
            if theirs is None:
                continue
            if mine is None:
                backwards.append(f"{name} (shared, imports no stage) imports {dep}")
            elif theirs > mine:
                backwards.append(f"{name} ({STAGES[mine]}) imports {dep} ({STAGES[theirs]})")
    assert not backwards, "\n".join(backwards)


def test_nothing_but_wiring_imports_the_wiring() -> None:
    offenders = [
        f"{name} imports {dep}"
        for name, deps in daemon_graph().items()
        if name not in WIRING
        for dep in deps
        if dep in WIRING
    ]
    assert not offenders, "\n".join(offenders)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between modules (a package importing its own submodules is not one)."""
    edges = {
        n: {d for d in deps if not d.startswith(n + ".") and not n.startswith(d + ".")}
        for n, deps in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle(daemon_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(modules(CLIENT, "logmarket")))
def test_client_module_does_not_import_the_daemon_at_module_level(name: str) -> None:
    path = modules(CLIENT, "logmarket")[name]
    daemon = sorted(
        i for i in imports(path, name, module_level_only=True) if i.split(".")[0] == "logmarketd"
    )
    assert not daemon, f"{name} imports {daemon} at module level"


# Detectors written as one table of patterns and their findings read best whole.
LONG_BY_DESIGN: set[str] = set()
MAX_FUNCTION_LINES = 60


def test_no_function_is_longer_than_sixty_lines() -> None:
    long = []
    for root, package in ((DAEMON, "logmarketd"), (CLIENT, "logmarket")):
        for name, path in modules(root, package).items():
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{name}.{node.name}"
                if lines > MAX_FUNCTION_LINES and where not in LONG_BY_DESIGN:
                    long.append(f"{where}: {lines} lines")
    assert not long, "\n".join(sorted(long))
