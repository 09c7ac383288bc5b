"""Hooks (core/hook_config.py, core/hooks.py): config.toml's [[hooks]] run programs on the
events of the live feed, with the event on stdin, a timeout that kills the process group,
a limit on how many run at once, and failures reported, never fatal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeUser
from helpers import wait_for
from test_e2ee import send
from test_event_json import plain_room
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.config import load_config
from tuimatrix.core import hooks as hooks_module
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.hook_config import MAX_TIMEOUT, Hook, HookSettings, parse_hooks
from tuimatrix.core.hooks import HookRunner
from tuimatrix.paths import get_paths

pytestmark = pytest.mark.timeout(120)

#: a hook that copies its stdin and environment to the file named by its argument
COPY_STDIN = """
import json, os, sys
data = sys.stdin.read()
env = {k: v for k, v in os.environ.items() if k.startswith("TUIMATRIX_")}
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"stdin": data, "env": env}, f)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
"""
#: a hook that starts a child, ignores SIGTERM, writes both pids, and hangs
HANGS = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
"""
#: a hook that notes when it ran in a directory, taking a while
SLOW = """
import os, sys, time
start = time.monotonic()
time.sleep(0.4)
event = os.environ["TUIMATRIX_EVENT_ID"]
with open(os.path.join(sys.argv[1], event.strip("$")[:16]), "w") as f:
    f.write(f"{start} {time.monotonic()}")
"""


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def accounts_of(*accounts: Account) -> Accounts:
    result = Accounts(get_paths())
    for account in accounts:
        result.add(account)
    return result


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_config_hooks_and_their_errors_one_line_each(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        """
[hook-runner]
max-running = 2

[[hooks]]
command = ["notify-send", "Matrix"]
mention = true
timeout = 100000

[[hooks]]
command = "notify-send Matrix"

[[hooks]]
mention = "yes"
command = ["x"]

[[hooks]]
command = ["logger"]
room = "Ops"
sender = "@boss:example.org"
type = "m.room.message"
keyword = "deploy"
account = "@me:example.org"

[[hooks]]
command = []

[[hooks]]
command = ["x"]
colour = "red"

[[hooks]]
command = ["notify-send", "Matrix"]
notify = true

[[hooks]]
command = ["x"]
notify = 1
"""
    )
    loaded = load_config(config)
    hooks = loaded.hooks
    assert hooks.max_running == 2
    assert [h.number for h in hooks.hooks] == [1, 4, 7]
    assert hooks.hooks[2].notify and not hooks.hooks[0].notify
    assert hooks.hooks[0] == Hook(1, ("notify-send", "Matrix"), mention=True, timeout=MAX_TIMEOUT)
    assert hooks.hooks[1].room == "Ops" and hooks.hooks[1].keyword == "deploy"
    assert len(loaded.errors) == 5
    for number, error in zip((2, 3, 5, 6, 8), loaded.errors, strict=True):
        assert error.startswith(f"{config}: [[hooks]] number {number}: ")
        assert "\n" not in error and error.endswith("(this hook is off)")
    assert "not a string: hooks run no shell" in loaded.errors[0]
    assert "mention must be true or false" in loaded.errors[1]
    assert "unknown setting 'colour'" in loaded.errors[3]
    assert "notify must be true or false" in loaded.errors[4]
    broken = parse_hooks({"hooks": {"command": ["x"]}, "hook-runner": {"max-running": 0}})
    assert broken.hooks == [] and broken.max_running == 3
    assert broken.errors == [
        "config.toml: [hook-runner] max-running must be a whole number above 0 (3 used)",
        "config.toml: hooks must be [[hooks]] tables (no hook runs)",
    ]


