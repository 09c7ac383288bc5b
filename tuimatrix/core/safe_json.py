"""JSON for programs, safe to reach a terminal: the one encoder of exec, the feed and hooks.

JSON may carry characters inside strings that a terminal still acts on (C1 controls, DEL,
bidi overrides and isolates, line/paragraph separators, which also end a line in JavaScript).
They are written as ``\\u`` escapes, so a program reads the same string and a person who
``cat``s the output sees no trick. Lives in core: the feed and the hooks (core) and the
command-line front ends (cli) all write JSON, and core may not import cli.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe_json(value: Any, *, indent: bool = False) -> str:
    """``value`` as JSON text: one line, or indented by two spaces when ``indent``.

    Values orjson does not know (paths, sets…) are written as their ``str``.
    """
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    text = orjson.dumps(value, option=option, default=str).decode("utf-8")
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
