"""What every part of :class:`~tuimatrix.core.operations.Operations` relies on from ``Account``.

Declared once here, as mautrix's ``BaseClientAPI`` does for its API mixins: each part of
``Operations`` subclasses this base (or another part it calls), and ``Account`` provides the
attributes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mautrix.client import Client

    from tuimatrix.core.e2ee.crypto import Crypto
    from tuimatrix.core.sendqueue import SendQueue
    from tuimatrix.core.store import Store


def as_json(value: Any) -> Any:
    """Plain JSON for mautrix calls whose types only admit its own content classes."""
    return value


class OperationsBase:
    """Mixed into ``Account``; relies on its client, store, send queue and user id."""

    client: Client
    store: Store
    send_queue: SendQueue
    user_id: str
    crypto: Crypto | None
    # Account's background sync task; None until ``start()`` (read by ``syncing``).
    _sync_task: asyncio.Task[None] | None

    async def decrypt(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Decrypt fetched events in place (Account does; without crypto nothing happens)."""

    @property
    def syncing(self) -> bool:
        """Whether the background sync loop runs (the account was started)."""
        return getattr(self, "_sync_task", None) is not None
