"""The app as a command context: the current room, prompts as modal screens, and the app's
screens as the commands' front end (:class:`~tuimatrix.commands.front_end.FrontEnd`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tuimatrix.commands import Param, no_stdin
from tuimatrix.commands.front_end import FrontEnd
from tuimatrix.config import Config
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.sanitize import clean_line, clean_text
from tuimatrix.core.timeline import TimelineItem, message_body

if TYPE_CHECKING:
    from rich.text import Text

    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core.inbox import InboxChoice
    from tuimatrix.core.search import SearchResult
    from tuimatrix.screens.room import RoomScreen


class OpenRoomView:
    """A room's mounted screen as commands see it (:class:`~.front_end.RoomView`)."""

    def __init__(self, screen: RoomScreen) -> None:
        self.screen = screen

    def items(self) -> Sequence[TimelineItem]:
        return self.screen.timeline.items

    async def jump_to_fully_read(self) -> str:
        return await self.screen.jump_to_fully_read()

    def jump_to_latest(self) -> str:
        return self.screen.jump_to_latest()

    def reaction_summary(self, event_id: str) -> str:
        return self.screen.reaction_summary(event_id)

    def show_spoiler(self, item: TimelineItem, content: dict[str, Any], reveal: bool) -> None:
        # Kept by the screen: a rebuild of its items (a reaction arriving) keeps it revealed.
        (self.screen.revealed.add if reveal else self.screen.revealed.discard)(item.key)
        body = message_body(content, reveal_spoilers=reveal)
        self.screen.timeline.upsert(dataclasses.replace(item, body=body, spoiler_revealed=reveal))


class AppScreens:
    """The app's screens, as the commands' front end."""

    screens = True

    def __init__(self, app: TuimatrixApp) -> None:
        self.app = app

    # -- what is on view -----------------------------------------------------------------------

    def selected_event(self) -> TimelineItem | None:
        from tuimatrix.screens.room import RoomScreen
        from tuimatrix.screens.thread import ThreadScreen

        screen = self.app.screen
        if isinstance(screen, RoomScreen | ThreadScreen):
            return screen.timeline.selected_item
        return None

    def current_thread(self, account: Account, room_id: str) -> str | None:
        from tuimatrix.screens.thread import ThreadScreen

        screen = self.app.screen
        if not isinstance(screen, ThreadScreen):
            return None
        return screen.root_id if screen.account is account and screen.room_id == room_id else None

    def room_view(self, account: Account, room_id: str) -> OpenRoomView | None:
        from tuimatrix.ui.message_jump import room_screen

        screen = room_screen(self.app, account, room_id)
        return OpenRoomView(screen) if screen is not None and screen.is_mounted else None

    def config(self) -> Config | None:
        return self.app.config

    # -- rooms ---------------------------------------------------------------------------------

    def show_room_list(self) -> None:
        self.app.action_show_room_list()

    def open_room(self, account: Account, room_id: str) -> None:
        self.app.open_room(account, room_id)

    def close_room(self, account: Account, room_id: str) -> bool:
        return self.app.close_room(account, room_id)

    def next_unread_listed(self) -> tuple[Account, str] | None:
        if self.app.screen is not self.app.room_list:
            return None
        return self.app.room_list.next_unread()

    def toggle_section(self, section: str | None) -> str:
        return self.app.room_list.toggle_section(section)

    def set_message_format(self, account: Account, room_id: str, message_format: str) -> None:
        self.app.set_message_format(account, room_id, message_format)

    def toggle_membership_events(self, account: Account, room_id: str) -> bool:
        return self.app.toggle_membership_events(account, room_id)

    # -- threads -------------------------------------------------------------------------------

    def open_thread(self, account: Account, room_id: str, root_id: str) -> None:
        from tuimatrix.screens.thread import open_thread

        open_thread(self.app, account, room_id, root_id)

    async def pick_thread(self, title: str, threads: list[tuple[str, Text]]) -> str | None:
        from tuimatrix.screens.thread import ThreadPickerScreen

        return await self.app.push_screen_wait(ThreadPickerScreen(title, threads))

    def close_thread(self) -> bool:
        from tuimatrix.screens.thread import ThreadScreen

        screen = self.app.screen
        if not isinstance(screen, ThreadScreen):
            return False
        self.app.open_room(screen.account, screen.room_id)
        return True

    # -- showing -------------------------------------------------------------------------------

    def show_keys(self) -> None:
        self.app.show_keys()

    def show_notice(self, title: str, text: str) -> None:
        # Cleaned here, where it meets the widget, whoever made it; markup=False keeps "[".
        self.app.notify(clean_text(text), title=clean_line(title), markup=False, timeout=15)

    async def pick_link(self, links: list[str]) -> str | None:
        from tuimatrix.screens.links import LinkPickerScreen

        return await self.app.push_screen_wait(LinkPickerScreen(links))

    async def show_image(self, data: bytes, name: str) -> None:
        from tuimatrix.screens.image import ImageScreen, decode_image

        image = await decode_image(data)
        self.app.push_screen(ImageScreen(image, name))

    async def show_results(
        self, title: str, results: list[SearchResult], rooms: dict[str, str] | None, note: str
    ) -> SearchResult | None:
        from tuimatrix.screens.search import SearchResultsScreen

        return await self.app.push_screen_wait(SearchResultsScreen(title, results, rooms, note))

    async def show_inbox(self, accounts: list[Account]) -> InboxChoice | None:
        from tuimatrix.screens.inbox import InboxScreen

        return await self.app.push_screen_wait(InboxScreen(accounts))

    async def jump_to(self, account: Account, room_id: str, event_id: str) -> str:
        from tuimatrix.ui.message_jump import jump_to

        return await jump_to(self.app, account, room_id, event_id)

    async def show_secret_once(self, title: str, warning: str, secret: str) -> None:
        from tuimatrix.screens.secret_notice import SecretNoticeScreen

        await self.app.push_screen_wait(SecretNoticeScreen(title, warning, secret))


