"""Every account of this profile, loaded together: the UI and the shell talk to this."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterator

from tuimatrix.core import signed_out
from tuimatrix.core.account import Account, Listener, import_network
from tuimatrix.core.errors import describe_error
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.session import read_sessions
from tuimatrix.paths import Paths

log = logging.getLogger(__name__)


class Accounts:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.by_user: dict[str, Account] = {}
        self._listeners: list[Listener] = []

    def __iter__(self) -> Iterator[Account]:
        return iter(self.by_user.values())

    def __len__(self) -> int:
        return len(self.by_user)

    def get(self, user_id: str) -> Account | None:
        return self.by_user.get(user_id)

    async def open_saved(self, *, defer_network: bool = False) -> list[str]:
        """Open every saved session from disk; returns one line per failure (an unusable
        session file, a store that would not open) and per sign-out found a false alarm.

        The network is needed only for an account the server seemed to sign out: its kept
        token is checked first (signed_out.check_kept_session), and restored if it works.

        ``defer_network``: open only the stores, for a first frame that does not wait for the
        network and crypto stack to be imported (:meth:`start_all` finishes the job).
        """
        kept = [
            user_id
            for user_id, _ in signed_out.all_signed_out(self.paths)
            if user_id not in self.by_user
        ]
        checked = await asyncio.gather(
            *(signed_out.check_kept_session(self.paths, user_id) for user_id in kept)
        )
        notices = [line for line in checked if line]
        sessions, errors = read_sessions(self.paths)
        errors = notices + errors
        for info in sessions:
            if info.user_id in self.by_user:
                continue
            try:
                account = await Account.open(info, self.paths, defer_network=defer_network)
                self.add(account)
                # A login that failed half-way may have left unsent messages behind.
                errors += await signed_out.requeue_notice(self.paths, account)
            except Exception as e:  # a broken store must not keep the other accounts out
                # The caller shows the one line; the traceback only with --debug.
                log.debug("cannot open %s", info.user_id, exc_info=True)
                errors.append(f"{info.user_id}: {describe_error(e)}")
        return errors

    def only(self, account: Account) -> Accounts:
        """A view of just ``account`` (``exec --account``: names resolve among its rooms
        only); it shares the account, it does not own it."""
        view = Accounts(self.paths)
        view.by_user[account.user_id] = account
        return view

    def add(self, account: Account) -> None:
        self.by_user[account.user_id] = account
        account.add_listener(self._dispatch)

    async def start_all(self, skip: Collection[str] = ()) -> list[str]:
        """Start syncing every account (but those in ``skip``); returns one line per account
        that could not start."""
        if self.by_user:
            # In a thread, the imports hold up the UI loop for a few ms at a time, not 0.5 s.
            await asyncio.to_thread(import_network)
        starting = [account for account in self if account.user_id not in skip]
        results = await asyncio.gather(
            *(account.start() for account in starting), return_exceptions=True
        )
        return [
            f"{account.user_id}: {describe_error(result)}"
            for account, result in zip(starting, results, strict=True)
            if isinstance(result, BaseException)
        ]

    async def remove(self, user_id: str) -> None:
        account = self.by_user.pop(user_id, None)
        if account is not None:
            account.remove_listener(self._dispatch)
            await account.close()

    async def close_all(self) -> None:
        await asyncio.gather(*(account.close() for account in self), return_exceptions=True)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _dispatch(self, account: Account, change: object) -> None:
        for listener in list(self._listeners):
            listener(account, change)

    def rooms(self) -> Iterator[tuple[Account, RoomSummary]]:
        """Every room of every account."""
        for account in self:
            for summary in account.rooms.summaries.values():
                yield account, summary
