"""Pick a reaction: search emoji by name or ``:shortcode:``; enter takes the highlighted one.

Text that names no emoji can still be sent as it is (the last option): a reaction key is any
short text.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tuimatrix.core.emoji_names import is_emoji, reaction_key, search
from tuimatrix.core.sanitize import clean_line, plain
from tuimatrix.screens.prompts import _CSS


class EmojiPickerScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]
    DEFAULT_CSS = _CSS.format(name="EmojiPickerScreen")

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title
        #: the reaction each option sends, by option index
        self.keys: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            yield Input(placeholder="search by name or :shortcode:, or type any text")
            yield OptionList(id="emoji")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._filter("")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def _filter(self, query: str) -> None:
        options: list[Option] = []
        self.keys = []
        for item in search(query):
            label = Text.assemble(item.char, "  ", item.names[0], (f"  {item.shortcode}", "dim"))
            options.append(Option(label, id=str(len(self.keys))))
            self.keys.append(item.char)
        typed = reaction_key(query)
        if typed and typed not in self.keys:
            what = "as it is" if not is_emoji(typed) else ""
            label = Text.assemble(clean_line(typed), (f"  {what}" if what else "", "dim"))
            options.append(Option(label, id=str(len(self.keys))))
            self.keys.append(typed)
        widget = self.query_one(OptionList)
        widget.clear_options()
        widget.add_options(options)
        # Enter takes the best match right away; ↑ ↓ choose another.
        widget.highlighted = 0 if options else None

    def action_move(self, step: int) -> None:
        widget = self.query_one(OptionList)
        if widget.option_count:
            current = widget.highlighted or 0
            widget.highlighted = max(0, min(widget.option_count - 1, current + step))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        widget = self.query_one(OptionList)
        if widget.highlighted is not None and widget.option_count:
            self.dismiss(self.keys[widget.highlighted])
        else:
            self.dismiss(reaction_key(event.value) or None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.keys[event.option_index])
