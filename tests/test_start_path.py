"""The first frame waits for nothing it does not show; full collections wait for a quiet moment."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import MakeUser
from helpers import until
from test_app import SIZE
from test_keymap import prepared

from tuimatrix.app import TuimatrixApp
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.lazy import Method, Path, RoomID
from tuimatrix.core.session import SessionInfo
from tuimatrix.paths import get_paths
from tuimatrix.ui import idle_gc
from tuimatrix.ui.keymap import binding_title
from tuimatrix.ui.textual_private import key_bindings

#: What the room list's first frame must not wait for (about half a second of imports).
LATER = (
    "aiohttp",
    "mautrix.api",
    "mautrix.types",
    "mautrix.crypto",
    "olm",
    "tuimatrix.core.e2ee.crypto",
    "tuimatrix.commands.messages",
    "tuimatrix.screens.room",
)


def test_the_first_frames_modules_leave_network_crypto_and_commands_for_later() -> None:
    code = (
        "import sys\n"
        "import tuimatrix.app, tuimatrix.screens.room_list\n"
        f"print(','.join(m for m in {LATER!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_names_resolve_to_mautrix_on_use() -> None:
    from mautrix import api

    assert Method.GET is api.Method.GET
    assert str(Path.v3.rooms["!r:x"].state) == str(api.Path.v3.rooms["!r:x"].state)
    assert RoomID("!r:x") == "!r:x"


async def test_an_account_opened_for_the_room_list_builds_its_client_on_first_use() -> None:
    info = SessionInfo("@me:example.org", "http://127.0.0.1:9", "DEV", "token")
    account = await Account.open(info, get_paths(), defer_network=True)
    try:
        assert account._network is None
        assert account.rooms.summaries == {}
        assert account.client.mxid == "@me:example.org"
        assert account.crypto is not None
        assert account._network is not None
    finally:
        await account.close()


async def test_keys_get_their_titles_once_the_commands_load(make_user: MakeUser) -> None:
    await prepared(make_user, "Only")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        [binding] = key_bindings(app)["ctrl+r"]
        assert binding.description == binding_title(["room-list"]) != "room-list"
        [binding] = key_bindings(app.room_list)["f"]
        assert binding.description == binding_title(["tag-room favourite"])


class _FakeGC:
    """The collector as idle_gc sees it: counts, enabled, and the collections it was asked for."""

    def __init__(self, due: int, enabled: bool = True) -> None:
        self.due = due
        self.enabled = enabled
        self.collected = 0

    def isenabled(self) -> bool:
        return self.enabled

    def get_count(self) -> tuple[int, int, int]:
        return (0, 0, self.due)

    def collect(self) -> int:
        self.collected += 1
        self.due = 0
        return 0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(idle_gc, "time", clock)
    return clock


def test_a_due_full_collection_waits_until_nothing_happens(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeGC(due=15)
    monkeypatch.setattr(idle_gc, "gc", fake)
    idle_gc.touch()  # a key, a scroll
    clock.now += idle_gc.QUIET / 2
    assert not idle_gc.check() and fake.collected == 0
    idle_gc.touch()
    clock.now += idle_gc.QUIET
    assert idle_gc.check() and fake.collected == 1
    assert not idle_gc.check()  # nothing due any more


def test_activity_that_never_stops_still_gets_collections(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeGC(due=idle_gc.MAX_DEFERRED)
    monkeypatch.setattr(idle_gc, "gc", fake)
    idle_gc.touch()
    assert idle_gc.check() and fake.collected == 1


def test_no_collection_while_a_sync_holds_the_collector_off(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeGC(due=idle_gc.MAX_DEFERRED, enabled=False)
    monkeypatch.setattr(idle_gc, "gc", fake)
    clock.now += 10 * idle_gc.QUIET
    assert not idle_gc.check() and fake.collected == 0


def test_install_defers_only_the_oldest_generation() -> None:
    import gc

    before = gc.get_threshold()
    try:
        idle_gc.install()
        young, middle, oldest = gc.get_threshold()
        assert (young, middle) == before[:2] and oldest > 10**6
    finally:
        idle_gc.uninstall()
    assert gc.get_threshold() == before
