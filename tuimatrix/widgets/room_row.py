"""How a room-list row looks: the columns that fit, and one room's cells.

A row is drawn from a :class:`RoomLook` — every value it shows, already cleaned — so a look
that compares equal draws the same line, which is what the room tree caches rendered lines by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich.style import Style
from rich.text import Text

from tuimatrix.config import COLUMNS
from tuimatrix.core.ages import short_age
from tuimatrix.core.rooms import RoomSummary, summary_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sections import is_unread

COLUMN_TITLES = {
    "name": "Room",
    "unread": "Unread",
    "activity": "Age",
    "topic": "Topic",
    "members": "Members",
    "notifications": "Notify",
    "account": "Account",
}
#: fixed column widths; name and topic share the rest
WIDTHS = {"unread": 7, "activity": 4, "members": 7, "notifications": 8}
RIGHT_ALIGNED = frozenset({"unread", "activity", "members"})
NAME_MIN, NAME_MAX, TOPIC_MIN, ACCOUNT_MAX = 16, 40, 12, 28
#: one cell between columns
GAP = 1

Layout = tuple[tuple[str, int], ...]


class RoomLook(NamedTuple):
    """Everything a room row shows; equal looks render to equal lines."""

    name: str
    depth: int
    #: "▾"/"▸" for a space with children in the Spaces tree, else ""
    fold: str
    invite: bool
    unread: bool
    favourite: bool
    direct: bool
    space: bool
    low_priority: bool
    notifications: int
    highlights: int
    age: str
    topic: str
    members: int
    notify: str
    account: str


def room_look(
    room: RoomSummary,
    *,
    depth: int,
    fold: str,
    notify: str,
    account: str,
    now: float,
) -> RoomLook:
    """The look of ``room``; every string from the network is cleaned here."""
    return RoomLook(
        name=summary_label(room),
        depth=depth,
        fold=fold,
        invite=room.membership == "invite",
        unread=is_unread(room),
        favourite=room.is_favourite,
        direct=room.is_direct,
        space=room.is_space,
        low_priority=room.is_low_priority,
        notifications=room.notification_count,
        highlights=room.highlight_count,
        age=short_age(room.latest_ts, now),
        topic=clean_line(room.topic),
        members=room.joined_count,
        notify=notify,
        account=clean_line(account),
    )


def fit_columns(wanted: Sequence[str], width: int, account_width: int) -> Layout:
    """The columns of ``wanted`` that fit in ``width`` cells, in order, with their widths.

    While they do not fit, the least important column goes (the order of ``COLUMNS``); the
    name always stays. ``account_width`` 0 leaves the account column out (one account).
    """
    shown = [c for c in wanted if c != "account" or account_width > 0]
    if "name" not in shown:
        shown.insert(0, "name")

    def least(column: str) -> int:
        if column == "name":
            return NAME_MIN
        if column == "topic":
            return TOPIC_MIN
        if column == "account":
            return min(account_width, ACCOUNT_MAX)
        return WIDTHS[column]

    def needed(columns: list[str]) -> int:
        return sum(least(c) for c in columns) + GAP * (len(columns) - 1)

    while len(shown) > 1 and needed(shown) > width:
        shown.remove(max((c for c in shown if c != "name"), key=COLUMNS.index))
    widths = {c: least(c) for c in shown}
    spare = max(0, width - needed(shown))
    if "topic" in widths:
        widths["name"] += min(spare, NAME_MAX - NAME_MIN)
        widths["topic"] += spare - min(spare, NAME_MAX - NAME_MIN)
    else:
        widths["name"] = widths["name"] + spare if width >= NAME_MIN else max(1, width)
    return tuple((c, widths[c]) for c in shown)


def _name_cell(look: RoomLook) -> Text:
    text = Text("  " * (look.depth + 1), no_wrap=True)
    if look.fold:
        text.append(look.fold + " ", "bold")
    if look.invite:
        text.append("✉ ", "italic")
    elif look.space:
        text.append("◆ ", "cyan")
    elif look.direct:
        text.append("@ ", "magenta")
    if look.favourite:
        text.append("★ ", "yellow")
    style = Style(
        bold=look.unread or None,
        italic=look.invite or None,
        dim=(look.low_priority and not look.unread) or None,
    )
    text.append(look.name, style)
    return text


#: the unread column of a room marked unread with nothing counted (``m.marked_unread``)
MARKED_UNREAD_GLYPH = "•"


def _unread_cell(look: RoomLook) -> Text:
    text = Text(no_wrap=True)
    if look.notifications or look.highlights:
        text.append(str(look.notifications), "bold")
        if look.highlights:
            text.append(":")
            text.append(str(look.highlights), "bold reverse red")
    elif look.unread:
        text.append(MARKED_UNREAD_GLYPH, "bold")
    return text


def room_cells(look: RoomLook) -> dict[str, Text]:
    return {
        "name": _name_cell(look),
        "unread": _unread_cell(look),
        "activity": Text(look.age, "dim"),
        "topic": Text(look.topic, "dim"),
        "members": Text(str(look.members) if look.members else ""),
        "notifications": Text(look.notify, "dim"),
        "account": Text(look.account, "dim"),
    }


def join_cells(cells: dict[str, Text], layout: Layout) -> Text:
    """One line: each cell cut to its column (with an ellipsis), padded, aligned."""
    line = Text(no_wrap=True, end="")
    for i, (column, width) in enumerate(layout):
        if i:
            line.append(" " * GAP)
        cell = cells.get(column, Text()).copy()
        cell.truncate(width, overflow="ellipsis")
        pad = " " * (width - cell.cell_len)
        if column in RIGHT_ALIGNED:
            line.append(pad)
            line.append_text(cell)
        else:
            line.append_text(cell)
            line.append(pad)
    return line


def titles_line(layout: Layout) -> Text:
    """The column titles, aligned as the rows are."""
    cells = {column: Text(COLUMN_TITLES[column]) for column, _ in layout}
    return join_cells(cells, layout)
