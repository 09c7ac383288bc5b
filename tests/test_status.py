"""The status line and the room list's ages (pure logic)."""

from __future__ import annotations

from pathlib import Path

from tuimatrix.core import account as acc
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.ages import short_age
from tuimatrix.paths import Paths
from tuimatrix.widgets.status import status_text


class FakeAccount:
    def __init__(self, user_id: str, status: acc.SyncStatus) -> None:
        self.user_id = user_id
        self.status = status


def accounts_with(*fakes: FakeAccount) -> Accounts:
    accounts = Accounts(Paths(*(Path("/nonexistent"),) * 4))
    for fake in fakes:
        accounts.by_user[fake.user_id] = fake  # type: ignore[assignment]
    return accounts


def test_status_line_shows_each_account_state() -> None:
    now = 1000.0
    text = status_text(
        accounts_with(
            FakeAccount("@a:x", acc.SyncStatus(acc.LIVE)),
            FakeAccount("@b:y", acc.SyncStatus(acc.RECONNECTING, "cannot reach", retry_at=1008)),
        ),
        "sent",
        now=now,
    ).plain
    assert text == "@a:x live · @b:y reconnecting in 8s (cannot reach)  sent"


def test_status_line_sanitises_server_text() -> None:
    text = status_text(
        accounts_with(
            FakeAccount("@a:x", acc.SyncStatus(acc.LOGGED_OUT, "M_UNKNOWN_TOKEN: \x1b]0;x\x07bad"))
        )
    ).plain
    assert "\x1b" not in text and "\x07" not in text


def test_status_line_counts_the_initial_sync() -> None:
    text = status_text(
        accounts_with(FakeAccount("@a:x", acc.SyncStatus(acc.INITIAL_SYNC, started=990.0))),
        now=1000.0,
    ).plain
    assert text == "@a:x initial sync… 10s"


def test_status_line_without_accounts() -> None:
    assert status_text(accounts_with()).plain == "not logged in"


def test_short_ages() -> None:
    now = 10_000_000.0
    assert short_age(0, now) == ""
    assert short_age(int((now - 30) * 1000), now) == "now"
    assert short_age(int((now - 180) * 1000), now) == "3m"
    assert short_age(int((now - 7200) * 1000), now) == "2h"
    assert short_age(int((now - 5 * 86400) * 1000), now) == "5d"


def test_status_line_says_when_a_live_sync_is_overdue() -> None:
    text = status_text(
        accounts_with(
            FakeAccount("@a:x", acc.SyncStatus(acc.WAITING, "no answer yet", started=975.0))
        ),
        now=1000.0,
    ).plain
    assert text == "@a:x waiting for the server… 25s"
