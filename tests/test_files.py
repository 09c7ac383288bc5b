"""Atomic, private writes (core/files.py)."""

from __future__ import annotations

import stat
from pathlib import Path

from tuimatrix.core.files import write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_our_directories_are_made_private(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o755)
    write_atomic(ours / "session.json", "{}")
    assert mode(ours) == 0o700 and mode(ours / "session.json") == 0o600


def test_a_directory_the_user_chose_keeps_its_permissions(tmp_path: Path) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir(mode=0o755)
    downloads.chmod(0o755)
    write_atomic(downloads / "keys.txt", "secret", private_dir=False)
    assert mode(downloads) == 0o755
    assert mode(downloads / "keys.txt") == 0o600 and (downloads / "keys.txt").read_text() == (
        "secret"
    )
    # A missing one is made, private; nothing is left behind but the file.
    write_atomic(downloads / "new" / "keys.txt", b"x", private_dir=False)
    assert mode(downloads / "new") == 0o700
    assert sorted(p.name for p in downloads.iterdir()) == ["keys.txt", "new"]