class UIContext:
    interactive = True

    def __init__(self, app: TuimatrixApp) -> None:
        self.app = app
        self.accounts: Accounts = app.accounts
        self.ui: FrontEnd = AppScreens(app)

    def current(self) -> tuple[Account | None, str | None]:
        from tuimatrix.screens.room import RoomScreen
        from tuimatrix.screens.room_list import RoomListScreen
        from tuimatrix.screens.thread import ThreadScreen

        screen = self.app.screen
        if isinstance(screen, RoomScreen | ThreadScreen):
            return screen.account, screen.room_id
        if isinstance(screen, RoomListScreen):
            selected = screen.selected()
            if selected is not None:
                return selected[0], selected[1].room_id
        return None, None

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        from tuimatrix.screens.prompts import RoomPickerScreen

        return await self.app.push_screen_wait(RoomPickerScreen(title, self.accounts, account))

    async def choose_account(self, title: str) -> Account | None:
        from tuimatrix.screens.prompts import AccountPickerScreen

        return await self.app.push_screen_wait(AccountPickerScreen(title, self.accounts))

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        from tuimatrix.screens.prompts import TextPromptScreen

        if param.kind == "event":
            item = self.ui.selected_event()
            if item is None:
                self.app.notify_status("select a message first: tab to the timeline, then ↑ ↓")
                return None
            return item.key
        if param.kind == "emoji":
            from tuimatrix.screens.emoji_picker import EmojiPickerScreen

            return await self.app.push_screen_wait(EmojiPickerScreen(title))
        if param.kind == "path":
            from tuimatrix.screens.path_prompt import PathPromptScreen

            return await self.app.push_screen_wait(PathPromptScreen(title, initial or ""))
        if param.kind in ("room", "space"):
            from tuimatrix.screens.prompts import RoomPickerScreen

            # A space must be one of the current account's; a room may be any account's.
            current = self.current()[0] if param.kind == "space" else None
            picker = RoomPickerScreen(
                title, self.accounts, current, spaces_only=param.kind == "space"
            )
            chosen = await self.app.push_screen_wait(picker)
            return None if chosen is None else chosen[1]
        if param.kind == "secret":
            return await self.app.push_screen_wait(TextPromptScreen(title, secret=True))
        suggestions: list[str] = []
        if param.kind == "user":
            suggestions = await self._known_users()
        elif param.kind == "tag":
            from tuimatrix.commands.tags import tag_suggestions

            suggestions = tag_suggestions(self.accounts)
        screen = TextPromptScreen(
            title, suggestions=suggestions, choices=param.choices, initial=initial or ""
        )
        return await self.app.push_screen_wait(screen)

    async def _known_users(self) -> list[str]:
        account, room_id = self.current()
        users: set[str] = {a.user_id for a in self.accounts}
        if account is not None and room_id is not None:
            users |= set(await account.member_names(room_id))
        return sorted(users)

    async def confirm(self, question: str) -> bool:
        from tuimatrix.screens.prompts import ConfirmScreen

        answer: bool = await self.app.push_screen_wait(ConfirmScreen(question))
        return answer

    async def read_stdin(self) -> str:
        raise no_stdin()
