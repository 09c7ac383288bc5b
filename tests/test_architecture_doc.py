"""docs/architecture.md stays true: every module it names exists, every function it names
is defined where it says, and it answers the questions it promises to answer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "tuimatrix"

#: `path.py` or `dir/`, optionally followed by `name` (a function, class or constant in it)
NAMED = re.compile(r"`([\w/]+(?:\.py|/))`(?:\s+`(\w+)`)?")


def _resolve(name: str) -> list[Path]:
    """Where a named path may live: from the repository's root, from the package, or (a bare
    file name in a package's row) anywhere in the package."""
    if name.startswith(("tuimatrix/", "tests/", "benchmarks/", "docs/")):
        return [ROOT / name]
    if "/" in name.rstrip("/"):
        return [PACKAGE / name]
    return [PACKAGE / name, *PACKAGE.rglob(name)]


def _defines(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False


def named() -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in NAMED.finditer(DOC.read_text("utf-8"))]


def test_the_doc_names_modules() -> None:
    # The check below is only worth something if the pattern finds what the doc names.
    names = {path for path, _ in named()}
    assert {"core/sync.py", "core/relations/edits.py", "core/operations/tags.py"} <= names


@pytest.mark.parametrize(("path", "symbol"), sorted(set(named()), key=str))
def test_every_named_module_exists(path: str, symbol: str | None) -> None:
    found = [p for p in _resolve(path) if p.exists()]
    assert found, f"docs/architecture.md names {path}, which does not exist"
    if symbol is not None:
        assert any(_defines(p, symbol) for p in found if p.is_file()), (
            f"docs/architecture.md says {path} defines {symbol}"
        )


def test_the_doc_answers_where_things_happen() -> None:
    text = DOC.read_text("utf-8")
    for question in (
        "Where is a reply rendered?",
        "Which edit of a message is shown?",
        "Where is the sync token committed?",
        "Where is a tag toggle sent?",
        "Where are user key bindings installed?",
    ):
        assert f"**{question}**" in text, question


def test_the_checker_catches_a_module_that_does_not_exist() -> None:
    assert not any(p.exists() for p in _resolve("core/no_such_module.py"))
    assert _defines(PACKAGE / "core" / "sync.py", "apply_sync")
    assert not _defines(PACKAGE / "core" / "sync.py", "no_such_function")
