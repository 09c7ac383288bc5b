"""The app as a command context: the current room, and prompts as modal screens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuimatrix.commands import Param
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.timeline import TimelineItem

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp


class UIContext:
    interactive = True

    def __init__(self, app: TuimatrixApp) -> None:
        self.app = app
        self.accounts: Accounts = app.accounts

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

    def selected_message(self) -> TimelineItem | None:
        """The message selected in the open room's timeline, if any."""
        from tuimatrix.screens.room import RoomScreen
        from tuimatrix.screens.thread import ThreadScreen

        screen = self.app.screen
        if isinstance(screen, RoomScreen | ThreadScreen):
            return screen.timeline.selected_item
        return None

    def current_thread(self) -> str | None:
        """The root of the thread on screen, if one is: replies from there go into it."""
        from tuimatrix.screens.thread import ThreadScreen

        screen = self.app.screen
        return screen.root_id if isinstance(screen, ThreadScreen) else None

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        from tuimatrix.screens.prompts import TextPromptScreen

        if param.kind == "event":
            item = self.selected_message()
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
            used = {t for _, room in self.accounts.rooms() for t in room.tags}
            suggestions = ["favourite", "low-priority", *sorted(t for t in used if t[:2] == "u.")]
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

    async def show_secret(self, title: str, warning: str, secret: str) -> None:
        """Show a secret once (the recovery key) in a modal the user must dismiss."""
        from tuimatrix.screens.secret_notice import SecretNoticeScreen

        await self.app.push_screen_wait(SecretNoticeScreen(title, warning, secret))
