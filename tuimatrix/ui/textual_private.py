"""Every use of Textual's and rich's private internals, each behind one small helper.

The UI needs a few things neither library offers publicly. Each helper names the upstream code
it mirrors, so raising the caps on textual and rich in pyproject.toml means checking this file
against the new release (and tests/test_textual_private.py running), and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

# The line breaker of rich's Text.wrap (rich/text.py, ``Text.wrap`` calls
# ``rich._wrap.divide_line``): the timeline counts a body's rows with it before rendering, so
# it must break exactly where Text.wrap will. Re-exported, not wrapped: it runs per paragraph
# while a room's items are measured, a hot path.
from rich._wrap import divide_line as divide_line

if TYPE_CHECKING:
    from rich.style import Style
    from textual.app import App
    from textual.binding import Binding
    from textual.dom import DOMNode
    from textual.screen import Screen
    from textual.scrollbar import ScrollBar
    from textual.widget import Widget


def installed_screens(app: App[Any]) -> Mapping[str, Screen[Any] | Callable[[], Screen[Any]]]:
    """The screens installed by name (``App.install_screen``), shown or not.

    Mirrors ``App._installed_screens`` (textual/app.py: set in ``App.__init__``, filled by
    ``install_screen``, read by ``get_screen``); Textual has ``is_screen_installed`` and
    ``get_screen`` for one name, but nothing that lists them.
    """
    return app._installed_screens


def key_bindings(node: DOMNode) -> dict[str, list[Binding]]:
    """A node's own bindings by key, to change in place (bind a key, or drop one).

    Mirrors ``DOMNode._bindings`` (textual/dom.py, ``DOMNode.__init__``), a ``BindingsMap``
    whose ``key_to_bindings`` (textual/binding.py) is what key dispatch reads. The public
    ``App.set_keymap`` only moves bindings that have an id; it cannot add or unbind a key.
    """
    return node._bindings.key_to_bindings


def hovered_click_link(style: Style) -> bool:
    """Whether ``style`` (a widget's ``hover_style``) is a hovered ``@click`` link, which
    Textual restyles with ``link-style-hover``.

    Mirrors the test in ``StylesCache.render_widget`` (textual/_styles_cache.py), which reads
    rich's private ``Style._link_id`` and ``Style._meta`` (rich/style.py) so that a style
    without meta is not decoded.
    """
    return bool(style._link_id and style._meta and "@click" in style.meta)


def made_vertical_scrollbar(widget: Widget) -> ScrollBar | None:
    """The widget's vertical scrollbar if it has made one yet (the public property makes one).

    Mirrors ``Widget._vertical_scrollbar`` (textual/widget.py, ``Widget.vertical_scrollbar``).
    """
    return widget._vertical_scrollbar


def install_vertical_scrollbar(widget: Widget, bar: ScrollBar) -> None:
    """Make ``bar`` the widget's vertical scrollbar and start it, as Textual does for its own.

    Mirrors ``Widget.vertical_scrollbar`` (textual/widget.py): it stores the bar in
    ``Widget._vertical_scrollbar`` and starts it with ``App._start_widget`` (textual/app.py),
    since a scrollbar is not mounted like a child.
    """
    widget._vertical_scrollbar = bar
    widget.app._start_widget(widget, bar)


def write_to_terminal(app: App[Any], data: str) -> None:
    """Write raw escape sequences to the terminal (alerts: notifications, the title mark).

    Mirrors ``App.bell`` (textual/app.py), which writes through the private ``App._driver``
    (``Driver.write``, textual/driver.py) unless the app is headless; Textual has no public way
    to write a sequence of one's own.
    """
    if not app.is_headless and app._driver is not None:
        app._driver.write(data)
