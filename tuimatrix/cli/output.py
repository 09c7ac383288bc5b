"""What the command-line front ends print: results (tables, JSON lines, JSON), and warnings.

Shared by ``exec`` and the shell (kept apart from both, so neither imports the other).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len

from tuimatrix.core.safe_json import safe_json
from tuimatrix.core.sanitize import clean_line, clean_text

if TYPE_CHECKING:
    from tuimatrix.commands import Result


def warn(message: str) -> None:
    print(f"tuimatrix: warning: {clean_line(message)}", file=sys.stderr)


def format_json(data: Any) -> str:
    """``data`` as indented JSON (``{"ok": true}`` for None), safe to write to a terminal."""
    return safe_json({"ok": True} if data is None else data, indent=True)


#: The most terminal cells one table cell takes: a hostile 10 kB room name is cut to this.
MAX_CELL = 48
#: between two columns of a table
_GAP = "  "


def format_result(result: Result, as_json: bool) -> str:
    """What ``exec`` and the shell print for a command's result.

    A listing (``result.rows``) is JSON lines for programs (one compact object a row, escaped
    as :func:`format_json` does, so a value's newline or U+2028 never splits a line) and an
    aligned table for people. Anything else is the result's data as JSON, or its message.
    An empty string is nothing to print.
    """
    if result.rows is None:
        return format_json(result.data) if as_json else clean_text(result.message)
    if as_json:  # no rows: no lines (not one empty line a `while read` loop would see)
        return "\n".join(_json_line(row) for row in result.rows)
    if not result.rows:  # "0 rooms" says more than an empty table
        return clean_text(result.message) or format_table([])
    return format_table(result.rows, result.columns)


def _json_line(row: dict[str, Any]) -> str:
    return safe_json(row)


def format_table(rows: list[dict[str, Any]], columns: Sequence[str] = ()) -> str:
    """``rows`` as an aligned table with a header line: ``columns`` (else the first row's
    keys), each cell one clean line of at most :data:`MAX_CELL` cells."""
    if not rows:
        return "(none)"
    names = list(columns) or list(rows[0])
    table = [[_cell(name) for name in names]]
    table += [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(cell_len(line[i]) for line in table) for i in range(len(names))]
    return "\n".join(
        _GAP.join(
            cell + " " * (width - cell_len(cell)) for cell, width in zip(line, widths, strict=True)
        ).rstrip()
        for line in table
    )


def _cell(value: Any) -> str:
    """One value as a table cell: lists joined with ", ", nothing as "", always one safe line."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list | tuple | set | frozenset):
        text = ", ".join(_plain(item) for item in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{_plain(k)}: {_plain(v)}" for k, v in value.items())
    else:
        text = _plain(value)
    return _cap(clean_line(text))


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _cap(text: str) -> str:
    """``text`` cut to :data:`MAX_CELL` terminal cells, an ellipsis marking the cut."""
    if cell_len(text) <= MAX_CELL:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        width = cell_len(char)
        if used + width > MAX_CELL - 1:
            break
        kept.append(char)
        used += width
    return "".join(kept) + "…"
