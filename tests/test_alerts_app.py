"""Alerts in the running app (Pilot) against Synapse: a mention reaches the desktop through a
fake notification service on a private session bus, and the status line; the room on screen
does not alert."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MakeUser
from dbus_fake import FakeNotifications, serve_notifications, session_bus
from helpers import until
from test_alerts_tmux import alert_config, mention, two_rooms

from tuimatrix.app import TuimatrixApp
from tuimatrix.core.account import LIVE

SIZE = (110, 36)


async def test_a_mention_reaches_the_desktop_and_the_status_line_but_not_from_the_open_room(
    make_user: MakeUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b, (desk, other) = await two_rooms(alice, bob, "Desk", "Other")
    with session_bus(tmp_path) as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        service = FakeNotifications()
        bus = await serve_notifications(address, service)
        try:
            alert_config()
            app = TuimatrixApp()
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: len(app.accounts) == 1)
                await until(pilot, lambda: all(a.status.state == LIVE for a in app.accounts))
                await mention(b, desk, alice, f"{alice.localpart}: look here")
                await until(pilot, lambda: len(service.shown) == 1)
                assert "Desk: " in app.status_message and "look here" in app.status_message
                # Desk on screen, in a focused terminal: its mentions do not alert.
                account = next(iter(app.accounts))
                app.open_room(account, desk)
                await mention(b, desk, alice, f"{alice.localpart}: seen here")
                await mention(b, other, alice, f"{alice.localpart}: over there")
                await until(pilot, lambda: len(service.shown) == 2)
        finally:
            await b.close()
            bus.disconnect()
    titles = [(title, body) for _, title, body, _ in service.shown]
    assert titles == [
        ("Desk", f"{bob.user_id}: {alice.localpart}: look here"),
        ("Other", f"{bob.user_id}: {alice.localpart}: over there"),
    ]
