"""Every on-disk location tuimatrix uses, in one place.

The platform directories come from platformdirs. ``TUIMATRIX_HOME=DIR`` puts config, data,
state, cache and downloads under DIR instead, which tests and separate profiles use.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

APP_NAME = "tuimatrix"
#: A Unix socket's path must fit in 108 bytes (sun_path); longer ones go elsewhere.
_SOCKET_PATH_MAX = 100


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    state_dir: Path
    cache_dir: Path
    #: where downloaded media go unless config.toml says otherwise
    downloads_dir: Path = field(
        default_factory=lambda: Path(platformdirs.user_downloads_dir()), compare=False
    )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def accounts_dir(self) -> Path:
        """One subdirectory per saved session."""
        return self.data_dir / "accounts"

    @property
    def machine_secret_file(self) -> Path:
        """A random secret of this machine and profile, from which device ids are derived."""
        return self.data_dir / "machine-secret"

    @property
    def owner_socket(self) -> Path:
        """The local socket of the profile's owner process (tuimatrix.owner): in the state
        directory, or, where that path is too long for a Unix socket, in a directory named
        by a hash of it under the runtime directory (0700, checked by the owner)."""
        path = self.state_dir / "owner.sock"
        if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha256(os.fsencode(self.state_dir)).hexdigest()[:16]
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/tuimatrix-{os.getuid()}"
        return Path(runtime) / f"tuimatrix-{digest}" / "owner.sock"

    @property
    def devices_file(self) -> Path:
        """The device id chosen for each user id on this machine, kept across logouts."""
        return self.data_dir / "devices.json"


def get_paths() -> Paths:
    """The locations in force now (``TUIMATRIX_HOME`` is read on every call)."""
    home = os.environ.get("TUIMATRIX_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(
            root / "config", root / "data", root / "state", root / "cache", root / "downloads"
        )
    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_state_dir(APP_NAME)),
        Path(platformdirs.user_cache_dir(APP_NAME)),
    )
