"""Logging in: server discovery, our device id and name, session files.

Device ids: each login from this machine (this ``TUIMATRIX_HOME``) as the same user reuses one
device, so devices do not pile up on the server. The id is remembered per user id. If the
server already has encryption keys for that device and our store does not (the store was
deleted, or another profile used the id), logging in with it would leave a device whose keys
we cannot use: we log that device out and start a fresh one, and say so.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yarl import URL

from tuimatrix.core import signed_out
from tuimatrix.core.account import Account, make_http_session
from tuimatrix.core.errors import UserError, connection_reason, describe_error
from tuimatrix.core.files import write_atomic
from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.login_flows import no_password_line, sign_in_methods
from tuimatrix.core.session import (
    STORE_FILE,
    SessionInfo,
    account_dir,
    load_session,
    remove_account_dir,
    save_session,
)
from tuimatrix.core.store import Store
from tuimatrix.paths import Paths

if TYPE_CHECKING:
    # aiohttp and mautrix are imported where used: the command modules import this one, and
    # the app's first frame comes before the network stack is imported (see core/lazy.py).
    import aiohttp
    from mautrix.api import HTTPAPI

    from tuimatrix.core.http import TuiHTTPAPI

log = logging.getLogger(__name__)


@dataclass
class LoginResult:
    account: Account
    #: one line the user should read (e.g. that a fresh device was started), or ""
    notice: str = ""


def parse_user(user: str, homeserver: str | None) -> tuple[str, str, str]:
    """(user id, localpart, server name) from ``@local:server``, or a localpart + homeserver."""
    user = user.strip()
    if user.startswith("@"):
        if ":" not in user or user.index(":") == 1:
            raise UserError(f"not a Matrix user id: {user!r} (expected @name:server)")
        localpart, server = user[1:].split(":", 1)
        return user, localpart, server
    if ":" in user:
        localpart, server = user.split(":", 1)
        return f"@{localpart}:{server}", localpart, server
    if not homeserver:
        raise UserError(f"give a full user id (@{user}:server) or a homeserver")
    # A guess: the server name is often not the homeserver's host (login corrects it).
    url = URL(homeserver)
    server = url.host or ""
    if url.explicit_port and not url.is_default_port():
        server = f"{server}:{url.port}"
    return f"@{user}:{server}", user, server


def device_display_name(localpart: str) -> str:
    return f"tuimatrix: {localpart}@{socket.gethostname()}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: The total deadline of one discovery request (seconds). The session's own deadline is the
#: 30-minute one of a long-poll sync: a server that trickles its well-known file a byte at a
#: time must not hold the login prompt that long.
DISCOVERY_DEADLINE = 30.0


def _discovery_timeout() -> aiohttp.ClientTimeout:
    import aiohttp

    return aiohttp.ClientTimeout(total=DISCOVERY_DEADLINE)


async def discover_homeserver(server_name: str, session: aiohttp.ClientSession) -> str:
    """The client base URL of ``server_name`` from ``/.well-known/matrix/client``.

    HTTPS as the spec says, except on loopback, where a local server speaks plain HTTP.
    Without a well-known file the server name itself is tried.
    """
    import aiohttp

    host = server_name.rsplit(":", 1)[0] if not server_name.endswith("]") else server_name
    scheme = "http" if _is_loopback(host) else "https"
    base = f"{scheme}://{server_name}"
    try:
        async with session.get(
            f"{base}/.well-known/matrix/client", timeout=_discovery_timeout()
        ) as resp:
            if resp.status == 200:
                data = json.loads(await resp.text())
                url = data["m.homeserver"]["base_url"]
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise UserError(f"{server_name}'s .well-known names no valid homeserver URL")
                base = url.rstrip("/")
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{server_name}'s .well-known file is not valid: {e}") from e
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise UserError(f"cannot reach {server_name} ({connection_reason(e)})") from e
    await check_homeserver(base, session)
    return base


async def check_homeserver(base_url: str, session: aiohttp.ClientSession) -> None:
    """Fail with one clear line unless ``base_url`` answers like a Matrix homeserver."""
    import aiohttp

    try:
        async with session.get(
            f"{base_url}/_matrix/client/versions", timeout=_discovery_timeout()
        ) as resp:
            data = json.loads(await resp.text()) if resp.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise UserError(f"cannot reach {base_url} ({connection_reason(e)})") from e
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
        raise UserError(f"{base_url} is not a Matrix homeserver")


def _machine_secret(paths: Paths) -> str:
    path = paths.machine_secret_file
    try:
        return path.read_text("utf-8").strip()
    except FileNotFoundError:
        secret = secrets.token_hex(16)
        write_atomic(path, secret + "\n", mode=0o600)
        return secret


def _devices(paths: Paths) -> dict[str, str]:
    try:
        data = json.loads(paths.devices_file.read_text("utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _remember_device(paths: Paths, user_id: str, device_id: str) -> None:
    devices = _devices(paths)
    devices[user_id] = device_id
    write_atomic(paths.devices_file, json.dumps(devices, indent=2) + "\n", mode=0o600)


def preferred_device_id(paths: Paths, user_id: str) -> str:
    """The device id this machine uses for ``user_id``: remembered, or derived once."""
    remembered = _devices(paths).get(user_id)
    if remembered:
        return remembered
    digest = hashlib.sha256(f"{_machine_secret(paths)}\0{user_id}".encode()).hexdigest()
    return "TM" + digest[:10].upper()


def _fresh_device_id() -> str:
    return "TM" + secrets.token_hex(5).upper()


async def _store_has_keys(paths: Paths, user_id: str, device_id: str) -> bool:
    path = account_dir(paths, user_id) / STORE_FILE
    if not path.exists():
        return False
    store = Store(path)
    await store.open()
    try:
        return await store.crypto_device_id(user_id) == device_id
    finally:
        await store.close()


async def _server_has_keys(api: TuiHTTPAPI, user_id: str, device_id: str) -> bool:
    resp = await api.request(
        Method.POST, Path.v3.keys.query, {"device_keys": {user_id: [device_id]}}
    )
    keys = resp.get("device_keys", {}).get(user_id, {})
    return isinstance(keys, dict) and device_id in keys


async def _password_login(
    api: HTTPAPI, localpart: str, password: str, device_id: str
) -> dict[str, Any]:
    import aiohttp
    from mautrix.errors import MatrixRequestError

    try:
        resp = await api.request(
            Method.POST,
            Path.v3.login,
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": localpart},
                "password": password,
                "device_id": device_id,
                "initial_device_display_name": device_display_name(localpart),
            },
            sensitive=True,
        )
    except MatrixRequestError as e:
        if getattr(e, "errcode", None) == "M_FORBIDDEN":
            raise UserError("wrong user name or password") from e
        raise UserError(f"login failed: {describe_error(e)}") from e
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise UserError(describe_error(e)) from e
    if not isinstance(resp, dict) or "access_token" not in resp:
        raise UserError("login failed: the server sent no access token")
    return resp


async def _require_password_sign_in(api: HTTPAPI, base_url: str) -> None:
    """A server that takes no password (single sign-on or OAuth 2.0 only) says so here, in
    one line, rather than through a puzzling error once a password went out. Nothing if the
    server cannot tell."""
    methods = await sign_in_methods(api)
    if methods.known and not methods.password:
        raise UserError(no_password_line(base_url, methods))


async def _client_api(
    server_name: str, homeserver: str | None, http: aiohttp.ClientSession
) -> tuple[TuiHTTPAPI, str]:
    """The client API (and its base URL) of the homeserver given, checked, or else discovered
    from the server name (``.well-known``)."""
    from tuimatrix.core.http import TuiHTTPAPI

    if homeserver:
        base_url = homeserver.rstrip("/")
        await check_homeserver(base_url, http)
    else:
        base_url = await discover_homeserver(server_name, http)
    return TuiHTTPAPI(base_url, client_session=http), base_url


async def check_password_sign_in(user: str, homeserver: str | None = None) -> None:
    """Before a password is asked for: fail with one line if ``user``'s server (found as
    :func:`login` finds it) is unreachable or takes no password."""
    _, _, server_name = parse_user(user, homeserver)
    async with make_http_session() as http:
        await _require_password_sign_in(*await _client_api(server_name, homeserver, http))


async def login(
    paths: Paths,
    user: str,
    password: str,
    homeserver: str | None = None,
    *,
    crypto: bool = True,
) -> LoginResult:
    """Log in with a password, save the session and open (not start) the account."""
    user_id, localpart, server_name = parse_user(user, homeserver)
    async with make_http_session() as http:
        api, base_url = await _client_api(server_name, homeserver, http)
        await _require_password_sign_in(api, base_url)
        notices: list[str] = []
        for _attempt in range(2):
            # A sign-out that was a false alarm gets its session (device, store) back first.
            restored = await signed_out.check_kept_session(paths, user_id)
            if restored:
                notices.append(restored)
            previous = signed_out.read(paths, user_id)
            # After a real sign-out, a new device: one under the old id would look, to other
            # users' clients, like a device whose keys changed.
            device_id = (
                _fresh_device_id() if previous is not None else preferred_device_id(paths, user_id)
            )
            keys_here = await _store_has_keys(paths, user_id, device_id)
            resp = await _password_login(api, localpart, password, device_id)
            api.token = resp["access_token"]
            real_user_id = str(resp.get("user_id") or user_id)
            if real_user_id == user_id:
                break
            # We guessed the server name wrong, and with it the device id: start over.
            await api.request(Method.POST, Path.v3.logout)
            user_id = real_user_id
        # A device the server has keys for that this machine lost had keys that other users'
        # clients remember: a new device under its id would look like a device whose keys
        # changed. (Never a signed-out one's: that is logged in above under a new id, and its
        # old device is not ours to delete on a guess.)
        if previous is None and not keys_here and await _server_has_keys(api, user_id, device_id):
            # Logging out deletes the device and its now useless keys on the server.
            await api.request(Method.POST, Path.v3.logout)
            old, device_id = device_id, _fresh_device_id()
            notices.append(
                f"the encryption keys of device {old} are no longer on this machine; "
                f"started a new device {device_id}"
            )
            resp = await _password_login(api, localpart, password, device_id)
            api.token = resp["access_token"]
        device_id = str(resp.get("device_id") or device_id)
        if previous is not None:
            # Logged in: only now is the old store moved, keeping unsent messages (taken
            # over below) and room keys (kept aside). A failed login leaves it in place.
            old_directory = signed_out.set_aside(paths, user_id)
            notices.insert(0, f"this account was signed out by the server ({previous.reason})")
            notices.insert(1, f"the old session's data is kept in {old_directory}")
        if not keys_here:
            # Whatever is stored belongs to another device or another login: start clean.
            remove_account_dir(paths, user_id)
        _remember_device(paths, user_id, device_id)
        base_url = _well_known_base(resp) or base_url
    info = SessionInfo(user_id, base_url, device_id, str(resp["access_token"]))
    save_session(paths, info)
    account = await Account.open(info, paths, crypto=crypto)
    notices.extend(await signed_out.requeue_notice(paths, account))
    return LoginResult(account, "; ".join(notices))


def _well_known_base(resp: dict[str, Any]) -> str | None:
    wk = resp.get("well_known")
    try:
        url = wk["m.homeserver"]["base_url"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return url.rstrip("/") if isinstance(url, str) and url.startswith("http") else None


async def relogin(account: Account, password: str) -> None:
    """After a soft logout: a new token for the same device, keeping the store."""
    _, localpart, _ = parse_user(account.user_id, None)
    resp = await _password_login(
        account.client.api,
        localpart,
        password,
        account.session.device_id,
    )
    info = SessionInfo(
        account.user_id,
        account.session.homeserver,
        account.session.device_id,
        str(resp["access_token"]),
    )
    save_session(account.paths, info)
    account.session = info
    account.client.api.token = info.access_token


async def logout(paths: Paths, user_id: str, *, force: bool = False) -> None:
    """Log out on the server (deleting the device) and remove the session's files.

    If the server cannot be reached or refuses, nothing is removed unless ``force``.
    """
    info = load_session(account_dir(paths, user_id))
    if info is None:
        if signed_out.read(paths, user_id) is not None or signed_out.set_aside_dirs(paths, user_id):
            # The server already ended the session: only what was kept is left to remove.
            remove_account_dir(paths, user_id)
            signed_out.remove_set_aside(paths, user_id)
            return
        raise UserError(f"no saved session for {user_id}")
    from tuimatrix.core.http import TuiHTTPAPI

    try:
        async with make_http_session() as http:
            api = TuiHTTPAPI(info.homeserver, info.access_token, client_session=http)
            await api.request(Method.POST, Path.v3.logout)
    except Exception as e:
        # An unknown token means the server has already logged us out.
        if getattr(e, "errcode", None) != "M_UNKNOWN_TOKEN" and not force:
            raise UserError(
                f"logout failed: {describe_error(e)} (nothing removed; --force removes the "
                "local session anyway)"
            ) from e
    remove_account_dir(paths, user_id)
    signed_out.remove_set_aside(paths, user_id)
