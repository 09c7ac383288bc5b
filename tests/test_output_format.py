"""What exec and the shell print for a result: tables for people, JSON lines for programs.

Pure: ``format_result`` over hand-made results, hostile values included (markup, terminal
escapes, newlines, U+2028, a 10 kB name).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tuimatrix.cli.output import MAX_CELL, format_json, format_result, format_table
from tuimatrix.commands import Result

HOSTILE = [
    "[@click=app.quit]boom[/]",
    "\x1b]0;pwned\x07\x1b[31mred\x1b[0m",
    "two\nlines\r\nand more",
    "para\u2028graph\u2029sep",
    "\u202eevil bidi\u202c",
    "\x9b31m C1 CSI",
    "x" * 10_000,
]


def rows_of(*names: str) -> list[dict[str, Any]]:
    return [
        {"room_id": f"!r{i}:localhost", "name": name, "tags": ["u.a", "u.b"], "unread": i}
        for i, name in enumerate(names)
    ]


@pytest.mark.parametrize("name", HOSTILE)
def test_json_lines_stay_one_parseable_line_per_row(name: str) -> None:
    rows = rows_of(name, "plain")
    out = format_result(Result("2 rooms", rows=rows), as_json=True)
    lines = out.split("\n")
    assert len(lines) == 2
    assert [orjson.loads(line) for line in lines] == rows  # nothing lost, only escaped
    for ch in ("\x1b", "\x07", "\x9b", "\u2028", "\u2029", "\u202e", "\r"):
        assert ch not in out
    assert "\n" not in lines[0]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_table_cell_is_one_clean_capped_line(name: str) -> None:
    out = format_result(Result("2 rooms", rows=rows_of(name, "plain")), as_json=False)
    lines = out.split("\n")
    assert len(lines) == 3  # a header, and one line a row
    for ch in ("\x1b", "\x07", "\x9b", "\u2028", "\u2029", "\u202e", "\r"):
        assert ch not in out
    # One hostile cell cannot make a long line: every column is capped.
    assert max(len(line) for line in lines) < 4 * (MAX_CELL + 2)
    if len(name) > MAX_CELL:
        assert "…" in lines[1]


def test_a_table_has_a_header_aligned_columns_and_joined_lists() -> None:
    rows = [
        {"name": "General", "unread": 3, "tags": ["m.favourite", "u.work"], "dm": False},
        {"name": "Bob", "unread": 0, "tags": [], "dm": True, "extra": "not shown"},
    ]
    out = format_result(Result("2 rooms", rows=rows, columns=("name", "tags", "dm")), False)
    header, first, second = out.split("\n")
    assert header.split() == ["name", "tags", "dm"]
    assert first.startswith("General") and "m.favourite, u.work" in first and "no" in first
    assert second.startswith("Bob") and second.rstrip().endswith("yes")
    assert "not shown" not in out
    # Columns line up: each starts where its header does.
    assert first.index("m.favourite") == header.index("tags")
    assert second.index("yes") == header.index("dm")


def test_without_columns_the_first_rows_keys_are_shown() -> None:
    out = format_table([{"user_id": "@a:x", "power_level": 100}])
    assert out.split("\n")[0].split() == ["user_id", "power_level"]


def test_wide_characters_are_counted_in_cells() -> None:
    out = format_table([{"name": "日本語" * 40, "n": 1}, {"name": "x", "n": 2}])
    first, second = out.split("\n")[1:]
    # The number column starts at the same terminal column in both rows.
    from rich.cells import cell_len

    assert cell_len(first[: first.rindex("1")]) == cell_len(second[: second.rindex("2")])
    assert cell_len(first) <= MAX_CELL + 3


def test_an_empty_listing_says_so_and_prints_no_json_lines() -> None:
    assert format_result(Result("0 rooms", rows=[]), as_json=False) == "0 rooms"
    assert format_result(Result(rows=[]), as_json=False) == "(none)"
    assert format_result(Result("0 rooms", rows=[]), as_json=True) == ""


def test_without_rows_the_message_or_the_data_is_printed() -> None:
    result = Result("renamed \x1b[31mit", {"room_id": "!r:x"})
    assert format_result(result, as_json=False) == "renamed it"  # the escape is gone
    assert format_result(result, as_json=True) == format_json({"room_id": "!r:x"})
    assert orjson.loads(format_result(Result("done"), as_json=True)) == {"ok": True}
