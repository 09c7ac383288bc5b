"""Opening the saved sessions for ``exec`` and the shell, and catching them up.

Shared by both front ends (kept apart from them, so neither imports the other).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tuimatrix.cli.output import warn
from tuimatrix.core.errors import UsageError, UserError, describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import Paths

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts


async def open_accounts(paths: Paths, account_id: str | None) -> tuple[Accounts, Account | None]:
    """Open the saved sessions (only ``account_id``'s if given); and the account in context.

    The account in context is ``account_id``'s, or the only one; None when several are open.
    """
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.core.session import read_sessions

    sessions, problems = read_sessions(paths)
    if not sessions:
        no_session = "no saved session: log in first with `tuimatrix login`"
        raise UserError("; ".join(problems) or no_session)
    accounts = Accounts(paths)
    if account_id is None:
        # A session file that could not even be renamed aside is met twice: said once.
        errors = list(dict.fromkeys(problems + await accounts.open_saved()))
        if not len(accounts):
            raise UserError("; ".join(errors) or "cannot open the saved sessions")
        for error in errors:
            warn(error)
    else:
        for problem in problems:
            warn(problem)
        info = next((s for s in sessions if s.user_id == account_id), None)
        if info is None:
            known = ", ".join(clean_line(s.user_id) for s in sessions)
            raise UsageError(f"--account: no saved session for {account_id} (accounts: {known})")
        accounts.add(await Account.open(info, paths))
    chosen = next(iter(accounts)) if len(accounts) == 1 else None
    return accounts, chosen


async def catch_up(accounts: Accounts) -> None:
    """One sync for every account, so that rooms and names are fresh.

    An account that cannot sync is a warning while another could; when none could, the
    (first) failure is raised.
    """
    listed = list(accounts)
    results = await asyncio.gather(
        *(account.sync_once() for account in listed), return_exceptions=True
    )
    failures = [
        (account, result)
        for account, result in zip(listed, results, strict=True)
        if isinstance(result, BaseException)
    ]
    for _account, result in failures:
        if not isinstance(result, Exception):  # CancelledError, KeyboardInterrupt
            raise result
    if failures and len(failures) == len(listed):
        account, error = failures[0]
        if len(listed) == 1:
            raise error
        raise UserError(f"{account.user_id}: {describe_error(error)}") from error
    for account, error in failures:
        warn(f"{account.user_id}: cannot catch up: {describe_error(error)}")
