"""No import cycles among the ``tuimatrix.core`` modules.

A cycle makes two modules one: neither can be understood, tested or moved alone, and which
one loads first decides what works. Every import counts — at the top, inside a function
(where cycles hide) and under ``TYPE_CHECKING`` (a dependency on a type is still one).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import tuimatrix

ROOT = Path(tuimatrix.__file__).parent.parent

#: Cycles known to be broken elsewhere: each entry names its modules and why it is allowed.
KNOWN_CYCLES: dict[frozenset[str], str] = {
    # The store's schema migration v3 creates the relations table and indexes the events
    # already stored, with the indexing code itself (imported when the migration runs, once
    # per store): a second copy of that code in store.py would be worse than the cycle.
    frozenset({"tuimatrix.core.store", "tuimatrix.core.stored_relations"}): "migration v3",
}


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (dotted) under ``root``, by dotted name."""
    modules = {}
    for path in (root / package.replace(".", "/")).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules an import statement loads: ``from X import name`` means module ``X.name``
    if there is one, else module ``X`` (parent packages load too, but that is no dependency)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level:  # relative: resolved against this module's package
        parts = module.split(".")
        base = parts[: len(parts) - node.level + (1 if is_package else 0)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    names = (f"{target}.{alias.name}" for alias in node.names)
    return {name if name in modules else target for name in names}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports, anywhere in its code."""
    modules = module_files(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    known = set(modules)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            graph[name] |= _imported(node, name, is_package, known) & known
        graph[name].discard(name)
    return graph


def import_groups(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's strongly
    connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per group of modules that import each other, as a path that ends where it
    starts (``[a, b, a]``)."""
    return [_cycle_in(graph, group) for group in import_groups(graph)]


def _cycle_in(graph: Mapping[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group has one


def test_core_modules_import_no_cycles() -> None:
    graph = import_graph(ROOT, "tuimatrix.core")
    new = [
        f"{' -> '.join(_cycle_in(graph, group))}  (the group: {', '.join(sorted(group))})"
        for group in import_groups(graph)
        if frozenset(group) not in KNOWN_CYCLES
    ]
    assert not new, "import cycles in tuimatrix.core:\n" + "\n".join(new)


def test_known_cycles_still_exist() -> None:
    """An exception outlives its cycle only by mistake: then it must go."""
    found = {frozenset(group) for group in import_groups(import_graph(ROOT, "tuimatrix.core"))}
    stale = [sorted(modules) for modules in KNOWN_CYCLES if modules not in found]
    assert not stale, f"these cycles are gone: drop them from KNOWN_CYCLES: {stale}"


def test_the_account_and_its_helpers_depend_one_way() -> None:
    """Account uses history, key backup, key export, recovery and signed_out; they see it
    only as an ``AccountLike`` (issue 13)."""
    graph = import_graph(ROOT, "tuimatrix.core")
    helpers = ["history", "e2ee.key_backup", "e2ee.key_export", "e2ee.recovery", "signed_out"]
    for helper in helpers:
        assert "tuimatrix.core.account" not in graph[f"tuimatrix.core.{helper}"], helper


# -- the finder itself, on a made-up package -------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"pkg/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": "def f():\n    from pkg import a\n    return a\n",
        },
    )
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_a_cycle_through_type_checking_imports_is_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.c import C\n"
            ),
            "pkg/c.py": "from .a import x\n",
        },
    )
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_one_way_imports_and_outside_modules_are_no_cycle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/a.py": "import os\nfrom pkg.sub import b\n",
            "pkg/sub/__init__.py": "from . import b\n",
            "pkg/sub/b.py": "from pkg.c import y\nimport json\n",
            "pkg/c.py": "",
        },
    )
    graph = import_graph(root, "pkg")
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert import_cycles(graph) == []
