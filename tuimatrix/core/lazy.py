"""mautrix names that resolve on first use, so that importing a module does not import mautrix.

The app's first frame (the room list, read from the store) needs neither HTTP nor crypto, but
importing mautrix's API and types pulls in aiohttp and costs about a third of a second. Modules
on the start path that use these names only inside functions import them from here; the app
imports the real modules in the background once the first frame is out
(:func:`tuimatrix.core.account.import_network`). Type checkers see the real names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "EventType",
    "FilterID",
    "Method",
    "Path",
    "RoomCreatePreset",
    "RoomID",
    "SyncToken",
    "UserID",
]


class _Lazy:
    """Stands for ``module.name``: attribute access, calls and indexing go to the real thing."""

    __slots__ = ("_module", "_name", "_value")

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name
        self._value: Any = None

    def _resolve(self) -> Any:
        if self._value is None:
            self._value = getattr(importlib.import_module(self._module), self._name)
        return self._value

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._resolve(), attr)

    def __getitem__(self, key: Any) -> Any:
        return self._resolve()[key]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self._module}.{self._name}>"


if TYPE_CHECKING:
    from mautrix.api import Method, Path
    from mautrix.types import EventType, FilterID, RoomCreatePreset, RoomID, SyncToken, UserID
else:
    Method = _Lazy("mautrix.api", "Method")
    Path = _Lazy("mautrix.api", "Path")
    EventType = _Lazy("mautrix.types", "EventType")
    RoomCreatePreset = _Lazy("mautrix.types", "RoomCreatePreset")
    RoomID = _Lazy("mautrix.types", "RoomID")
    UserID = _Lazy("mautrix.types", "UserID")
    FilterID = _Lazy("mautrix.types", "FilterID")
    SyncToken = _Lazy("mautrix.types", "SyncToken")
