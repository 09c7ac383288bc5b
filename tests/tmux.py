"""Drive the real ``tuimatrix`` binary in tmux: type with send-keys, read with capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path


def tuimatrix_command() -> list[str]:
    """The installed console script (the real binary), next to this Python."""
    script = Path(sys.executable).with_name("tuimatrix")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tuimatrix"]


class Tmux:
    """One tmux server of our own (its own socket), one session, one pane."""

    def __init__(self, width: int = 120, height: int = 40) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed (apt-get install tmux)")
        self.socket = f"tuimatrix-test-{uuid.uuid4().hex[:8]}"
        self.session = "t"
        self.width, self.height = width, height

    def _tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start(
        self, command: list[str], env: dict[str, str], raw_output: Path | None = None
    ) -> None:
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        # The pane closes when the program exits; `; sleep` keeps it to read the last screen.
        shell = f"env {exports} {' '.join(_quote(c) for c in command)}; echo EXITED=$?; sleep 30"
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            shell,
        )
        if raw_output is not None:
            # Every byte the program writes to the terminal, as the terminal received it.
            self._tmux("pipe-pane", "-t", self.session, "-o", f"cat >> {_quote(str(raw_output))}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self._tmux("send-keys", "-t", self.session, *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{screen}")
            time.sleep(0.1)

    def stop(self) -> None:
        self._tmux("kill-server", check=False)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def binary_env() -> dict[str, str]:
    """What the binary needs from our environment: the profile, and nothing of the session."""
    keep = ("TUIMATRIX_HOME", "PATH", "HOME", "LANG", "LC_ALL")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["TERM"] = "xterm-256color"
    env["COLORTERM"] = "truecolor"
    return env
