"""One process per profile: the second refuses with one line; a killed owner frees it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from tuimatrix.core.profile_lock import lock_file
from tuimatrix.paths import get_paths

# Owns the profile (or prints the refusal and exits 1), says which, then holds it until its
# stdin closes. It waits for a "go" line first, so that several start contending at once.
CONTENDER = """
import sys
from tuimatrix.core.errors import UserError
from tuimatrix.core.profile_lock import own_profile
from tuimatrix.paths import get_paths
sys.stdin.readline()
try:
    own_profile(get_paths())
except UserError as e:
    print(f"refused: {e}", flush=True)
    sys.exit(1)
print("owner", flush=True)
sys.stdin.read()
"""


def contender() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CONTENDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )


def start_at_once(count: int) -> list[tuple[subprocess.Popen[str], str]]:
    """``count`` contenders released together; each with the first line it printed."""
    procs = [contender() for _ in range(count)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.flush()
    lines = []
    for proc in procs:
        assert proc.stdout is not None
        lines.append(proc.stdout.readline().strip())  # blocks until it has decided
    return list(zip(procs, lines, strict=True))


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_contenders_started_at_once_end_with_exactly_one_owner() -> None:
    for _round in range(3):
        started = start_at_once(4)
        try:
            owners = [proc for proc, line in started if line == "owner"]
            assert len(owners) == 1, [line for _, line in started]
            [owner] = owners
            for proc, line in started:
                if proc is owner:
                    continue
                assert proc.wait(10) == 1
                assert line.startswith("refused: the profile in ")
                assert f"(pid {owner.pid})" in line
                assert "TUIMATRIX_HOME" in line  # what to do about it
        finally:
            for proc, _ in started:
                stop(proc)  # the owner dies: the next round starts from a free profile
    path = lock_file(get_paths())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_killed_owner_leaves_no_stale_lock() -> None:
    [(owner, line)] = start_at_once(1)
    assert line == "owner"
    [(second, refusal)] = start_at_once(1)
    assert refusal.startswith("refused:")
    stop(second)
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    [(third, line)] = start_at_once(1)
    try:
        assert line == "owner"
    finally:
        stop(owner)
        stop(third)


def run_beside_an_owner(
    args: list[str],
) -> tuple[subprocess.Popen[str], subprocess.CompletedProcess[str]]:
    """``tuimatrix ARGS`` run while another process owns the profile (stopped after)."""
    [(owner, line)] = start_at_once(1)
    try:
        assert line == "owner"
        result = subprocess.run(
            [sys.executable, "-m", "tuimatrix", *args],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ},
        )
    finally:
        stop(owner)
    return owner, result


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["exec", "describe-room --room x"],
        ["shell"],
        ["login", "--user", "@a:localhost", "--password-stdin"],
        ["logout"],
    ],
    ids=["app", "run", "exec", "shell", "login", "logout"],
)
def test_every_command_that_syncs_or_sends_refuses_beside_an_owner_that_does_not_serve(
    args: list[str],
) -> None:
    """The owner here holds the lock and serves nothing (as a login does): the app, exec and
    the shell wait a while for its socket, then say who holds the profile; login and logout
    refuse at once."""
    owner, result = run_beside_an_owner(args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [refusal] = result.stderr.splitlines()
    assert refusal.startswith("tuimatrix: the profile in ")
    assert f"pid {owner.pid}" in refusal


def test_accounts_only_reads_and_needs_no_lock() -> None:
    _, result = run_beside_an_owner(["accounts"])
    assert "in use" not in result.stderr


def test_taking_the_lock_leaves_a_read_only_profile_read_only() -> None:
    """The lock makes a missing data directory (0700) but never changes an existing one's
    mode: a profile the user made read-only (555) stays so."""
    from tuimatrix.core import profile_lock
    from tuimatrix.paths import get_paths

    paths = get_paths()
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    (paths.data_dir / profile_lock.LOCK_FILE).touch(mode=0o600)
    paths.data_dir.chmod(0o555)
    try:
        profile_lock.own_profile(paths)
        assert paths.data_dir.stat().st_mode & 0o777 == 0o555
    finally:
        paths.data_dir.chmod(0o700)
        fd = profile_lock._held.pop(profile_lock.lock_file(paths), None)
        if fd is not None:
            os.close(fd)
