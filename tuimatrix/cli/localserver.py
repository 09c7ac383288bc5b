"""Start and stop a real Synapse on loopback, for the demo and the end-to-end tests.

Only the standard library is used to start the server and to register users, so this works
before any event loop exists (a session-scoped pytest fixture, the ``demo`` command before the
app starts). ``matrix-synapse`` is an optional extra (``tuimatrix[server]``); the ``yaml``
module it brings along is imported lazily for the same reason.

Layout of the server directory::

    hs.yaml          the homeserver config (written on first start, re-patched on every start)
    log.config       Python logging config: WARNING and above to homeserver.log
    signing.key      the server's ed25519 signing key
    homeserver.db    SQLite database
    media_store/     uploaded media
    homeserver.log   Synapse's own log (quiet)
    homeserver.out   the process's stdout/stderr (startup errors land here)

Reusing a directory keeps the server name, the port and the registered users.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["LocalSynapse"]

_CONFIG = "hs.yaml"
_LOG_CONFIG = "log.config"
_SIGNING_KEY = "signing.key"
_DATABASE = "homeserver.db"
_MEDIA = "media_store"
_SYNAPSE_LOG = "homeserver.log"
_PROCESS_LOG = "homeserver.out"
_PID = "homeserver.pid"

# Effectively "no limit": large enough that no test or demo can reach them.
_UNLIMITED: dict[str, float] = {"per_second": 1_000_000, "burst_count": 1_000_000}

# Every rate limiter Synapse 1.163 reads (synapse/config/ratelimiting.py). Dotted names are
# nested mappings. rc_federation has its own shape and is handled separately below.
_RATE_LIMIT_KEYS = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)
# FederationRatelimitSettings(**rc_federation): only these five integer fields are accepted.
_FEDERATION_UNLIMITED = {
    "window_size": 1000,
    "sleep_limit": 1_000_000,
    "sleep_delay": 0,
    "reject_limit": 1_000_000,
    "concurrent": 1_000_000,
}

# The child runs Synapse through this bootstrap instead of a bare ``-m synapse.app.homeserver``
# so that it cannot outlive us: the parent holds the write end of the child's stdin, and the
# kernel closes it however the parent dies (SIGKILL, pytest timeout, crash). EOF on stdin
# therefore means "parent gone": ask Synapse to shut down, and exit hard if it dawdles.
# (PR_SET_PDEATHSIG would be Linux-only and fires when the *thread* that started the child
# exits, which breaks callers that use asyncio.to_thread.)
_BOOTSTRAP = """\
import os, runpy, signal, threading, time

def _watch_parent():
    # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader holds its
    # lock, and the interpreter aborts (and dumps core) when it finalises at shutdown.
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    os._exit(1)

