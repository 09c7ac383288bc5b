"""What commands need from a front end beyond prompts: screens to show things on.

A command reaches the app only through ``ctx.ui`` (a :class:`FrontEnd`), never the app
itself, so the registry loads without Textual and runs the same in ``exec`` and the shell.
The app implements it in ``tuimatrix/ui/context.py``; ``exec`` and the shell use
:class:`NoScreens`, where every screen is a usage error ("works only in the app").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from tuimatrix.core.errors import UsageError

if TYPE_CHECKING:
    from rich.text import Text

    from tuimatrix.config import Config
    from tuimatrix.core.account import Account
    from tuimatrix.core.inbox import InboxChoice
    from tuimatrix.core.search import SearchResult
    from tuimatrix.core.timeline import TimelineItem


def app_only(what: str) -> UsageError:
    """The usage error of something only the app can do (``exec`` exits with status 2)."""
    return UsageError(f"{what} works only in the app")


class RoomView(Protocol):
    """A room's open screen, as commands act on it: jumps, reactions, spoilers."""

    def items(self) -> Sequence[TimelineItem]:
        """The timeline's items as shown, oldest first."""

    async def jump_to_fully_read(self) -> str:
        """Scroll to the fully-read line (older pages load to reach it); what happened."""

    def jump_to_latest(self) -> str: ...

    def reaction_summary(self, event_id: str) -> str:
        """Who reacted to ``event_id`` with what, one line a reaction; "" if none."""

    def show_spoiler(self, item: TimelineItem, content: dict[str, Any], reveal: bool) -> None:
        """Show message ``item`` (as ``content``) with its spoilers revealed or hidden again."""


class FrontEnd(Protocol):
    """The screens a command may use. Grouped: what is on view, rooms, threads, showing."""

    #: True in the app; False in ``exec`` and the shell, where a command prints instead
    screens: bool

    # -- what is on view -----------------------------------------------------------------------

    def selected_event(self) -> TimelineItem | None:
        """The message selected in the open room's (or thread's) timeline, if any."""

    def current_thread(self, account: Account, room_id: str) -> str | None:
        """The root of the thread on screen, if one of ``room_id``'s is: replies from there go
        into it (a command given another room with ``--room`` is not in that thread)."""

    def room_view(self, account: Account, room_id: str) -> RoomView | None:
        """The room's open (mounted) screen; None if it is not open."""

    def config(self) -> Config | None:
        """The settings the front end runs with (None: read them from the config file)."""

    # -- rooms ---------------------------------------------------------------------------------

    def show_room_list(self) -> None: ...

    def open_room(self, account: Account, room_id: str) -> None: ...

    def close_room(self, account: Account, room_id: str) -> bool:
        """Close the room's screen; False if it was not open."""

    def next_unread_listed(self) -> tuple[Account, str] | None:
        """On the room list, the next unread room in its order from the cursor."""

    def toggle_section(self, section: str | None) -> str:
        """Fold or unfold a room-list section (None: the one under the cursor)."""

    def set_message_format(self, account: Account, room_id: str, message_format: str) -> None: ...

    def toggle_membership_events(self, account: Account, room_id: str) -> bool:
        """Hide or show the room's membership events; True when now hidden."""

    # -- threads -------------------------------------------------------------------------------

    def open_thread(self, account: Account, room_id: str, root_id: str) -> None: ...

    async def pick_thread(self, title: str, threads: list[tuple[str, Text]]) -> str | None:
        """Pick one of ``threads`` (root id, label); its root id, None if cancelled."""

    def close_thread(self) -> bool:
        """Leave the thread on screen for its room; False if no thread is on screen."""

    # -- showing -------------------------------------------------------------------------------

    def show_keys(self) -> None: ...

    def show_notice(self, title: str, text: str) -> None:
        """A passing notice (``text`` is sanitised; never read as markup)."""

    async def pick_link(self, links: list[str]) -> str | None:
        """Show a message's links and pick one to open; None if cancelled."""

    async def show_image(self, data: bytes, name: str) -> None:
        """Show an image (its encoded bytes) in a window over the room."""

    async def show_results(
        self, title: str, results: list[SearchResult], rooms: dict[str, str] | None, note: str
    ) -> SearchResult | None:
        """Show search results; the one picked, None if closed."""

    async def show_inbox(self, accounts: list[Account]) -> InboxChoice | None:
        """Show what needs the user in ``accounts`` (live); the entry picked, None if closed."""

    async def jump_to(self, account: Account, room_id: str, event_id: str) -> str:
        """Open the room and select the message (else show it with its context); what
        happened, in one line."""

    async def show_secret_once(self, title: str, warning: str, secret: str) -> None:
        """Show a secret (the recovery key) once, in a window the user must dismiss."""


class NoScreens:
    """The front end of ``exec`` and the shell: nothing on view, and no screens to show.

    Queries answer "nothing"; a screen is a usage error. The runner refuses an app-only
    command before it runs, so these errors are a safety net with a clear line.
    """

    screens = False

    def selected_event(self) -> TimelineItem | None:
        return None

    def current_thread(self, account: Account, room_id: str) -> str | None:
        return None

    def room_view(self, account: Account, room_id: str) -> RoomView | None:
        return None

    def config(self) -> Config | None:
        return None

    def _refuse(self, what: str) -> NoReturn:
        raise app_only(what)

    def show_room_list(self) -> None:
        self._refuse("the room list")

    def open_room(self, account: Account, room_id: str) -> None:
        self._refuse("opening a room")

    def close_room(self, account: Account, room_id: str) -> bool:
        self._refuse("closing a room")

    def next_unread_listed(self) -> tuple[Account, str] | None:
        self._refuse("the room list")

    def toggle_section(self, section: str | None) -> str:
        self._refuse("the room list")

    def set_message_format(self, account: Account, room_id: str, message_format: str) -> None:
        self._refuse("the message format")

    def toggle_membership_events(self, account: Account, room_id: str) -> bool:
        self._refuse("hiding membership events")

    def open_thread(self, account: Account, room_id: str, root_id: str) -> None:
        self._refuse("opening a thread")

    async def pick_thread(self, title: str, threads: list[tuple[str, Text]]) -> str | None:
        self._refuse("picking a thread")

    def close_thread(self) -> bool:
        self._refuse("closing a thread")

    def show_keys(self) -> None:
        self._refuse("the key list")

    def show_notice(self, title: str, text: str) -> None:
        self._refuse("a notice")

    async def pick_link(self, links: list[str]) -> str | None:
        self._refuse("picking a link")

    async def show_image(self, data: bytes, name: str) -> None:
        self._refuse("viewing an image")

    async def show_results(
        self, title: str, results: list[SearchResult], rooms: dict[str, str] | None, note: str
    ) -> SearchResult | None:
        self._refuse("the search results")

    async def show_inbox(self, accounts: list[Account]) -> InboxChoice | None:
        self._refuse("the inbox screen")

    async def jump_to(self, account: Account, room_id: str, event_id: str) -> str:
        self._refuse("jumping to a message")

    async def show_secret_once(self, title: str, warning: str, secret: str) -> None:
        self._refuse("showing a secret")
