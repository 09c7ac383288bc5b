"""Pick one of a message's links; each is shown as the exact (safe) URL that will open."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tuimatrix.screens.prompts import _CSS


class LinkPickerScreen(ModalScreen[str | None]):
    """Enter opens the highlighted link; escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = _CSS.format(name="LinkPickerScreen")

    def __init__(self, links: list[str]) -> None:
        """``links`` come from ``core.links.message_links``: printable ASCII already."""
        super().__init__()
        self.links = links

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Open which link?", style="bold"))
            # Text, not markup: a URL's brackets stay brackets.
            yield OptionList(*(Option(Text(url), id=str(n)) for n, url in enumerate(self.links)))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(self.links[int(event.option.id)])
