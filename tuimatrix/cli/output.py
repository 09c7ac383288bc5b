"""What the command-line front ends print besides results: warnings, and JSON.

Shared by ``exec`` and the shell (kept apart from both, so neither imports the other).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from tuimatrix.core.sanitize import clean_line

# Characters JSON may carry inside strings that a terminal could still act on (C1 controls,
# DEL, bidi overrides and isolates, line/paragraph separators): written as \\u escapes.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def warn(message: str) -> None:
    print(f"tuimatrix: warning: {clean_line(message)}", file=sys.stderr)


def format_json(data: Any) -> str:
    """``data`` as indented JSON (``{"ok": true}`` for None), safe to write to a terminal."""
    import orjson

    value = {"ok": True} if data is None else data
    text = orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
    ).decode("utf-8")
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
