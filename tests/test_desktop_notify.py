"""Desktop notifications over a private D-Bus session bus, to a fake notification service."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from dbus_fake import FakeNotifications, serve_notifications, session_bus

from tuimatrix.ui.desktop_notify import APP_NAME, DesktopNotifier


async def test_the_notification_arrives_with_its_title_and_an_escaped_body(
    tmp_path: Path,
) -> None:
    with session_bus(tmp_path) as address:
        service = FakeNotifications()
        bus = await serve_notifications(address, service)
        notifier = DesktopNotifier(address)
        try:
            assert await notifier.notify("Team <b>", "@bob:x: 1 < 2 & <i>so</i>\x1b]0;x\x07")
            assert await notifier.notify("Ops", "second")  # the same connection again
        finally:
            notifier.close()
            bus.disconnect()
    (app, title, body, hints), second = service.shown
    assert (app, title) == (APP_NAME, "Team <b>")  # the summary is plain text: as it is
    # The body may hold markup for the service: the message's text stays text.
    assert body == "@bob:x: 1 &lt; 2 &amp; &lt;i&gt;so&lt;/i&gt;"
    assert hints["category"] == "im.received"
    assert second[1:3] == ("Ops", "second")


async def test_without_a_session_bus_the_desktop_part_is_off_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = DesktopNotifier(f"unix:path={tmp_path / 'no-bus'}")
    with caplog.at_level(logging.DEBUG, logger="tuimatrix.ui.desktop_notify"):
        assert not await notifier.notify("Team", "hi")
        assert not await notifier.notify("Team", "again")
    assert not notifier.available
    said = [r for r in caplog.records if r.name == "tuimatrix.ui.desktop_notify"]
    assert len(said) == 1 and said[0].levelno == logging.DEBUG


async def test_a_bus_without_a_notification_service_is_no_error(tmp_path: Path) -> None:
    with session_bus(tmp_path) as address:
        notifier = DesktopNotifier(address)
        try:
            assert not await notifier.notify("Team", "hi")
        finally:
            notifier.close()


async def test_a_stuck_notification_service_is_given_up_after_the_deadline(
    tmp_path: Path,
) -> None:
    with session_bus(tmp_path) as address:
        bus = await serve_notifications(address, FakeNotifications(delay=30))
        notifier = DesktopNotifier(address, timeout=0.5)
        try:
            started = time.monotonic()
            assert not await notifier.notify("Team", "hi")
            assert time.monotonic() - started < 5
        finally:
            notifier.close()
            bus.disconnect()
