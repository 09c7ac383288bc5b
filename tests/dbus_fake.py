"""A private D-Bus session bus (``dbus-daemon``) and a fake freedesktop notification service."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import ServiceInterface, dbus_method

from tuimatrix.ui.desktop_notify import PATH, SERVICE


@contextmanager
def session_bus(directory: Path) -> Iterator[str]:
    """A session bus of our own; its address (``unix:path=…``)."""
    if shutil.which("dbus-daemon") is None:
        raise RuntimeError("dbus-daemon is not installed (apt-get install dbus)")
    daemon = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            f"--address=unix:path={directory / 'bus'}",
            "--print-address",
            "--nofork",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


class FakeNotifications(ServiceInterface):
    """``org.freedesktop.Notifications`` that keeps what it is asked to show."""

    def __init__(self, delay: float = 0) -> None:
        super().__init__(SERVICE)
        self.delay = delay
        #: (app name, summary, body, hints) of each Notify call
        self.shown: list[tuple[str, str, str, dict[str, Any]]] = []

    @dbus_method()
    async def Notify(  # the D-Bus method's name
        self,
        app_name: Annotated[str, DBusSignature("s")],
        replaces_id: Annotated[int, DBusSignature("u")],
        app_icon: Annotated[str, DBusSignature("s")],
        summary: Annotated[str, DBusSignature("s")],
        body: Annotated[str, DBusSignature("s")],
        actions: Annotated[list[str], DBusSignature("as")],
        hints: Annotated[dict[str, Variant], DBusSignature("a{sv}")],
        expire_timeout: Annotated[int, DBusSignature("i")],
    ) -> Annotated[int, DBusSignature("u")]:
        await asyncio.sleep(self.delay)
        self.shown.append((app_name, summary, body, {k: v.value for k, v in hints.items()}))
        return len(self.shown)


async def serve_notifications(address: str, service: FakeNotifications) -> MessageBus:
    """Put ``service`` on the bus at ``address`` under the well-known name; its connection."""
    bus = await MessageBus(bus_address=address).connect()
    bus.export(PATH, service)
    await bus.request_name(SERVICE)
    return bus
