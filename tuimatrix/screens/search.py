"""Search results: one line per message; enter jumps to it in its room."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tuimatrix.core.sanitize import plain
from tuimatrix.core.search import SearchResult
from tuimatrix.screens.prompts import _CSS


def result_line(result: SearchResult, room: str | None) -> Text:
    """``Room · Alice · 3 Mar 14:05  the message…``; every part is already sanitised."""
    try:
        when = datetime.fromtimestamp(result.ts / 1000).strftime("%d %b %H:%M")
    except (OverflowError, OSError, ValueError):
        when = "?"
    line = Text(no_wrap=True, overflow="ellipsis")
    if room is not None:
        line.append(room, "bold")
        line.append(" · ", "dim")
    line.append(result.sender, "bold")
    line.append(f" · {when}  ", "dim")
    line.append_text(result.snippet)
    return line


class SearchResultsScreen(ModalScreen[SearchResult | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = (
        _CSS.format(name="SearchResultsScreen")
        + """
    SearchResultsScreen OptionList { max-height: 30; }
    SearchResultsScreen #search-note { color: $text-muted; }
    """
    )

    def __init__(
        self, title: str, results: list[SearchResult], rooms: dict[str, str] | None, note: str
    ) -> None:
        """``rooms`` maps room ids to labels when results span several rooms (else None)."""
        super().__init__()
        self.title_text = title
        self.results = results
        self.rooms = rooms
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            if self.note:
                yield Label(plain(self.note), id="search-note")
            options = [
                Option(
                    result_line(r, None if self.rooms is None else self.rooms.get(r.room_id, "?")),
                    id=str(n),
                )
                for n, r in enumerate(self.results)
            ]
            yield OptionList(*options)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(self.results[int(event.option.id)])
