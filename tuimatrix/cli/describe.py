"""The commands described for scripts: ``tuimatrix exec --list`` and ``exec help COMMAND``.

Pure text from the registry (no account, no owner), shared with the shell's ``help`` so
that both describe a command the same way.
"""

from __future__ import annotations

import difflib

from tuimatrix.cli.output import format_result
from tuimatrix.commands import (
    ALIASES,
    REGISTRY,
    Command,
    Param,
    Result,
    find_command,
    load_commands,
)
from tuimatrix.core.errors import UsageError


def _script_commands() -> list[Command]:
    """The commands a script can run (not the app-only ones), by id."""
    load_commands()
    return sorted((c for c in REGISTRY.values() if not c.ui_only), key=lambda c: c.id)


def list_commands(as_json: bool) -> str:
    """Every command outside the app: id and one-line help, aligned; or JSON lines of
    id, title, help, usage, room and destructive."""
    commands = _script_commands()
    if not as_json:
        named = sorted(
            [(c.id, c.help) for c in commands]
            + [(alias, f"the same as {c.id}") for c in commands for alias in c.aliases]
        )
        width = max(len(name) for name, _ in named)
        return "\n".join(f"{name:<{width}}  {text}" for name, text in named)
    rows: list[dict[str, object]] = [
        {
            "id": c.id,
            "title": c.title,
            "help": c.help,
            "usage": c.usage(),
            "aliases": list(c.aliases),
            "room": c.room,
            "destructive": c.destructive,
        }
        for c in commands
    ]
    return format_result(Result(rows=rows), as_json=True)


def describe_command(command_id: str) -> str:
    """One command as ``--help`` describes a program: usage, what it does, each parameter and
    option. UsageError for an unknown id, with the closest one if there is one."""
    cmd = find_command(command_id)
    if cmd is None:
        raise UsageError(unknown_command(command_id))
    lines = [f"usage: {cmd.usage()}", "", f"{cmd.title}: {cmd.help}"]
    if cmd.aliases:
        lines.append(f"also run as: {', '.join(cmd.aliases)}")
    positional = [p for p in cmd.all_params if not p.option]
    options = [p for p in cmd.all_params if p.option]
    if positional:
        lines += ["", "arguments:", *(_param_line(p) for p in positional)]
    if options:
        lines += ["", "options:", *(_param_line(p) for p in options)]
    notes = [note] if (note := _stdin_note(cmd)) else []
    if cmd.destructive:
        notes.append("asks for confirmation: --yes skips it (exec needs it)")
    if cmd.ui_only:
        notes.append("only in the app")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def unknown_command(command_id: str) -> str:
    """The line for an unknown command id, with a "did you mean" where one is close."""
    load_commands()
    close = difflib.get_close_matches(command_id, [*REGISTRY, *ALIASES], n=1)
    hint = f"; did you mean {close[0]}?" if close else " (exec --list lists them)"
    return f"unknown command {command_id!r}{hint}"


def _param_line(param: Param) -> str:
    what = param.help or param.name
    if param.choices:
        what += f" (one of {', '.join(param.choices)})"
    if not param.option and not param.required:
        what += " (optional)"
    return f"  {param.label:<18} {what}"


def _stdin_note(cmd: Command) -> str:
    """How to give a rest-of-line text on standard input, for commands that take one."""
    rest = next((p for p in cmd.params if p.rest), None)
    if rest is None:
        return ""
    return f"{rest.name.upper()} given as - is read from standard input (tuimatrix exec)"
