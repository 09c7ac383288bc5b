"""Alerts in the running app (Pilot) against Synapse: a mention reaches the desktop through a
fake notification service on a private session bus, and the status line; the room on screen
does not alert while the terminal has focus, and does once it has lost it; an encrypted
room's alert names the room and the sender, not the text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import MakeUser
from dbus_fake import FakeNotifications, serve_notifications, session_bus
from helpers import until
from test_alerts_tmux import alert_config, mention, two_rooms
from test_e2ee import encrypted_room
from test_smoke_tmux import peer_paths
from textual import events
from textual.pilot import Pilot

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE
from tuimatrix.paths import get_paths

SIZE = (110, 36)


@asynccontextmanager
async def app_with_desktop(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[TuimatrixApp, Pilot[None], FakeNotifications]]:
    """The app, live, on a private session bus whose notification service is a fake."""
    with session_bus(directory) as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        service = FakeNotifications()
        bus = await serve_notifications(address, service)
        try:
            alert_config()
            app = TuimatrixApp()
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: len(app.accounts) == 1)
                await until(pilot, lambda: all(a.status.state == LIVE for a in app.accounts))
                yield app, pilot, service
        finally:
            bus.disconnect()


async def test_a_mention_reaches_the_desktop_and_the_status_line_but_not_from_the_room_on_screen(
    make_user: MakeUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b, (desk, other) = await two_rooms(alice, bob, "Desk", "Other")
    try:
        async with app_with_desktop(tmp_path, monkeypatch) as (app, pilot, service):
            await mention(b, desk, alice, f"{alice.localpart}: look here")
            await until(pilot, lambda: len(service.shown) == 1)
            assert "Desk: " in app.status_message and "look here" in app.status_message
            # Desk on screen, in a focused terminal: its mentions do not alert.
            account = next(iter(app.accounts))
            app.open_room(account, desk)
            await mention(b, desk, alice, f"{alice.localpart}: seen here")
            await mention(b, other, alice, f"{alice.localpart}: over there")
            await until(pilot, lambda: len(service.shown) == 2)
            assert app.alerts.unseen == 2  # the title's count
            # The terminal loses focus: the open room is no longer looked at.
            app.post_message(events.AppBlur())
            await until(pilot, lambda: not app.app_focus)
            await mention(b, desk, alice, f"{alice.localpart}: while away")
            await until(pilot, lambda: len(service.shown) == 3)
            # Back in the terminal: the title's mark goes.
            app.post_message(events.AppFocus())
            await until(pilot, lambda: app.alerts.unseen == 0)
    finally:
        await b.close()
    titles = [(title, body) for _, title, body, _ in service.shown]
    assert titles == [
        ("Desk", f"{bob.user_id}: {alice.localpart}: look here"),
        ("Other", f"{bob.user_id}: {alice.localpart}: over there"),
        ("Desk", f"{bob.user_id}: {alice.localpart}: while away"),
    ]


async def test_an_encrypted_mention_names_the_room_and_sender_but_not_the_text(
    make_user: MakeUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    b = (await auth.login(peer_paths(), bob.user_id, bob.password)).account
    try:
        room_id = await encrypted_room(b, a)  # "Secret"; the app goes on with a's device
        await a.close()
        async with app_with_desktop(tmp_path, monkeypatch) as (app, pilot, service):
            await mention(b, room_id, alice, f"{alice.localpart}: the code is 1234")
            await until(pilot, lambda: len(service.shown) == 1)
            assert "Secret: " in app.status_message and "1234" not in app.status_message
    finally:
        await b.close()
    ((_, title, body, _),) = service.shown
    assert (title, body) == ("Secret", f"{bob.user_id}: sent an encrypted message")


def test_the_installed_textual_reports_the_terminals_focus_in_and_out() -> None:
    """What the app's focus follows: a terminal's focus reports (sent once Textual enables
    them with ``CSI ? 1004 h``) become AppFocus and AppBlur."""
    from textual._xterm_parser import XTermParser

    parsed = list(XTermParser().feed("\x1b[O\x1b[I"))
    assert [type(m) for m in parsed] == [events.AppBlur, events.AppFocus]
