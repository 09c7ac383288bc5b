"""What the modules an ``Account`` uses may use of it in turn: a Protocol.

``Account`` imports history, the key backup, key export, recovery and signed_out (to page
back, back up keys, sign out); they take an ``AccountLike`` instead of importing ``Account``,
so that the dependency runs one way (tests/test_import_cycles.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mautrix.client import Client

    from tuimatrix.core.e2ee.crypto import Crypto
    from tuimatrix.core.notices import Notices
    from tuimatrix.core.sendqueue import SendQueue
    from tuimatrix.core.store import Store


class AccountLike(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def store(self) -> Store: ...

    @property
    def client(self) -> Client: ...

    @property
    def crypto(self) -> Crypto | None: ...

    @property
    def send_queue(self) -> SendQueue: ...

    @property
    def notices(self) -> Notices: ...

    def add_listener(self, listener: Callable[[Any, object], None]) -> None:
        """Call ``listener(account, change)`` with every change the account emits."""

    def emit(self, change: object) -> None:
        """Tell every listener about ``change`` (a ``SyncChanges``, ``SyncStatus``…)."""

    def room_keys_imported(self, rooms: set[str]) -> None:
        """Room keys came from outside a sync: ``rooms`` reload, the keys go to the backup."""

    async def decrypt(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Decrypt fetched events in place, if we can."""

    async def messages(self, room_id: str, token: str, limit: int) -> dict[str, Any]:
        """One page of ``/messages`` backwards from ``token``."""
