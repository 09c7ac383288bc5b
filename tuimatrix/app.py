"""The Textual app: wires the accounts to the screens. Thin by design."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from tuimatrix.commands import Command, UsageError, commands_loaded, load_commands, parse_line
from tuimatrix.commands.runner import Cancelled, run
from tuimatrix.config import load_config
from tuimatrix.core import account as acc
from tuimatrix.core.account import Account, import_network
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.e2ee.verification import VerificationChanged, verifications
from tuimatrix.core.errors import describe_error
from tuimatrix.core.sanitize import clean_text
from tuimatrix.paths import Paths, get_paths
from tuimatrix.ui import idle_gc
from tuimatrix.ui.alerts import Alerts
from tuimatrix.ui.context import UIContext
from tuimatrix.ui.keymap import PREFIX_KEY, binding_id, binding_title, describe, merged_keys
from tuimatrix.ui.palette import CommandsProvider, OpenRoomProvider
from tuimatrix.ui.room_settings import RoomSettings
from tuimatrix.ui.textual_private import installed_screens, key_bindings
from tuimatrix.widgets.status import StatusLine

if TYPE_CHECKING:
    from tuimatrix.core.hooks import HookRunner
    from tuimatrix.owner.server import OwnerServer
    from tuimatrix.screens.room import RoomScreen
    from tuimatrix.screens.room_list import RoomListScreen

log = logging.getLogger(__name__)

ROOM_LIST = "room-list"
#: how long quitting waits for the last read markers to reach the server (seconds)
EXIT_SEND_TIMEOUT = 1.5


class TuimatrixApp(App[None]):
    TITLE = "tuimatrix"
    CSS = """
    Screen { layout: vertical; }
    """
    COMMANDS = App.COMMANDS | {OpenRoomProvider, CommandsProvider}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        # priority: the composer (a TextArea) would take ctrl+u for itself.
        Binding(PREFIX_KEY, "prefix", "Prefix", id="prefix", show=False, priority=True),
    ]

    @dataclass
    class AccountChanged(Message):
        """Something happened in an account (posted from the core's listener)."""

        account: Account
        change: object

    def __init__(
        self,
        paths: Paths | None = None,
        *,
        background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        """``background``: coroutines to run for the app's lifetime (the demo's peers)."""
        super().__init__()
        self.paths = paths or get_paths()
        self._background = background
        self._background_tasks: list[asyncio.Task[None]] = []
        #: small requests that should still be made if the app quits now (read markers)
        self._exit_sends: set[asyncio.Task[None]] = set()
        self.accounts = Accounts(self.paths)
        self.status_message = ""
        self._asked_password: set[str] = set()
        self.config = load_config(self.paths.config_file)
        self.keys = merged_keys(self.config)
        #: nodes whose key bindings wait for the commands' titles (see _finish_start)
        self._untitled: list[tuple[App[Any] | Screen[Any], str]] = []
        self.apply_keys(self, "global")
        #: the universal prefix given before the next command (0, 1 or 2 times)
        self.prefix = 0
        self.room_settings, self._room_settings_notice = RoomSettings.load(self.paths)
        #: the profile's owner socket, served while this app owns the profile (tuimatrix.owner)
        self.owner_server: OwnerServer | None = None
        self._hooks: HookRunner | None = None
        self.alerts = Alerts(self, self.config.notifications)

    # -- start and stop ------------------------------------------------------------------------

    async def on_mount(self) -> None:
        from tuimatrix.screens.room_list import RoomListScreen

        # Only the stores: the network and crypto stack is imported after the first frame.
        errors = await self.accounts.open_saved(defer_network=True)
        # What start-up loaded (libraries, models) lives for the whole session: moving it out
        # of the collector's reach keeps full collections from stalling frames by ~100 ms.
        gc.freeze()
        # And those that remain wait for a quiet moment (see idle_gc).
        idle_gc.install()
        self.set_interval(idle_gc.CHECK_INTERVAL, idle_gc.check)
        self.accounts.add_listener(self._on_account_change)
        self.alerts.start()
        self.install_screen(RoomListScreen(), ROOM_LIST)
        await self.push_screen(ROOM_LIST)
        errors += self.config.errors
        if self._room_settings_notice:
            errors.append(self._room_settings_notice)
        if errors:
            self.notify_status("; ".join(errors), error=True)
        # Once the room list is on screen: what its first frame did not need.
        self.call_after_refresh(self._finish_start, len(self.accounts) > 0)
        if len(self.accounts) == 0:
            self.show_login()
        # Plain tasks, not workers: on exit they must finish their cleanup before the loop ends.
        self._background_tasks = [asyncio.create_task(make()) for make in self._background]
        await self._serve_profile()

    async def _serve_profile(self) -> None:
        """Serve ``exec``, ``shell`` and ``listen`` over the profile's socket, when this app
        owns the profile (``tuimatrix`` took it in tuimatrix.cli.app_owner); requests wait
        until the accounts have started."""
        from tuimatrix.core.profile_lock import owns_profile
        from tuimatrix.owner.attach import owner_handlers
        from tuimatrix.owner.server import OwnerServer

        if not owns_profile(self.paths):
            return
        server = OwnerServer(self.paths, self.accounts, "app", owner_handlers(self.accounts))
        try:
            await server.start()
        except Exception as e:  # the app works without it; scripts then say why they wait
            self.notify_status(f"scripts cannot reach this app: {describe_error(e)}", error=True)
            return
        self.owner_server = server
        if len(self.accounts) == 0:
            server.ready.set()

    @work(group="start")
    async def _finish_start(self, start_accounts: bool) -> None:
        """Import the network stack and the commands (in threads: half a second of imports
        that would otherwise freeze the room list), then give the key bindings their titles
        and start syncing."""
        await asyncio.to_thread(import_network)
        await asyncio.to_thread(load_commands)
        untitled, self._untitled = self._untitled, []
        for node, scope in untitled:
            self.apply_keys(node, scope)
        if start_accounts:
            # As in on_mount: these modules live as long as the app. (Not with the login
            # screen up: frozen, its widgets would never be collected once it closes.)
            gc.freeze()
            self.start_accounts()

    @work(group="accounts")
    async def start_accounts(self) -> None:
        errors, broken = [], set()
        for account in self.accounts:
            try:
                verifications(account)  # verification requests are answered from the first sync
            except Exception as e:  # its crypto cannot load (a broken pickle-key file)
                errors.append(f"{account.user_id}: {describe_error(e)}")
                broken.add(account.user_id)
        # An account whose keys cannot be read stays offline: its rooms can still be read.
        errors += await self.accounts.start_all(skip=broken)
        if self.owner_server is not None:
            self.owner_server.ready.set()
        if errors:
            self.notify_status("; ".join(errors), error=True)
        await self._start_hooks()

    async def _start_hooks(self) -> None:
        """Run the config's ``[[hooks]]`` on the accounts' events; failures reach the status
        line. Only where this app owns the profile: one owner runs them, never two."""
        from tuimatrix.core.hooks import HookRunner

        if self.owner_server is None or not self.config.hooks.hooks or self._hooks is not None:
            return
        self._hooks = HookRunner(
            self.accounts, self.config.hooks, lambda line: self.notify_status(line, error=True)
        )
        await self._hooks.start()

    async def on_unmount(self) -> None:
        idle_gc.uninstall()
        await self.alerts.close()
        if self.owner_server is not None:
            # Scripts' requests under way finish first (briefly): their messages settle.
            await self.owner_server.close(grace=EXIT_SEND_TIMEOUT)
        if self._hooks is not None:
            await self._hooks.stop()
        for task in self._background_tasks:
            task.cancel()
        await asyncio.gather(*self._background_tasks, return_exceptions=True)
        # The room screens closed before this (quitting with a room open sends its fully-read
        # marker): give those requests a moment, never more, before the accounts close.
        sends = set(self._exit_sends)
        if sends:
            _, late = await asyncio.wait(sends, timeout=EXIT_SEND_TIMEOUT)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.accounts.close_all()

    def send_before_exit(self, send: Coroutine[Any, Any, None]) -> None:
        """Run ``send`` as a task that quitting waits for, briefly (``EXIT_SEND_TIMEOUT``).

        Not a worker: the app's workers are cancelled before its unmount handler runs.
        """
        task = asyncio.create_task(send)
        self._exit_sends.add(task)
        task.add_done_callback(self._exit_sends.discard)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            idle_gc.touch()
            self.alerts.user_returned()
        await super().on_event(event)

    def show_login(self) -> None:
        from tuimatrix.screens.login import LoginScreen

        self.push_screen(LoginScreen())

    async def add_account(self, account: Account, notice: str = "") -> None:
        """A login succeeded: show its rooms and start syncing."""
        self.accounts.add(account)
        self.room_list.refresh_rooms()
        if notice:
            self.notify_status(notice)
        verifications(account)
        await account.start()
        self.refresh_status()

    # -- account changes -------------------------------------------------------------------------

    def _on_account_change(self, account: Account, change: object) -> None:
        # Called from the core's tasks: hand over to the message queue, never block them.
        self.post_message(self.AccountChanged(account, change))

    def on_tuimatrix_app_account_changed(self, message: AccountChanged) -> None:
        if not self.is_screen_installed(ROOM_LIST):
            # Posted before the room list exists, or while quitting (closing accounts
            # say "stopped" after the screens are gone): nothing left to update.
            return
        account, change = message.account, message.change
        self.alerts.account_changed(account, change)
        self.room_list.account_changed(account, change)
        for screen in self.room_screens():
            if screen.account is account:
                screen.account_changed(change)
        if isinstance(change, acc.SyncStatus):
            self.refresh_status()
            if change.state == acc.SOFT_LOGGED_OUT and account.user_id not in self._asked_password:
                self._asked_password.add(account.user_id)
                self.ask_password(account)
            elif change.state == acc.LOGGED_OUT:
                self.notify_status(f"{account.user_id} was logged out by the server", error=True)
        elif isinstance(change, VerificationChanged):
            from tuimatrix.screens.verification import show_verification

            show_verification(self, account, change.verification)

    @work
    async def ask_password(self, account: Account) -> None:
        from tuimatrix.screens.password import PasswordScreen

        if await self.push_screen_wait(PasswordScreen(account)):
            self._asked_password.discard(account.user_id)
            await account.start()

    # -- screens -------------------------------------------------------------------------------

    @property
    def room_list(self) -> RoomListScreen:
        from tuimatrix.screens.room_list import RoomListScreen

        screen = self.get_screen(ROOM_LIST)
        assert isinstance(screen, RoomListScreen)
        return screen

    def room_screens(self) -> Iterable[RoomScreen]:
        names = [name for name in installed_screens(self) if name.startswith("room:")]
        if not names:
            return  # without importing the room screen, which the first frame does not need
        from tuimatrix.screens.room import RoomScreen

        for name in names:
            screen = installed_screens(self).get(name)
            if isinstance(screen, RoomScreen):
                yield screen

    def open_room(self, account: Account, room_id: str) -> None:
        """Show a room's screen, creating it the first time; it stays alive until closed."""
        from tuimatrix.screens.room import RoomScreen

        name = f"room:{account.user_id}|{room_id}"
        if not self.is_screen_installed(name):
            self.install_screen(RoomScreen(account, room_id), name)
        self._switch_to(name)
        self.room_list.refresh_open_rooms()

    def action_show_room_list(self) -> None:
        self._switch_to(ROOM_LIST)

    def _switch_to(self, name: str) -> None:
        # The room list and the room screens take turns at the top of the stack: switching
        # never stacks a second copy of any of them.
        current = self.screen
        if isinstance(current, Screen) and self.get_screen(name) is current:
            return
        self.switch_screen(name)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("view: Room list", "Show every room", self.action_show_room_list)

    def close_room(self, account: Account, room_id: str) -> bool:
        """Close a room's screen; False if it was not open."""
        name = f"room:{account.user_id}|{room_id}"
        if not self.is_screen_installed(name):
            return False
        screen = self.get_screen(name)
        if self.screen is screen:
            # Textual removes the screen it switches away from once it is not installed.
            self._switch_to(ROOM_LIST)
            self.uninstall_screen(name)
        else:
            # Suspended and off the stack: uninstalling alone would leave it mounted for good,
            # its timers and its loaded timeline with it.
            self.uninstall_screen(name)
            screen.remove()
        self.room_list.refresh_open_rooms()
        return True

    def message_format(self, account: Account, room_id: str) -> str:
        """The room's own format (saved), else the config's default."""
        chosen = self.room_settings.get(account.user_id, room_id, "format")
        return str(chosen) if chosen is not None else self.config.room.format

    def set_message_format(self, account: Account, room_id: str, message_format: str) -> None:
        """The room's format, now (if its screen is open) and when it is opened again."""
        self.room_settings.set(account.user_id, room_id, "format", message_format)
        self._save_room_settings()
        for screen in self.room_screens():
            if screen.account is account and screen.room_id == room_id and screen.is_mounted:
                screen.timeline.set_format(message_format)

    def hides_membership(self, account: Account, room_id: str) -> bool:
        """Whether the room hides membership events (its own choice, else the config's)."""
        chosen = self.room_settings.get(account.user_id, room_id, "hide-membership-events")
        return bool(chosen) if chosen is not None else self.config.room.hide_membership_events

    def toggle_membership_events(self, account: Account, room_id: str) -> bool:
        """Hide the room's membership events if shown, else show them; returns hidden."""
        hidden = not self.hides_membership(account, room_id)
        self.room_settings.set(account.user_id, room_id, "hide-membership-events", hidden)
        self._save_room_settings()
        for screen in self.room_screens():
            if screen.account is account and screen.room_id == room_id and screen.is_mounted:
                screen.set_hide_membership(hidden)
        return hidden

    @work(group="room-settings")
    async def _save_room_settings(self) -> None:
        try:
            await self.room_settings.save()
        except OSError as e:
            self.notify_status(f"cannot save room settings: {e.strerror or e}", error=True)

    def show_keys(self) -> None:
        from tuimatrix.screens.keys import KeysScreen

        self.push_screen(KeysScreen(describe(self.keys)))

    # -- commands and keys ------------------------------------------------------------------

    def apply_keys(self, node: App[Any] | Screen[Any], scope: str) -> None:
        """Bind ``scope``'s keys on ``node``; a key bound to "" loses its default too."""
        titled = commands_loaded()
        if not titled:
            # The titles come from the command modules, which load after the first frame.
            self._untitled.append((node, scope))
        for key, lines in self.config.keys.get(scope, {}).items():
            if not lines:
                # Textual keeps a node's bindings in a BindingsMap; dropping the key unbinds it.
                key_bindings(node).pop(key, None)
        for key, lines in self.keys[scope].items():
            key_bindings(node)[key] = [
                Binding(
                    key,
                    f"app.run_keys({scope!r}, {key!r})",
                    binding_title(lines) if titled else " ; ".join(lines),
                    show=False,
                    id=binding_id(lines),
                )
            ]

    def action_run_keys(self, scope: str, key: str) -> None:
        lines = self.keys.get(scope, {}).get(key)
        if lines:
            self.run_lines(lines)

    def action_prefix(self) -> None:
        self.prefix = min(2, self.prefix + 1)
        self.notify_status(
            "prefix: the next command asks for the room"
            + (" and skips confirmation" if self.prefix == 2 else "")
        )

    def run_lines(self, lines: Sequence[str]) -> None:
        """Run command lines in order (a key's macro); stops at the first that fails."""
        prefix, self.prefix = self.prefix, 0
        self._run_lines(list(lines), prefix)

    def run_command(self, command: Command, args: dict[str, Any] | None = None) -> None:
        prefix, self.prefix = self.prefix, 0
        self._run_commands([(command, dict(args or {}))], prefix)

    def _run_lines(self, lines: list[str], prefix: int) -> None:
        try:
            parsed = [parse_line(line) for line in lines]
        except UsageError as e:
            self.notify_status(str(e), error=True)
            return
        self._run_commands(parsed, prefix)

    @work(group="commands")
    async def _run_commands(
        self, commands: list[tuple[Command, dict[str, Any]]], prefix: int
    ) -> None:
        context = UIContext(self)
        for command, args in commands:
            if command.id == "quit":
                await self.action_quit()
                return
            if command.id == "login":
                self.show_login()
                return
            try:
                result = await run(context, command, args, prefix)
            except Cancelled:
                self.notify_status("cancelled")
                return
            except Exception as e:
                self.notify_status(f"{command.id}: {describe_error(e)}", error=True)
                return
            self.notify_status(result.message)

    # -- status line ------------------------------------------------------------------------------

    def notify_status(self, message: str, *, error: bool = False) -> None:
        self.status_message = message
        self.refresh_status()
        if error:
            # markup=False makes a plain Content, which Textual does not clean of controls.
            self.notify(clean_text(message), severity="error", markup=False)

    def refresh_status(self) -> None:
        for screen in [*installed_screens(self).values(), *self.screen_stack]:
            if isinstance(screen, Screen):
                for line in screen.query(StatusLine):
                    line.refresh()
