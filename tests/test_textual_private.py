"""The helpers over Textual's and rich's private internals do what the upstream code they
mirror does, and nothing else in the package reaches into those internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.scrollbar import ScrollBar
from textual.widgets import Static

import tuimatrix
from tuimatrix.ui import textual_private
from tuimatrix.ui.textual_private import (
    divide_line,
    hovered_click_link,
    install_vertical_scrollbar,
    installed_screens,
    key_bindings,
    made_vertical_scrollbar,
    write_to_terminal,
)

PACKAGE = Path(tuimatrix.__file__).parent
#: The private names the helpers wrap: no other module of the package may use them.
PRIVATE_ATTRIBUTES = {
    "_bindings",
    "_driver",
    "_installed_screens",
    "_link_id",
    "_meta",
    "_start_widget",
    "_vertical_scrollbar",
    "_styles_cache",
}


class KeysApp(App[None]):
    BINDINGS = [Binding("a", "mark('a')", "A")]

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("keys", id="body")

    def action_mark(self, what: str) -> None:
        self.marks.append(what)


async def test_installed_screens_lists_what_install_screen_added() -> None:
    app = KeysApp()
    async with app.run_test():
        assert "room:x" not in installed_screens(app)
        screen: Screen[None] = Screen()
        app.install_screen(screen, "room:x")
        assert installed_screens(app)["room:x"] is screen
        app.uninstall_screen("room:x")
        assert "room:x" not in installed_screens(app)


async def test_key_bindings_binds_and_unbinds_keys_in_place() -> None:
    app = KeysApp()
    async with app.run_test() as pilot:
        key_bindings(app).pop("a", None)
        key_bindings(app)["b"] = [Binding("b", "mark('b')", "B", show=False)]
        await pilot.press("a", "b")
        await pilot.pause()
        assert app.marks == ["b"]


@pytest.mark.parametrize(
    ("style", "clickable"),
    [
        (Style.from_meta({"@click": "app.bell()"}), True),
        (Style(link="https://example.org"), False),
        (Style.from_meta({"offset": (1, 2)}), False),
        (Style(bold=True), False),
        (Style.null(), False),
    ],
)
def test_hovered_click_link_is_an_at_click_meta_link(style: Style, clickable: bool) -> None:
    assert hovered_click_link(style) is clickable


@pytest.mark.parametrize("width", [1, 2, 5, 13, 40])
@pytest.mark.parametrize(
    "paragraph",
    [
        "a short line",
        "words that wrap over several lines of a narrow column, with punctuation…",
        "averyveryverylongwordthatmustbefoldedacrosslines and then some",
        "wide 漢字かな混じり文 characters 🙂🙂 and emoji",
    ],
)
def test_divide_line_breaks_where_text_wrap_does(paragraph: str, width: int) -> None:
    """The timeline counts rows with divide_line and renders them with Text.wrap."""
    lines = Text(paragraph).wrap(Console(width=200), width, overflow="fold")
    assert len(divide_line(paragraph, width, fold=True)) + 1 == len(lines)


async def test_install_vertical_scrollbar_starts_it_as_the_widgets_own() -> None:
    app = KeysApp()
    async with app.run_test():
        body = app.query_one("#body", Static)
        assert made_vertical_scrollbar(body) is None  # nothing to scroll: none made
        bar = ScrollBar(vertical=True, name="vertical")
        install_vertical_scrollbar(body, bar)
        assert made_vertical_scrollbar(body) is bar
        assert body.vertical_scrollbar is bar and bar.parent is body


async def test_write_to_terminal_writes_through_the_driver_as_the_bell_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = KeysApp()
    async with app.run_test():
        assert app._driver is not None
        written: list[str] = []
        monkeypatch.setattr(app._driver, "write", written.append)
        app.bell()
        write_to_terminal(app, "\x1b]2;t\x07")
        assert written == []  # headless, like the bell: nothing reaches a terminal
        monkeypatch.setattr(App, "is_headless", property(lambda self: False))
        app.bell()
        write_to_terminal(app, "\x1b]2;t\x07")
        assert written == ["\x07", "\x1b]2;t\x07"]


def test_no_other_module_reaches_into_textual_or_rich_internals() -> None:
    """Private modules (``rich._wrap``) and the wrapped private attributes are used only in
    ui/textual_private.py, so that a new Textual or rich is checked in one place."""
    helper = Path(textual_private.__file__)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == helper:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                modules = []
            for module in modules:
                top, _, rest = module.partition(".")
                if top in ("textual", "rich", "textual_image") and rest.startswith("_"):
                    found.append(f"{path.relative_to(PACKAGE)}: import {module}")
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: .{node.attr}")
    assert found == []
