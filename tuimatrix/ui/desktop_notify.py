"""Desktop notifications through the freedesktop notification service, over D-Bus.

``org.freedesktop.Notifications.Notify`` on the session bus, with dbus-fast (asyncio-native,
typed, maintained; see pyproject.toml). Each call has a deadline, and the app runs it as a
task, so a slow or stuck notification daemon never holds up the UI. Without a session bus (an
SSH session, a container) the desktop channel is simply off: said once at debug level, never
an error on screen.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import TYPE_CHECKING

from tuimatrix.core.alert_policy import MAX_BODY, MAX_TITLE, capped

if TYPE_CHECKING:
    from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
APP_NAME = "tuimatrix"
#: seconds a connection or a call may take before the notification is given up
TIMEOUT = 3.0
# The spec's urgency hint: 1 normal, 2 critical (a critical one stays until dismissed).
_NORMAL = 1


class DesktopNotifier:
    """One session-bus connection, made on first use; off for good if there is no bus."""

    def __init__(self, address: str | None = None, timeout: float = TIMEOUT) -> None:
        """``address``: the bus to use (default: ``DBUS_SESSION_BUS_ADDRESS``)."""
        self.address = address
        self.timeout = timeout
        self.available = True
        self._bus: MessageBus | None = None

    async def notify(self, title: str, body: str) -> bool:
        """Show a notification; False if it could not be (the reason is logged at debug)."""
        if not self.available:
            return False
        try:
            return await asyncio.wait_for(self._notify(title, body), self.timeout)
        except Exception as e:  # a notification is never worth an error on screen
            log.debug("desktop notification failed: %s", e)
            self._drop()
            return False

    async def _notify(self, title: str, body: str) -> bool:
        from dbus_fast import Message, MessageType, Variant

        bus = await self._connect()
        if bus is None:
            return False
        reply = await bus.call(
            Message(
                destination=SERVICE,
                path=PATH,
                interface=SERVICE,
                member="Notify",
                signature="susssasa{sv}i",
                body=[
                    APP_NAME,
                    0,
                    "",
                    # The summary is plain text; the body may hold the spec's markup subset,
                    # so its text is escaped to stay text.
                    capped(title, MAX_TITLE),
                    html.escape(capped(body, MAX_BODY), quote=False),
                    [],
                    {"urgency": Variant("y", _NORMAL), "category": Variant("s", "im.received")},
                    -1,
                ],
            )
        )
        if reply.message_type == MessageType.ERROR:
            log.debug("the notification service refused: %s %s", reply.error_name, reply.body)
            return False
        return True

    async def _connect(self) -> MessageBus | None:
        if self._bus is not None and self._bus.connected:
            return self._bus
        from dbus_fast.aio import MessageBus

        try:
            self._bus = await MessageBus(bus_address=self.address).connect()
        except Exception as e:
            self.available = False
            log.debug("no session bus, desktop notifications are off: %s", e)
            return None
        return self._bus

    def _drop(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    def close(self) -> None:
        self._drop()
