"""The import contract: core/ is the Matrix layer and never pulls in the UI, and the command
line (``exec``, ``shell``) runs the one command registry without loading Textual."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import tuimatrix

PACKAGE = Path(tuimatrix.__file__).parent
CORE = PACKAGE / "core"

#: Textual and everything built on it: what neither core nor the command line may load.
UI = ("textual", "tuimatrix.app", "tuimatrix.screens", "tuimatrix.widgets", "tuimatrix.ui")
#: Core also never reaches up into what sits on it: the front ends, the command registry, and
#: config.py (which checks key bindings against the registry); what core needs of the settings
#: is passed down to it. Of the rest of the package it uses paths.py only.
CORE_FORBIDDEN = (*UI, "tuimatrix.cli", "tuimatrix.commands", "tuimatrix.config")
#: The command-line front ends (and the local Synapse the tests and the demo start), and what
#: they share with the app: the config reader and the on-disk locations.
COMMAND_LINE = [
    *(PACKAGE / "cli" / f"{name}.py" for name in ("exec", "shell", "completion", "accounts")),
    PACKAGE / "cli" / "localserver.py",
    PACKAGE / "config.py",
    PACKAGE / "paths.py",
]


def module_name(path: Path) -> str:
    """``…/tuimatrix/core/e2ee/sas.py`` → ``tuimatrix.core.e2ee.sas`` (a package: its name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package a module's relative imports start from."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(source: str, package: str) -> Iterator[str]:
    """Every module ``source`` may import, anywhere in it (in functions and under
    ``TYPE_CHECKING`` too), as absolute names; ``from A import b`` gives ``A`` and ``A.b``,
    since ``b`` may be a module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: level 1 is the package itself, 2 its parent…
                parts = package.split(".")
                parent = parts[: len(parts) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def within(name: str, prefixes: Iterable[str]) -> bool:
    """``name`` is one of ``prefixes`` or inside one (by whole components: not ``textualize``)."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def forbidden_imports(source: str, package: str, forbidden: Iterable[str]) -> list[str]:
    """The modules ``source`` imports that it must not, each named once (``textual.widgets``,
    not also ``textual.widgets.Static``)."""
    forbidden = tuple(forbidden)
    found = {name for name in imported_names(source, package) if within(name, forbidden)}
    return sorted(name for name in found if not within(name.rpartition(".")[0], found))


def loaded_after(code: str, prefixes: Iterable[str]) -> list[str]:
    """The modules within ``prefixes`` that a fresh interpreter has loaded after ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"prefixes = {tuple(prefixes)!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if any(m == p or m.startswith(p + '.') for p in prefixes))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def core_modules() -> list[Path]:
    """Every module of core, sub-packages (e2ee/, operations/…) included."""
    return sorted(CORE.rglob("*.py"))


# -- the checker itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "import tuimatrix.app",
        "from tuimatrix.app import TuimatrixApp",
        "from tuimatrix import app",
        "import tuimatrix.app as the_app",
        "def later() -> None:\n    from tuimatrix.app import TuimatrixApp\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tuimatrix.app import X\n",
        "from ...app import TuimatrixApp",  # relative, from tuimatrix.core.e2ee
    ],
)
def test_the_checker_catches_core_importing_the_app(source: str) -> None:
    """What the old check missed: it compared ``name.split(".")[0]`` with "tuimatrix.app"."""
    assert forbidden_imports(source, "tuimatrix.core.e2ee", CORE_FORBIDDEN) == ["tuimatrix.app"]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import textual", ["textual"]),
        ("from textual import events", ["textual"]),
        ("from textual.widgets import Static", ["textual.widgets"]),
        ("from tuimatrix.screens.room import RoomScreen", ["tuimatrix.screens.room"]),
        ("from tuimatrix.widgets import timeline", ["tuimatrix.widgets"]),
        ("from tuimatrix.ui.keymap import describe", ["tuimatrix.ui.keymap"]),
        ("from tuimatrix import ui, widgets", ["tuimatrix.ui", "tuimatrix.widgets"]),
        ("from ..ui import keymap", ["tuimatrix.ui"]),  # relative, from tuimatrix.core
        ("from tuimatrix.commands import parse_line", ["tuimatrix.commands"]),
        ("from tuimatrix.cli import exec", ["tuimatrix.cli"]),
        ("from tuimatrix.config import load_config", ["tuimatrix.config"]),
        ("from tuimatrix import config", ["tuimatrix.config"]),
        ("import json\nimport textual.app\nimport tuimatrix.app", ["textual.app", "tuimatrix.app"]),
    ],
)  # fmt: skip
def test_the_checker_catches_every_forbidden_import(source: str, found: list[str]) -> None:
    assert forbidden_imports(source, "tuimatrix.core", CORE_FORBIDDEN) == found


@pytest.mark.parametrize(
    "source",
    [
        "import textwrap",
        "import textualize",
        "from tuimatrix.application import x",
        "from tuimatrix.core.sync import SyncChanges",
        "from tuimatrix.core import e2ee",
        "from .sync import SyncChanges",
        "from ..paths import Paths",
        "from tuimatrix.configuration import x",
        "from tuimatrix import paths",
        "from rich.text import Text",
    ],
)
def test_the_checker_lets_core_use_core_paths_and_rich(source: str) -> None:
    assert forbidden_imports(source, "tuimatrix.core", CORE_FORBIDDEN) == []


def test_the_checker_names_modules_and_packages() -> None:
    assert module_name(CORE / "e2ee" / "sas.py") == "tuimatrix.core.e2ee.sas"
    assert module_name(CORE / "e2ee" / "__init__.py") == "tuimatrix.core.e2ee"
    assert package_of(CORE / "e2ee" / "sas.py") == "tuimatrix.core.e2ee"
    assert package_of(CORE / "e2ee" / "__init__.py") == "tuimatrix.core.e2ee"
    assert package_of(CORE / "sync.py") == "tuimatrix.core"


# -- the contract ------------------------------------------------------------------------------


def test_core_sources_have_no_textual_import() -> None:
    """Nor of the app, screens, widgets, ui, cli, commands or config. Also catches imports
    inside functions, which the subprocess check may not reach."""
    names = {module_name(path) for path in core_modules()}
    assert {"tuimatrix.core.account", "tuimatrix.core.e2ee.crypto"} <= names  # sub-packages too
    bad = {
        module_name(path): found
        for path in core_modules()
        if (found := forbidden_imports(path.read_text("utf-8"), package_of(path), CORE_FORBIDDEN))
    }
    assert bad == {}


def test_core_never_imports_textual() -> None:
    """Nor the app, screens, widgets, ui, cli, commands or config: importing every core module
    (in a fresh interpreter) loads none of them."""
    code = "".join(f"import {module_name(path)}\n" for path in core_modules())
    assert loaded_after(code, CORE_FORBIDDEN) == []


def test_command_line_sources_import_no_textual() -> None:
    """exec, shell, their completion, the accounts commands, the local server, config.py and
    paths.py: not even lazily."""
    bad = {
        module_name(path): found
        for path in COMMAND_LINE
        if (found := forbidden_imports(path.read_text("utf-8"), package_of(path), UI))
    }
    assert bad == {}


def test_exec_loads_the_command_registry_without_textual() -> None:
    """What ``tuimatrix exec LINE`` does before it opens an account: the entry point, the config
    file, every command module, and the line parsed against the registry."""
    code = (
        "import tuimatrix.__main__\n"
        "from tuimatrix.cli import accounts, completion, exec, shell\n"
        "from tuimatrix.config import load_config, read_config_file\n"
        "from tuimatrix.commands import load_commands, parse_line\n"
        "from tuimatrix.paths import get_paths\n"
        "read_config_file(get_paths().config_file)\n"
        "load_commands()\n"
        "parse_line('send hello')\n"
        "parse_line('create-room Team --topic plans')\n"
    )
    assert loaded_after(code, UI) == []