threading.Thread(target=_watch_parent, daemon=True).start()
runpy.run_module("synapse.app.homeserver", run_name="__main__", alter_sys=True)
"""

# urllib honours http_proxy/HTTP_PROXY; a developer's proxy must never see loopback traffic
# (and usually cannot reach it), so use an opener without proxies.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    """A loopback TCP port that is free right now (there is a small race until Synapse binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:``port`` now.

    SO_REUSEADDR as Twisted sets it, so connections in TIME_WAIT from an earlier server on
    the port do not count as "in use", while a live listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _signing_key_line() -> str:
    """A fresh key in Synapse's signing-key file format: ``ed25519 <version> <seed>``.

    An ed25519 signing key is just 32 random bytes of seed, so there is no need to spend a
    Synapse start-up (``--generate-config``, about 2.4 s) to make one.
    """
    version = "a_" + secrets.token_urlsafe(3)[:4]
    seed = base64.b64encode(os.urandom(32)).decode("ascii").rstrip("=")
    return f"ed25519 {version} {seed}\n"


def _tail(path: Path, limit: int = 4000) -> str:
    """The last ``limit`` characters of a text file, or a note that it is missing."""
    try:
        data = path.read_bytes()
    except OSError:
        return f"({path.name}: missing)"
    text = data[-limit:].decode("utf-8", errors="replace")
    return f"--- {path.name} (last {len(text)} chars) ---\n{text}"


class LocalSynapse:
    """A Synapse homeserver on ``127.0.0.1`` with SQLite, owned by this process.

    ``server_name`` is ``localhost:PORT`` so user ids look like ``@alice:localhost:PORT``.
    ``base_url`` uses ``127.0.0.1`` rather than ``localhost``: the listener binds IPv4 only, and
    ``localhost`` may resolve to ``::1`` first, which costs a refused connection (or a failure,
    for clients that do not fall back) on every new connection.
    """

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        rate_limits: bool = False,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.rate_limits = rate_limits
        # Top-level keys merged over everything else, last (e.g. experimental_features).
        self.extra_config: dict[str, Any] = dict(extra_config or {})
        existing = self._existing_port()
        if port is None:
            # A directory that already holds a server keeps its port: the server name (and so
            # every user id in the database) contains it.
            port = existing if existing is not None else _free_port()
        elif existing is not None and existing != port:
            raise ValueError(
                f"{self.directory} holds a server named localhost:{existing}; "
                f"use port={existing} or a fresh directory"
            )
        self.port: int = port
        self.server_name: str = f"localhost:{port}"
        self.base_url: str = f"http://127.0.0.1:{port}"
        self.config_path = self.directory / _CONFIG
        self.log_path = self.directory / _SYNAPSE_LOG
        self.process_log_path = self.directory / _PROCESS_LOG
        self._proc: subprocess.Popen[bytes] | None = None
        self._shared_secret: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Write/patch the config, launch Synapse and wait until the client API answers.

        Raises RuntimeError (with the tail of the logs) if Synapse exits early or does not
        answer ``/_matrix/client/versions`` within ``timeout`` seconds.
        """
        if self._proc is not None and self._proc.poll() is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # Without this check a server already on the port (a leftover from an earlier run)
        # would answer the readiness probe, and we would report success while ours dies.
        if not _port_is_free(self.port):
            raise RuntimeError(f"cannot start Synapse: 127.0.0.1:{self.port} is already in use")
        self._write_config()
        with self.process_log_path.open("ab") as out:
            # start_new_session: a Ctrl-C in the terminal must not reach Synapse directly;
            # we stop it ourselves (or the stdin watchdog does when we are gone).
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, "-c", str(self.config_path)],
                cwd=self.directory,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        url = f"{self.base_url}/_matrix/client/versions"
        while True:
            code = self._proc.poll()
            if code is not None:
                self._forget_process()
                raise RuntimeError(
                    f"Synapse exited with code {code} during start-up\n{self._tails()}"
                )
            if self._answers(url):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Synapse did not answer {url} within {timeout:g} s\n{self._tails()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop Synapse: SIGTERM, then SIGKILL if it has not gone in 10 s. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._forget_process()

    @property
    def running(self) -> bool:
        """Whether the Synapse process started by :meth:`start` is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- users ------------------------------------------------------------------------------

    def register_user(
        self,
        localpart: str,
        password: str,
        *,
        admin: bool = False,
        displayname: str | None = None,
    ) -> str:
        """Register a user through the shared-secret admin API and return the full user id.

        The protocol (Synapse docs, "Shared-Secret Registration"): GET a one-time nonce, then
        POST the details with an HMAC-SHA1, keyed by the shared secret, over
        ``nonce NUL username NUL password NUL ("admin" | "notadmin")``.
        """
        url = f"{self.base_url}/_synapse/admin/v1/register"
        nonce = self._request_json("GET", url)["nonce"]
        mac = hmac.new(self._secret().encode("utf-8"), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode("utf-8"))
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        user_id: str = self._request_json("POST", url, body)["user_id"]
        return user_id

    # -- internals --------------------------------------------------------------------------

    def _existing_port(self) -> int | None:
        """The port in the server name of an existing config in the directory, if any."""
        path = self.directory / _CONFIG
        if not path.exists():
            return None
        import yaml  # lazily: matrix-synapse (which brings PyYAML) is an optional extra

        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _, _, port = str(config.get("server_name", "")).rpartition(":")
        return int(port) if port.isdigit() else None

    def _write_config(self) -> None:
        """Write hs.yaml (and the key and log config) from scratch, or patch the existing one.

        The config is written directly rather than with ``--generate-config``: that is a
        whole extra Synapse process (about 2.4 s) to produce the handful of keys set here.
        Secrets already in an existing config are kept.
        """
        import yaml  # lazily, see _existing_port

        d = self.directory
        config: dict[str, Any] = {}
        if self.config_path.exists():
            config = yaml.safe_load(self.config_path.read_text(encoding="utf-8")) or {}
        for key in ("registration_shared_secret", "macaroon_secret_key", "form_secret"):
            config.setdefault(key, secrets.token_urlsafe(32))
        self._shared_secret = str(config["registration_shared_secret"])

        key_path = d / _SIGNING_KEY
        if not key_path.exists():
            key_path.write_text(_signing_key_line(), encoding="utf-8")
            key_path.chmod(0o600)

        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                    "%(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(d / _SYNAPSE_LOG),
                    "encoding": "utf8",
                }
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (d / _LOG_CONFIG).write_text(yaml.safe_dump(log_config), encoding="utf-8")

        config.update(
            {
                "server_name": self.server_name,
                "pid_file": str(d / _PID),
                "listeners": [
                    {
                        "port": self.port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                # Setting public_baseurl explicitly is what makes Synapse serve
                # /.well-known/matrix/client (synapse/config/server.py derives
                # serve_client_wellknown from it; there is no such config key).
                "public_baseurl": f"{self.base_url}/",
                "database": {"name": "sqlite3", "args": {"database": str(d / _DATABASE)}},
                "media_store_path": str(d / _MEDIA),
                "signing_key_path": str(key_path),
                "log_config": str(d / _LOG_CONFIG),
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "report_stats": False,
                "enable_registration": False,
                "enable_metrics": False,
                "presence": {"enabled": False},
                "url_preview_enabled": False,
                # bcrypt's minimum cost: every register/login hashes a password, and the
                # default (12 rounds, ~0.25 s each) dominates tests that make many users.
                "bcrypt_rounds": 4,
                # Synapse's default denies publishing rooms to the room directory to everyone;
                # the demo and the directory tests need it.
                "room_list_publication_rules": [{"action": "allow"}],
            }
        )
        top_level_limits = {key.partition(".")[0] for key in _RATE_LIMIT_KEYS}
        top_level_limits.add("rc_federation")
        for key in top_level_limits:
            config.pop(key, None)
        if not self.rate_limits:
            for dotted in _RATE_LIMIT_KEYS:
                section = config
                *parents, leaf = dotted.split(".")
                for parent in parents:
                    section = section.setdefault(parent, {})
                section[leaf] = dict(_UNLIMITED)
            config["rc_federation"] = dict(_FEDERATION_UNLIMITED)

        config.update(self.extra_config)

        tmp = self.config_path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
        tmp.chmod(0o600)  # it holds the shared secret, which makes anyone an admin
        tmp.replace(self.config_path)

    def _secret(self) -> str:
        if self._shared_secret is None:
            import yaml  # lazily, see _existing_port

            config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
            self._shared_secret = str(config["registration_shared_secret"])
        return self._shared_secret

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with _OPENER.open(url, timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    @staticmethod
    def _request_json(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", errors="replace")
            raise RuntimeError(f"{method} {url} failed: HTTP {err.code}: {detail}") from err

    def _forget_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            # Closing our end is also what tells the child's watchdog to go, if it is alive.
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def _tails(self) -> str:
        return f"{_tail(self.process_log_path)}\n{_tail(self.log_path)}"
