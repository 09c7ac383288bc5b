"""A message typed while the store cannot grow (a full disk): the draft stays, the reason shows.

The store's own SQLite is made full for real: after a VACUUM leaves no free page inside the
file, ``max_page_count`` caps it at its size, so the next write that needs a page fails with
SQLITE_FULL exactly as on a full disk.
"""

from __future__ import annotations

from conftest import MakeUser
from helpers import until
from test_app import SIZE
from test_room_actions import open_room
from test_widgets_composer import ComposerApp, focused

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.paths import get_paths
from tuimatrix.widgets.composer import Composer

# Longer than a page: the row needs new overflow pages whatever space is left in the table's.
DRAFT = "a long paragraph pasted in while the disk was full " * 120


async def fill_the_store(account: Account) -> None:
    """Cap the store at the pages it has, with no free page left inside: the disk is full."""
    db = account.store.db
    await db.execute("VACUUM")  # free pages inside the file would still take a row
    pages = await db.fetchval("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {int(pages)}")
    assert await db.fetchval("PRAGMA freelist_count") == 0


async def test_a_message_that_cannot_be_queued_stays_in_the_composer(
    make_user: MakeUser,
) -> None:
    alice = make_user("alice")
    account = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await account.create_room("Full disk", encrypted=False)
    await account.close()
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        live = next(iter(app.accounts))
        composer = screen.query_one(Composer)
        await fill_the_store(live)
        composer.focus()
        composer.load_text(DRAFT)
        await pilot.press("end", "enter")
        await until(pilot, lambda: "not sent" in app.status_message)
        assert composer.text == DRAFT.rstrip()
        assert "could not queue the message: the disk is full" in app.status_message
        assert str(live.store.path) in app.status_message
        assert DRAFT.rstrip() not in composer.sent_history
        assert await live.send_queue.pending() == []


async def test_restore_puts_the_draft_back_before_what_was_typed_since() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press(*"first try", "enter")
        assert app.sent == ["first try"] and composer.text == ""
        await pilot.press(*"more")  # typed before the failure came back
        composer.restore("first try")
        assert composer.text == "first try\nmore"
        assert composer.sent_history == []  # it was never sent: up does not recall it
        composer.load_text("")
        composer.restore("alone")
        assert composer.text == "alone"
