"""What the command-line front ends print besides results: warnings, and JSON.

Shared by ``exec`` and the shell (kept apart from both, so neither imports the other).
"""

from __future__ import annotations

import sys
from typing import Any

from tuimatrix.core.safe_json import safe_json
from tuimatrix.core.sanitize import clean_line


def warn(message: str) -> None:
    print(f"tuimatrix: warning: {clean_line(message)}", file=sys.stderr)


def format_json(data: Any) -> str:
    """``data`` as indented JSON (``{"ok": true}`` for None), safe to write to a terminal."""
    return safe_json({"ok": True} if data is None else data, indent=True)
