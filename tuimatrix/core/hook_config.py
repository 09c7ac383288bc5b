"""``[[hooks]]`` in config.toml: programs to run on events, read and checked.

Each hook is a table with ``command`` (an argv list: never a shell string), a filter
(``mention``, ``notify``, ``room``, ``sender``, ``type``, ``keyword``, ``account``) and
``timeout``
(seconds). ``[hook-runner] max-running`` limits how many run at once. A bad hook is one line
naming config.toml and the hook's number; the others still run. Imports nothing that needs
the network, so that config.py (read by every front end) can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: seconds a hook may run before its process group is killed, and the bounds a setting gets
DEFAULT_TIMEOUT = 10.0
MIN_TIMEOUT = 0.1
MAX_TIMEOUT = 600.0
DEFAULT_MAX_RUNNING = 3
MAX_MAX_RUNNING = 32

_FILTER_STRINGS = ("room", "sender", "type", "keyword", "account")
_KEYS = ("command", "mention", "notify", *_FILTER_STRINGS, "timeout")


@dataclass(frozen=True)
class Hook:
    """One ``[[hooks]]`` table: what to run, on which events."""

    number: int  # its place among the [[hooks]] tables, from 1: how messages name it
    command: tuple[str, ...]
    mention: bool = False
    #: only events that notify the user by its push rules (core/notices.py)
    notify: bool = False
    #: a room id, alias or name: resolved when the hooks start
    room: str = ""
    sender: str = ""
    type: str = ""
    keyword: str = ""
    account: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        """How reports name it: "hook 2 (notify-send)"."""
        return f"hook {self.number} ({self.command[0]})"


@dataclass
class HookSettings:
    hooks: list[Hook] = field(default_factory=list)
    max_running: int = DEFAULT_MAX_RUNNING
    #: one line per problem, naming the file and the hook
    errors: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _hook(number: int, table: Any) -> Hook:
    """The hook of one table; ValueError (the reason) if it cannot run."""
    if not isinstance(table, dict):
        raise ValueError("must be a table")
    unknown = [key for key in table if key not in _KEYS]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(_KEYS)})")
    command = table.get("command")
    if isinstance(command, str):
        raise ValueError(
            'command must be a list of words, e.g. ["notify-send", "Matrix"], not a string: '
            "hooks run no shell"
        )
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(word, str) for word in command)
        or not command[0].strip()
    ):
        raise ValueError('command must be a non-empty list of words, e.g. ["notify-send", "hi"]')
    mention = table.get("mention", False)
    if not isinstance(mention, bool):
        raise ValueError("mention must be true or false")
    notify = table.get("notify", False)
    if not isinstance(notify, bool):
        raise ValueError("notify must be true or false")
    strings: dict[str, str] = {}
    for key in _FILTER_STRINGS:
        value = table.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        strings[key] = value.strip()
    timeout = _number(table.get("timeout", DEFAULT_TIMEOUT))
    if timeout is None:
        raise ValueError("timeout must be a number of seconds")
    return Hook(
        number,
        tuple(command),
        mention,
        notify,
        timeout=max(MIN_TIMEOUT, min(MAX_TIMEOUT, timeout)),
        **strings,
    )


def parse_hooks(data: Mapping[str, Any], where: str = "config.toml") -> HookSettings:
    """The hooks of config.toml's tables (``data``); ``where`` names the file in errors."""
    settings = HookSettings()
    runner = data.get("hook-runner", {})
    if not isinstance(runner, dict):
        settings.errors.append(f"{where}: [hook-runner] must be a table")
        runner = {}
    max_running = runner.get("max-running", DEFAULT_MAX_RUNNING)
    for key in runner:
        if key != "max-running":
            settings.errors.append(f"{where}: [hook-runner]: unknown setting {key!r}")
    if isinstance(max_running, int) and not isinstance(max_running, bool) and max_running > 0:
        settings.max_running = min(max_running, MAX_MAX_RUNNING)
    else:
        settings.errors.append(
            f"{where}: [hook-runner] max-running must be a whole number above 0 "
            f"({DEFAULT_MAX_RUNNING} used)"
        )
    tables = data.get("hooks", [])
    if not isinstance(tables, list):
        settings.errors.append(f"{where}: hooks must be [[hooks]] tables (no hook runs)")
        return settings
    for number, table in enumerate(tables, start=1):
        try:
            settings.hooks.append(_hook(number, table))
        except ValueError as e:
            settings.errors.append(f"{where}: [[hooks]] number {number}: {e} (this hook is off)")
    return settings
