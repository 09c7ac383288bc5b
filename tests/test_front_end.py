"""Commands reach the UI only through their context's front end (``ctx.ui``).

Outside the app (``exec``, the shell) an app-only command is one clear usage line, before
anything is asked or opened; the registry loads without Textual.
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

import tuimatrix.commands
from tuimatrix.cli.shell import Shell
from tuimatrix.commands import Param, UsageError
from tuimatrix.commands.front_end import FrontEnd, NoScreens
from tuimatrix.commands.runner import run_line
from tuimatrix.core.accounts import Accounts
from tuimatrix.owner.attach import OwnerSession
from tuimatrix.paths import get_paths

COMMANDS_DIR = Path(tuimatrix.commands.__file__).parent
#: the script pip installed, as a user runs it (else the module, where none is beside python)
_SCRIPT = Path(sys.executable).with_name("tuimatrix")
BINARY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tuimatrix"]

#: app-only command lines, complete (so nothing but the front end is missing)
APP_ONLY = [
    "room-list",
    "keys",
    "open-room '#somewhere:example.org'",
    "open-thread '$root' --room '!r:example.org'",
    "view-image '$image' --room '!r:example.org'",
    "set-format irc --room '!r:example.org'",
    "jump-to-latest --room '!r:example.org'",
]


@pytest.mark.parametrize("line", APP_ONLY)
def test_an_app_only_command_in_exec_is_one_usage_line_and_exit_2(line: str) -> None:
    # No session is saved: the refusal comes before any account is opened.
    result = subprocess.run(
        [*BINARY, "exec", line], input="", capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    command_id = line.split()[0]
    assert result.stderr.splitlines() == [f"tuimatrix: {command_id} works only in the app"]


class AskingFails:
    """An interactive context that must not be asked anything (nor show anything)."""

    interactive = True
    ui: FrontEnd = NoScreens()

    def __init__(self) -> None:
        self.accounts = Accounts(get_paths())

    def current(self) -> tuple[Any, str | None]:
        return None, None

    async def choose_room(self, title: str, account: Any) -> Any:
        raise AssertionError(f"asked: {title}")

    async def choose_account(self, title: str) -> Any:
        raise AssertionError(f"asked: {title}")

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        raise AssertionError(f"asked: {title}")

    async def confirm(self, question: str) -> bool:
        raise AssertionError(f"asked: {question}")

    async def read_stdin(self) -> str:
        raise AssertionError("no standard input here")


async def test_the_runner_refuses_an_app_only_command_before_asking_anything() -> None:
    ctx = AskingFails()
    for line in ("open-room", "open-thread", "close-room", "toggle-section"):
        with pytest.raises(UsageError, match=f"^{line} works only in the app$"):
            await run_line(ctx, line)


async def test_the_shell_says_an_app_only_command_is_app_only() -> None:
    out = io.StringIO()
    shell = Shell(OwnerSession(get_paths(), "shell"), out=out)
    assert await shell.handle("open-room Lobby")
    assert out.getvalue().splitlines() == ["error: open-room works only in the app"]


async def test_no_screens_shows_nothing_and_refuses_every_screen() -> None:
    ui = NoScreens()
    account: Any = object()
    assert not ui.screens
    assert ui.selected_event() is None and ui.current_thread(cast(Any, None), "!r:x") is None
    assert ui.room_view(account, "!r") is None and ui.config() is None
    calls: list[Callable[[], object]] = [
        lambda: ui.show_room_list(),
        lambda: ui.open_room(account, "!r"),
        lambda: ui.open_thread(account, "!r", "$e"),
        lambda: ui.show_keys(),
        lambda: ui.show_notice("t", "x"),
    ]
    for call in calls:
        with pytest.raises(UsageError, match="works only in the app"):
            call()
    with pytest.raises(UsageError, match="works only in the app"):
        await ui.show_secret_once("Your recovery key", "keep it", "EsT0 …")
    with pytest.raises(UsageError, match="works only in the app"):
        await ui.pick_link(["https://example.org"])


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_commands_import_no_screen_widget_or_app_module() -> None:
    forbidden = ("tuimatrix.screens", "tuimatrix.widgets", "tuimatrix.app", "tuimatrix.ui")
    for path in sorted(COMMANDS_DIR.glob("*.py")):
        bad = [m for m in _imports(path) if m == "textual" or m.startswith(forbidden)]
        assert bad == [], path.name
        source = path.read_text(encoding="utf-8")
        assert "getattr(ctx" not in source, path.name


def test_the_registry_loads_without_textual() -> None:
    code = (
        "import sys\n"
        "from tuimatrix.commands import load_commands\n"
        "load_commands()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_exec_shell_and_completion_import_one_another_in_no_cycle() -> None:
    # exec starts the shell (its subcommand); the shell and completion share no code with
    # exec but through cli/opening.py, cli/output.py and the commands' grammar.
    cli = COMMANDS_DIR.parent / "cli"
    imported = {
        name: {m for m in _imports(cli / f"{name}.py") if m.startswith("tuimatrix.cli.")}
        for name in ("exec", "shell", "completion")
    }
    assert "tuimatrix.cli.exec" not in imported["shell"] | imported["completion"]
    assert "tuimatrix.cli.shell" not in imported["completion"]
