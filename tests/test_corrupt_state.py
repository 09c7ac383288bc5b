"""Broken files in the profile: each file truncated, garbage, empty, not UTF-8 or unreadable,
and the profile read-only, for ``tuimatrix exec`` (a real subprocess) and for the app.

What must hold every time: one clear line naming the file (no traceback), an exit or a start
within a deadline (never a hang), and nothing else lost: every other file as it was.

"Unreadable" is a directory where the file should be: the tests run as root, for whom
``chmod 000`` stops nothing. "Read-only" is a read-only bind mount of the profile, made in a
mount namespace of the subprocess's own (``unshare -m``), so it goes away with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.crypto import PICKLE_KEY_FILE
from tuimatrix.core.session import SESSION_FILE, STORE_FILE, account_dir
from tuimatrix.localserver import LocalSynapse
from tuimatrix.paths import Paths
from tuimatrix.room_settings import settings_file
from tuimatrix.screens.login import LoginScreen
from tuimatrix.screens.room_list import RoomListScreen
from tuimatrix.ui_state import state_file

ROOM = "Corrupt state"
#: how long a run may take before it counts as a hang (s)
DEADLINE = 60
CONFIG = '[room]\nformat = "irc"\nhide-membership-events = true\n'

# -- the profile -------------------------------------------------------------------------------


def profile_paths(root: Path) -> Paths:
    """The paths of the profile under ``root`` (as TUIMATRIX_HOME=root gives them)."""
    return Paths(root / "config", root / "data", root / "state", root / "cache", root / "dl")


def profile_files(paths: Paths, user_id: str) -> dict[str, Path]:
    """Every file of a logged-in profile that is read at start, by a short name."""
    directory = account_dir(paths, user_id)
    return {
        "config.toml": paths.config_file,
        "session.json": directory / SESSION_FILE,
        "store.db": directory / STORE_FILE,
        "pickle-key": directory / PICKLE_KEY_FILE,
        "rooms.json": settings_file(paths),
        "room-list-state": state_file(paths, [user_id]),
    }


@pytest.fixture(scope="module")
def template(synapse: LocalSynapse, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A logged-in profile with one room, a config and UI state: (its root, the user id)."""
    root = tmp_path_factory.mktemp("template-profile")
    paths = profile_paths(root)
    password = secrets.token_urlsafe(12)
    user_id = synapse.register_user(f"corrupt-{secrets.token_hex(4)}", password)

    async def log_in() -> None:
        result = await auth.login(paths, user_id, password)
        try:
            await result.account.create_room(ROOM, encrypted=False)
            await result.account.sync_once()  # the olm account is made and stored
        finally:
            await result.account.close()

    asyncio.run(log_in())
    files = profile_files(paths, user_id)
    files["config.toml"].parent.mkdir(parents=True, exist_ok=True)
    files["config.toml"].write_text(CONFIG)
    files["rooms.json"].parent.mkdir(parents=True, exist_ok=True)
    files["rooms.json"].write_text(json.dumps({"version": 1, "rooms": {}}))
    files["room-list-state"].write_text(
        json.dumps({"version": 1, "accounts": [user_id], "folds": {"section:people": True}})
    )
    return root, user_id


