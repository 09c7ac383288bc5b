"""Command palette entries for rooms: typing part of a room's name offers that room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tuimatrix.core.sanitize import clean_line

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
