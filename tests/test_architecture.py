"""The import contract: core/ is the Matrix layer and never pulls in the UI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tuimatrix

CORE = Path(tuimatrix.__file__).parent / "core"


def test_core_never_imports_textual() -> None:
    modules = sorted(f"tuimatrix.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__")
    assert "tuimatrix.core.account" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_sources_have_no_textual_import() -> None:
    """Also catches imports inside functions, which the subprocess check may not reach."""
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in ("textual", "tuimatrix.app"), (path, name)
                assert not name.startswith(("tuimatrix.screens", "tuimatrix.widgets")), path