async def test_a_hook_gets_the_event_on_stdin(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    tmp_path: Path,
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await plain_room(a, b, "Ops")
    out = tmp_path / "got.json"
    command = (sys.executable, script(tmp_path, "copy.py", COPY_STDIN), str(out))
    hook = Hook(1, command, room="Ops", type="m.room.message")
    reports: list[str] = []
    runner = HookRunner(accounts_of(b), HookSettings([hook]), reports.append)
    await runner.start()
    try:
        hello = await send(a, room_id, "hello hook \u2028 line")
        await b.sync_once()
        await wait_for(out.exists)
    finally:
        await runner.stop()
    got = json.loads(out.read_text())
    assert got["stdin"].endswith("\n") and got["stdin"].count("\n") == 1
    assert "\\u2028" in got["stdin"]  # escaped like exec's JSON
    event = json.loads(got["stdin"])
    assert event["event_id"] == hello and event["body"] == "hello hook \u2028 line"
    assert got["env"] == {
        "TUIMATRIX_HOME": os.environ["TUIMATRIX_HOME"],  # the user's environment, and:
        "TUIMATRIX_EVENT_ID": hello,
        "TUIMATRIX_ROOM_ID": room_id,
        "TUIMATRIX_ACCOUNT": b.user_id,
    }
    assert reports == []


def _event(n: int = 0) -> dict[str, Any]:
    return {"event_id": f"$event{n}", "room_id": "!r:x", "account": "@a:x", "body": "hi"}


async def test_a_hanging_hook_and_its_children_are_killed_at_the_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    hook = Hook(1, (sys.executable, script(tmp_path, "hang.py", HANGS), str(pids)), timeout=1)
    reports: list[str] = []
    runner = HookRunner(accounts_of(), HookSettings([hook]), reports.append)
    assert await runner.run(hook, _event()) is None
    assert pids.exists()
    parent, child = (int(p) for p in pids.read_text().split())
    assert not alive(parent)
    await wait_for(lambda: not alive(child), timeout=10)
    assert reports == [f"hook 1 ({sys.executable}): still running after 1 s: killed"]


async def test_failing_hooks_are_reported(tmp_path: Path) -> None:
    fails = script(
        tmp_path, "fail.py", "import sys; print('boom\\x1b[2J', file=sys.stderr); sys.exit(3)"
    )
    not_executable = tmp_path / "plain.txt"
    not_executable.write_text("#!/bin/sh\n")
    reports: list[str] = []
    runner = HookRunner(accounts_of(), HookSettings(), reports.append)
    assert await runner.run(Hook(1, (sys.executable, fails)), _event()) == 3
    assert await runner.run(Hook(2, (str(tmp_path / "missing"),)), _event()) is None
    assert await runner.run(Hook(3, (str(not_executable),)), _event()) is None
    assert await runner.run(Hook(4, (sys.executable, "-c", "pass")), _event()) == 0
    assert reports == [
        f"hook 1 ({sys.executable}): exit status 3: boom",  # the screen-clearing escape removed
        f"hook 2 ({tmp_path / 'missing'}): program not found",
        f"hook 3 ({not_executable}): program not executable",
    ]


async def test_at_most_max_running_hooks_run_at_once(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    tmp_path: Path,
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await plain_room(a, b)
    runs = tmp_path / "runs"
    runs.mkdir()
    hook = Hook(
        1, (sys.executable, script(tmp_path, "slow.py", SLOW), str(runs)), type="m.room.message"
    )
    runner = HookRunner(accounts_of(b), HookSettings([hook], max_running=2), lambda line: None)
    await runner.start()
    try:
        for i in range(5):
            await send(a, room_id, f"run {i}")
        await b.sync_once()
        await wait_for(lambda: len(list(runs.iterdir())) >= 5)
    finally:
        await runner.stop()
    spans = [tuple(float(t) for t in p.read_text().split()) for p in runs.iterdir()]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2 == runner.most_running


async def test_runs_beyond_the_waiting_queue_are_dropped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks_module, "MAX_WAITING", 1)
    hook = Hook(1, (sys.executable, "-c", "import time; time.sleep(30)"))
    reports: list[str] = []
    runner = HookRunner(accounts_of(), HookSettings([hook], max_running=1), reports.append)
    await runner.start()
    try:
        runner._enqueue(hook, _event(0))
        await wait_for(lambda: runner.running == 1)
        runner._enqueue(hook, _event(1))  # waits
        runner._enqueue(hook, _event(2))  # no room left
        runner._enqueue(hook, _event(0))  # the same event again (another account saw it): once
        assert reports == [f"hook 1 ({sys.executable}): not run for $event2: 1 runs already wait"]
        runner._enqueue(hook, {**_event(0), "late_decryption": True})  # decrypted now: runs
        assert len(reports) == 2 and "not run for $event0" in reports[1]
    finally:
        await runner.stop()
    assert runner.running == 0
