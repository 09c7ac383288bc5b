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
import errno
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from helpers import until, wait_for
from tmux import Tmux, binary_env, tuimatrix_command

from tuimatrix.app import TuimatrixApp
from tuimatrix.cli.localserver import LocalSynapse
from tuimatrix.config import load_config
from tuimatrix.core import auth
from tuimatrix.core.e2ee.crypto import PICKLE_KEY_FILE
from tuimatrix.core.errors import StoreError, describe_error
from tuimatrix.core.session import SESSION_FILE, STORE_FILE, account_dir, read_sessions
from tuimatrix.core.store import Store
from tuimatrix.paths import Paths
from tuimatrix.screens.login import LoginScreen
from tuimatrix.screens.room_list import RoomListScreen
from tuimatrix.ui.folds import state_file
from tuimatrix.ui.room_settings import settings_file

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
    """The bytes of every file under ``root`` but those ``skip`` names, and the profile lock
    (each process that owns the profile writes its pid there: core/profile_lock.py)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip(p) and p.name != "profile.lock"
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
    # Every store closed: nothing keeps the process.
    await wait_for(lambda: store_threads() <= threads, DEADLINE)

    assert snapshot(home, lambda p: _is_store(p) or p == target or ".broken-" in p.name) == before
    if name == "session.json":
        assert len(list(target.parent.glob(f"{SESSION_FILE}.broken-*"))) == 1


# -- the pieces on their own -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["truncated", "garbage", "not-utf8", "unreadable"])
async def test_a_store_that_will_not_open_is_named_and_left_closed(
    tmp_path: Path, how: str
) -> None:
    good = Store(tmp_path / "good" / STORE_FILE)
    await good.open()
    await good.set_value("next_batch", "s1" * 2000)  # a few pages, to truncate
    await good.close()
    path = tmp_path / "good" / STORE_FILE
    corrupt(path, how)
    threads = store_threads()
    store = Store(path)
    with pytest.raises(StoreError) as raised:
        await store.open()
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    # mautrix's start() used to leak the connection (and its non-daemon thread) here.
    await wait_for(lambda: store_threads() <= threads, 10)


async def test_two_closers_of_one_store_both_finish(tmp_path: Path) -> None:
    store = Store(tmp_path / STORE_FILE)
    await store.open(mautrix=False)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_connection() -> None:
        async with store.transaction():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_connection())
    await holding.wait()
    closers = [asyncio.create_task(store.close()) for _ in range(2)]
    await asyncio.sleep(0)
    release.set()
    async with asyncio.timeout(10):
        await asyncio.gather(holder, *closers)


async def test_disk_errors_are_not_network_errors() -> None:
    path = "/home/u/.local/share/tuimatrix/accounts/@a%3Ab/store.db"
    read_only = describe_error(OSError(errno.EROFS, os.strerror(errno.EROFS), path))
    assert "disk" in read_only and path in read_only and "read-only" in read_only
    full = describe_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path))
    assert "disk" in full and "no space left" in full
    store = describe_error(sqlite3.OperationalError("attempt to write a readonly database"))
    assert "store.db" in store and "readonly" in store
    assert "server" not in read_only + full + store
    # The network's failures stay the network's: a real refused connection on loopback.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await http.get(f"http://127.0.0.1:{port}/")
    assert describe_error(refused.value) == "cannot reach the server (connection refused)"
    assert "cannot reach the server" in describe_error(aiohttp.ServerDisconnectedError())


@pytest.mark.parametrize(
    "content",
    [
        b'{"user_id": 5, "homeserver": "https://h", "device_id": "D", "access_token": "t"}',
        b'{"user_id": "@other:h", "homeserver": "https://h", "device_id": "D", '
        b'"access_token": "t"}',
        b'["a list"]',
        b'{"user_id": "@a:h", "homeserver": "ftp://h", "device_id": "D", "access_token": "t"}',
    ],
)
def test_a_session_with_wrong_fields_is_kept_aside(tmp_path: Path, content: bytes) -> None:
    paths = profile_paths(tmp_path)
    directory = account_dir(paths, "@a:h")
    directory.mkdir(parents=True)
    (directory / SESSION_FILE).write_bytes(content)
    sessions, [problem] = read_sessions(paths)
    assert sessions == [] and "@a:h" in problem and "log in again" in problem
    [kept] = directory.glob(f"{SESSION_FILE}.broken-*")
    assert kept.read_bytes() == content and kept.name in problem
    assert not (directory / SESSION_FILE).exists()


def test_a_config_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[room]\nformat = "irc"\n# caf\xe9\n')
    config = load_config(path)
    assert config.errors == [f"{path}:3: not UTF-8 text (the whole file is ignored)"]
    assert config.room.format == "elemental"  # the defaults


# -- the real binary in a terminal ------------------------------------------------------------


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    yield t
    t.stop()


def binary(home: Path, *, read_only: bool = False) -> list[str]:
    """The real binary on the profile at ``home`` (read-only: in its own mount namespace)."""
    if not read_only:
        return tuimatrix_command()
    mount = f"mount --bind -o ro {home} {home}"
    return ["unshare", "-m", "sh", "-c", f'{mount} && exec "$@"', "sh", *tuimatrix_command()]


async def test_the_app_quits_on_ctrl_q_after_a_store_would_not_open(
    profile: tuple[Path, str], tmux: Tmux
) -> None:
    home, user_id = profile
    corrupt(profile_files(profile_paths(home), user_id)["store.db"], "garbage")
    tmux.start(binary(home), {**binary_env(), "TUIMATRIX_HOME": str(home)})
    await asyncio.to_thread(tmux.wait_for, "cannot open the store", DEADLINE)
    tmux.keys("C-q")
    screen = await asyncio.to_thread(tmux.wait_for, "EXITED=", DEADLINE)
    assert "EXITED=0" in screen and "Traceback" not in screen


async def test_the_app_on_a_read_only_profile_says_so_and_exits(
    profile: tuple[Path, str], tmux: Tmux
) -> None:
    home, _ = profile
    before = snapshot(home, lambda p: False)
    tmux.start(binary(home, read_only=True), {**binary_env(), "TUIMATRIX_HOME": str(home)})
    screen = await asyncio.to_thread(tmux.wait_for, "EXITED=", DEADLINE)
    if "EXITED=0" in screen:
        raise AssertionError(f"the app ran on a read-only profile:\n{screen}")
    [line] = [line for line in screen.splitlines() if line.startswith("tuimatrix: ")]
    assert "read-only file system" in line and str(home) in line, screen
    assert "Traceback" not in screen and "cannot reach the server" not in screen
    assert snapshot(home, lambda p: False) == before