def corrupt(path: Path, how: str) -> None:
    """Break ``path`` in one of the ways a disk or a person can."""
    data = path.read_bytes()
    if how == "unreadable":
        path.unlink()
        path.mkdir()  # root reads through chmod 000: a directory cannot be read as a file
        return
    path.write_bytes(
        {
            "truncated": data[: len(data) // 2],
            "garbage": b"}{ this is [not] what = it should be\n" * 40,
            "empty": b"",
            "not-utf8": b"\xff\xfe\x80" + data,
        }[how]
    )


def snapshot(root: Path, skip: Callable[[Path], bool]) -> dict[str, bytes]:
    """The bytes of every file under ``root`` but those ``skip`` names."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip(p)
    }


FILES = ["config.toml", "session.json", "store.db", "pickle-key", "rooms.json", "room-list-state"]
CORRUPTIONS = ["truncated", "garbage", "empty", "not-utf8", "unreadable"]


@pytest.fixture
def profile(template: tuple[Path, str], tuimatrix_home: Path) -> tuple[Path, str]:
    """A copy of the template profile in this test's TUIMATRIX_HOME."""
    root, user_id = template
    shutil.copytree(root, tuimatrix_home, dirs_exist_ok=True)
    return tuimatrix_home, user_id


# -- tuimatrix exec, a real subprocess --------------------------------------------------------


def run_exec(home: Path, *words: str, read_only: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tuimatrix", "exec", *words]
    if read_only:
        # A mount namespace of its own: the read-only mount ends with the process.
        mount = f"mount --bind -o ro {home} {home}"
        command = ["unshare", "-m", "sh", "-c", f'{mount} && exec "$@"', "sh", *command]
    return subprocess.run(
        command,
        input="",
        capture_output=True,
        text=True,
        env={**os.environ, "TUIMATRIX_HOME": str(home)},
        timeout=DEADLINE,  # a hang fails here
    )


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tuimatrix: "), stderr
    return lines[0]


def _is_store(p: Path) -> bool:
    # The store is written by every successful run (the sync): it is compared on its own.
    return p.name.startswith(STORE_FILE)


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("name", FILES)
def test_exec_with_a_broken_file(profile: tuple[Path, str], name: str, how: str) -> None:
    home, user_id = profile
    target = profile_files(profile_paths(home), user_id)[name]
    corrupt(target, how)
    before = snapshot(home, lambda p: _is_store(p) or p == target)
    broken = target.read_bytes() if target.is_file() else None

    result = run_exec(home, "tag-room", "favourite", "--room", ROOM)

    after = snapshot(home, lambda p: _is_store(p) or p == target or ".broken-" in p.name)
    assert after == before  # nothing else lost, nothing else rewritten
    if name == "config.toml":
        assert result.returncode == 0, result.stderr
        if how == "empty":  # an empty TOML file is a valid one
            assert result.stderr == ""
        else:
            assert "warning" in one_line(result.stderr) and str(target) in result.stderr
    elif name in ("rooms.json", "room-list-state"):
        # UI state: the app's alone; exec neither reads nor touches it.
        assert result.returncode == 0 and result.stderr == "", result.stderr
    elif name == "store.db" and how == "empty":
        # An empty file is an empty SQLite database: the account syncs afresh into it.
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1, result.stderr
        line = one_line(result.stderr)
        # The account, and the file: its path names both (the account's directory).
        assert name in line and (user_id in line or str(target) in line), line
    if name == "session.json":
        # Kept aside for the user, byte for byte; never deleted or overwritten.
        [kept] = target.parent.glob(f"{SESSION_FILE}.broken-*")
        assert (kept.read_bytes() if broken is not None else None) == broken
        assert "log in again" in result.stderr and kept.name in result.stderr
    elif name == "store.db" and how != "empty":
        assert (target.read_bytes() if broken is not None else None) == broken


def test_exec_on_a_read_only_profile(profile: tuple[Path, str]) -> None:
    home, _ = profile
    before = snapshot(home, lambda p: False)
    result = run_exec(home, "tag-room", "favourite", "--room", ROOM, read_only=True)
    assert result.returncode == 1, result.stderr
    line = one_line(result.stderr)
    assert STORE_FILE in line and "writable" in line, line
    assert "cannot reach the server" not in line
    assert snapshot(home, lambda p: False) == before


# -- the app -----------------------------------------------------------------------------------

SIZE = (110, 36)


class RecordingApp(TuimatrixApp):
    """The app, keeping every status line it showed (a later one replaces the last)."""

    def __init__(self, paths: Paths) -> None:
        super().__init__(paths)
        self.said: list[str] = []

    def notify_status(self, message: str, *, error: bool = False) -> None:
        self.said.append(message)
        super().notify_status(message, error=error)


def store_threads() -> int:
    """aiosqlite's worker threads alive: one per open store connection."""
    return sum("_connection_worker_thread" in t.name for t in threading.enumerate())


async def until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.05)


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("name", FILES)
async def test_app_with_a_broken_file(profile: tuple[Path, str], name: str, how: str) -> None:
    home, user_id = profile
    paths = profile_paths(home)
    target = profile_files(paths, user_id)[name]
    corrupt(target, how)
    before = snapshot(home, lambda p: _is_store(p) or p == target)
    threads = store_threads()
    # Problems the app must show; an empty TOML file or store is no problem, only new.
    problem = not (how == "empty" and name in ("config.toml", "store.db"))
    # Without a usable session or store the account cannot open: the login screen shows.
    opens = name not in ("session.json", "store.db") or not problem

    app = RecordingApp(paths)
    async with asyncio.timeout(DEADLINE), app.run_test(size=SIZE) as pilot:
        if opens:
            await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
            await until(pilot, lambda: ROOM in [s.name for _, s in app.accounts.rooms()])
        else:
            await until(pilot, lambda: isinstance(app.screen, LoginScreen))
        if problem:
            await until(pilot, lambda: any(str(target) in line for line in app.said))
            [line] = [line for line in app.said if str(target) in line]
            assert "\n" not in line and "Traceback" not in line
        else:
            assert not any("error" in line for line in app.said), app.said
        await pilot.press("ctrl+q")
    async with asyncio.timeout(DEADLINE):  # every store closed: nothing keeps the process
        while store_threads() > threads:
            await asyncio.sleep(0.05)

    assert snapshot(home, lambda p: _is_store(p) or p == target or ".broken-" in p.name) == before
    if name == "session.json":
        assert len(list(target.parent.glob(f"{SESSION_FILE}.broken-*"))) == 1
