"""The README documents every command id and every default key (ids are an interface)."""

from __future__ import annotations

from pathlib import Path

from tuimatrix.commands import REGISTRY, load_commands
from tuimatrix.ui.keymap import DEFAULT_KEYS, PREFIX_KEY

README = Path(__file__).parent.parent / "README.md"


def test_readme_lists_every_command() -> None:
    load_commands()
    text = README.read_text("utf-8")
    missing = [cid for cid in REGISTRY if f"`{cid}" not in text]
    assert missing == []


def test_readme_lists_every_default_key() -> None:
    text = README.read_text("utf-8")
    for scope, keys in DEFAULT_KEYS.items():
        for key, lines in keys.items():
            assert f"| `{key}` | {scope} | `{' ; '.join(lines)}` |" in text, (scope, key)
    assert f"`{PREFIX_KEY}`" in text
