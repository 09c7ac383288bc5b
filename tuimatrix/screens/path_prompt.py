"""Ask for a file path, with completion: the matching entries are listed as you type; tab
fills in what they share (or the highlighted one), enter on a folder opens it."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tuimatrix.core.completion import common_prefix, complete_path
from tuimatrix.core.sanitize import clean_line, plain
from tuimatrix.screens.prompts import _CSS


class PathPromptScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]
    DEFAULT_CSS = _CSS.format(name="PathPromptScreen")

    def __init__(self, title: str, initial: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.initial = initial
        self.completions: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            yield Input(value=self.initial, placeholder="a file path (tab completes)")
            yield OptionList(id="paths")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._list(self.initial)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._list(event.value)

    @work(group="complete", exclusive=True)
    async def _list(self, text: str) -> None:
        # Reading a directory can stall (a network mount): never on the UI loop.
        completions = await asyncio.to_thread(complete_path, text)
        if not self.is_attached:
            return  # answered or cancelled meanwhile
        if self.query_one(Input).value != text:
            return  # typed on meanwhile: a newer listing follows
        self.completions = completions
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(
            Option(Text(clean_line(p)), id=str(i)) for i, p in enumerate(completions)
        )
        options.highlighted = None  # enter takes the text as typed until ↑ ↓ pick an entry

    def _set(self, value: str) -> None:
        field = self.query_one(Input)
        field.value = value
        field.cursor_position = len(value)

    def action_complete(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and self.completions:
            self._set(self.completions[options.highlighted])
            return
        shared = common_prefix(self.completions)
        if len(shared) > len(self.query_one(Input).value):
            self._set(shared)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            start = -1 if options.highlighted is None else options.highlighted
            options.highlighted = max(0, min(options.option_count - 1, start + step))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        value = event.value.strip()
        if options.highlighted is not None and self.completions:
            value = self.completions[options.highlighted]
        self._take(value)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self._take(self.completions[event.option_index])

    def _take(self, value: str) -> None:
        if value.endswith("/"):
            self._set(value)  # a folder: go on choosing inside it
            self.query_one(Input).focus()
            return
        self.dismiss(value or None)
