"""Command palette entries for rooms: typing part of a room's name offers that room.

Textual parses a hit's text, its help and ``Matcher.highlight`` as markup: a room topic
``[/] boom`` crashed the palette and ``[@click=…]`` or ``[link=…]`` planted live actions and
links. Every hit here is therefore ``Content`` built from sanitised strings, never markup, and
room names are matched by a linear matcher (Textual's tries every combination of positions).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from tuimatrix.commands import REGISTRY, Command, load_commands
from tuimatrix.core.room_names import fuzzy_offsets, room_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.ui.keymap import key_for

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp

#: Characters of a room's name or topic shown in the palette: one line's worth, not 100 kB.
MAX_SHOWN = 120


def shown(s: str) -> str:
    """A network string as one palette line: sanitised, and cut at :data:`MAX_SHOWN`."""
    line = clean_line(s)
    return line if len(line) <= MAX_SHOWN else line[: MAX_SHOWN - 1] + "…"


def match_room(matcher: Matcher, title: str) -> tuple[float, Content] | None:
    """The score of ``title`` for the query (on Textual's scale, so rooms and commands rank
    together) and ``title`` as ``Content`` with the matched letters highlighted; None if it
    does not match."""
    offsets = fuzzy_offsets(matcher.query, title)
    if not offsets:
        return None
    score = matcher.fuzzy_search.score(title, offsets)
    if offsets[-1] - offsets[0] == len(offsets) - 1:
        score *= 2.0 if len(offsets) == len(title) else 1.5  # as Textual boosts a substring
    return score, highlight(matcher, title, offsets)


def highlight(matcher: Matcher, text: str, offsets: Sequence[int]) -> Content:
    """``text`` with the letters at ``offsets`` in the match style (``Matcher.highlight``
    without its markup parsing)."""
    content = Content(text)
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class OpenRoomProvider(Provider):
    """ "rooms: Open NAME" for every joined room of every account."""

    def _rooms(self) -> AsyncIterator[tuple[str, str, object]]:
        app = cast("TuimatrixApp", self.app)
        several = len(app.accounts) > 1

        async def generate() -> AsyncIterator[tuple[str, str, object]]:
            for account, room in app.accounts.rooms():
                if room.membership != "join":
                    continue
                title = f"rooms: Open {shown(room_label(account, room.room_id))}"
                help_text = shown(account.user_id) if several else shown(room.topic)
                yield title, help_text, partial(app.open_room, account, room.room_id)

        return generate()

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        async for title, help_text, callback in self._rooms():
            found = match_room(matcher, title)
            if found is not None:
                score, content = found
                # help is typed str, but Content passes through Textual's from_markup untouched.
                yield Hit(score, content, callback, title, help=Content(help_text))  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        async for title, help_text, callback in self._rooms():
            yield DiscoveryHit(Content(title), callback, title, help=Content(help_text))  # type: ignore[arg-type]


def _screen_kind(screen: object) -> str:
    from tuimatrix.screens.room import RoomScreen
    from tuimatrix.screens.room_list import RoomListScreen
    from tuimatrix.screens.thread import ThreadScreen

    # A thread is part of its room: the room's commands apply there too.
    if isinstance(screen, RoomScreen | ThreadScreen):
        return "room"
    if isinstance(screen, RoomListScreen):
        return "room-list"
    return ""


class CommandsProvider(Provider):
    """Every registered command that makes sense on this screen, with its help and key."""

    def _commands(self) -> list[tuple[str, str, Command]]:
        app = cast("TuimatrixApp", self.app)
        load_commands()
        kind = _screen_kind(self.screen)
        logged_in = len(app.accounts) > 0
        offered = []
        for cmd in sorted(REGISTRY.values(), key=lambda c: c.title):
            if cmd.screens and kind not in cmd.screens:
                continue
            if not logged_in and cmd.id not in ("login", "quit", "keys"):
                continue
            if cmd.id == "quit":
                continue  # Textual's own "Quit the application" stays
            key = key_for(app.keys, cmd.id, kind or "global")
            help_text = cmd.help + (f"  [{key}]" if key else "")
            offered.append((cmd.title, help_text, cmd))
        return offered

    async def search(self, query: str) -> Hits:
        app = cast("TuimatrixApp", self.app)
        matcher = self.matcher(query)
        for title, help_text, cmd in self._commands():
            score, offsets = matcher.fuzzy_search.match(matcher.query, title)
            if score > 0:
                # Our own titles, but the help names keys from the user's config ("[ctrl+x]").
                yield Hit(
                    score,
                    highlight(matcher, title, offsets),
                    partial(app.run_command, cmd),
                    title,
                    help=Content(help_text),  # type: ignore[arg-type]
                )

    async def discover(self) -> Hits:
        app = cast("TuimatrixApp", self.app)
        for title, help_text, cmd in self._commands():
            yield DiscoveryHit(
                Content(title),
                partial(app.run_command, cmd),
                title,
                help=Content(help_text),  # type: ignore[arg-type]
            )
