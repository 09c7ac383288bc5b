"""Command palette entries for rooms: typing part of a room's name offers that room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tuimatrix.commands import REGISTRY, Command, load_commands
from tuimatrix.core.sanitize import clean_line
from tuimatrix.keymap import key_for

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp


class OpenRoomProvider(Provider):
    """ "rooms: Open NAME" for every joined room of every account."""

    def _rooms(self) -> AsyncIterator[tuple[str, str, object]]:
        app = cast("TuimatrixApp", self.app)
        several = len(app.accounts) > 1

        async def generate() -> AsyncIterator[tuple[str, str, object]]:
            for account, room in app.accounts.rooms():
                if room.membership != "join":
                    continue
                name = clean_line(room.display_name)
                title = f"rooms: Open {name}"
                help_text = clean_line(account.user_id) if several else clean_line(room.topic)
                yield title, help_text, partial(app.open_room, account, room.room_id)

        return generate()

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        async for title, help_text, callback in self._rooms():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        async for title, help_text, callback in self._rooms():
            yield DiscoveryHit(Text(title), callback, help=help_text)  # type: ignore[arg-type]


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
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(app.run_command, cmd),
                    help=help_text,
                )

    async def discover(self) -> Hits:
        app = cast("TuimatrixApp", self.app)
        for title, help_text, cmd in self._commands():
            yield DiscoveryHit(title, partial(app.run_command, cmd), help=help_text)
