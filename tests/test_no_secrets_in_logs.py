"""``--debug`` logs every request, but never a secret: the real flows that carry one (password
login, device deletion and cross-signing replacement with the password, the recovery key, a key
file's passphrase) run as ``tuimatrix --debug`` against Synapse, and their log holds none of
the secrets. (The redaction of secret shapes on its own is tested in the second half.)"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from conftest import MakeUser
from helpers import password_login
from mautrix.errors import MatrixRequestError

from tuimatrix.core.log_redaction import REDACTED, RedactingFormatter, carries_secret, redact
from tuimatrix.core.session import load_sessions
from tuimatrix.paths import get_paths

PASSPHRASE = "correct horse battery staple"


def debug_run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m tuimatrix --debug ARGS``: the log goes to stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "tuimatrix", "--debug", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def recovery_key_of(result: subprocess.CompletedProcess[str]) -> str:
    [line] = [s for s in result.stdout.splitlines() if s.startswith("recovery key:")]
    return line.removeprefix("recovery key:").strip()


async def test_debug_log_of_secret_bearing_flows_holds_no_secret(
    make_user: MakeUser, tmp_path: Path
) -> None:
    alice = make_user("alice")
    run = asyncio.to_thread
    logs: list[str] = []

    logs.append(
        (
            await run(
                debug_run,
                "login",
                "--user",
                alice.user_id,
                "--password-stdin",
                stdin=alice.password + "\n",
            )
        ).stderr
    )
    [session] = load_sessions(get_paths())
    async with aiohttp.ClientSession() as http:
        other = await password_login(http, alice.base_url, alice)

    deleted = await run(
        debug_run, "exec", f"delete-device {other['device_id']} --yes", stdin=alice.password + "\n"
    )
    logs.append(deleted.stderr)
    assert "deleted device" in deleted.stdout

    first = await run(debug_run, "exec", "setup-recovery")
    logs.append(first.stderr)
    # Replacing the cross-signing keys needs the password (user-interactive auth).
    second = await run(debug_run, "exec", "setup-recovery --replace", stdin=alice.password + "\n")
    logs.append(second.stderr)
    recovery_keys = [recovery_key_of(first), recovery_key_of(second)]

    logs.append(
        (
            await run(debug_run, "exec", "verify-with-recovery-key", stdin=recovery_keys[1] + "\n")
        ).stderr
    )
    path = tmp_path / "keys.txt"
    logs.append(
        (await run(debug_run, "exec", f"export-keys {path}", stdin=PASSPHRASE + "\n")).stderr
    )
    logs.append(
        (await run(debug_run, "exec", f"import-keys {path}", stdin=PASSPHRASE + "\n")).stderr
    )

    log = "\n".join(logs)
    # The log is real: every request is in it, with its body where it holds no secret.
    assert "req #" in log and "/delete_devices" in log and "/keys/device_signing/upload" in log
    # SQL parameters (message bodies, sealed secrets) stay out of it.
    assert "aiosqlite" not in log
    secrets = {
        "password": alice.password,
        "access token": session.access_token,
        "other device's access token": other["access_token"],
        "passphrase": PASSPHRASE,
    }
    for n, key in enumerate(recovery_keys):
        secrets[f"recovery key {n}"] = key
        secrets[f"recovery key {n} without spaces"] = key.replace(" ", "")
    leaked = [what for what, value in secrets.items() if value in log]
    assert leaked == [], f"in the debug log: {leaked}"


async def test_a_request_carrying_the_password_is_logged_without_its_body(
    make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    """The first line of defence, on its own: mautrix is told the body is sensitive, even for
    a call made inside mautrix (which we cannot mark), so the password is never formatted."""
    from mautrix.api import Method, Path

    from tuimatrix.core.e2ee.uia import password_auth
    from tuimatrix.core.http import TuiHTTPAPI

    alice = make_user("alice")
    async with aiohttp.ClientSession() as http:
        mine = await password_login(http, alice.base_url, alice)
        other = await password_login(http, alice.base_url, alice)
        api = TuiHTTPAPI(alice.base_url, mine["access_token"], client_session=http)
        auth = password_auth(alice.user_id, alice.password, "")
        body = {"devices": [other["device_id"]], "auth": auth}
        with caplog.at_level(logging.DEBUG, logger="mau"):
            try:
                await api.request(Method.POST, Path.v3.delete_devices, body)
            except MatrixRequestError as e:  # the UIA session: the same again with it
                auth["session"] = e.body["session"]  # type: ignore[attr-defined]
                await api.request(Method.POST, Path.v3.delete_devices, body)
    lines = [r.getMessage() for r in caplog.records]
    requests = [line for line in lines if line.startswith("req #") and "POST" in line]
    assert requests and all("sensitive bytes" in line for line in requests), requests
    assert not any(alice.password in line for line in lines)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('POST /login {"type": "m.login.password", "password": "hunter\\"2"}', 'hunter\\"2'),
        ("{'auth': {'password': 'hunter2', 'session': 'abc'}}", "hunter2"),
        ('{"new_password": "s3cret", "logout_devices": false}', "s3cret"),
        ('{"access_token": "opaque-token", "device_id": "DEV"}', "opaque-token"),
        ('{"refresh_token": "r3fresh"}', "r3fresh"),
        ('{"type": "m.login.token", "token": "l0gin"}', "l0gin"),
        ("GET https://hs/_matrix/media/v3/download/x?access_token=abc123&a=1", "abc123"),
        ("GET https://hs/sso?loginToken=tok987", "tok987"),
        ("headers {'Authorization': 'Bearer opaque.token-1'}", "opaque.token-1"),
        ("token syt_YWxpY2U_abcDEF_123xyz in an error", "syt_YWxpY2U_abcDEF_123xyz"),
        ("refresh syr_abc_DEF_9 in an error", "syr_abc_DEF_9"),
        (
            "recovery key: EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd",
            "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd",
        ),
        ("key=EsTj3ySTy93FSLpBjJszeAXc2XzAygD3w69HfGaNTKBjjXEd.", "EsTj3ySTy93F"),
        ('{"passphrase": "correct horse"}', "correct horse"),
    ],
)
def test_redact_cuts_every_secret_shape(line: str, secret: str) -> None:
    """The second line of defence, on its own: a secret shape in any log line is cut."""
    redacted = redact(line)
    assert secret not in redacted
    assert REDACTED in redacted


def test_redact_keeps_ordinary_lines() -> None:
    line = (
        'req #7: PUT https://hs/_matrix/client/v3/rooms/!r:hs/send/m.room.message/t1 {"body": '
        '"the estimate is Essential; token ring", "msgtype": "m.text"} Bearer-less'
    )
    assert redact(line) == line


def test_the_formatter_redacts_the_message_and_the_traceback() -> None:
    formatter = RedactingFormatter("%(name)s: %(message)s")
    try:
        raise RuntimeError("failed with Bearer syt_abc_def")
    except RuntimeError:
        record = logging.LogRecord(
            "mau", logging.ERROR, __file__, 1, "body %s", ('{"password": "pw1"}',), sys.exc_info()
        )
    out = formatter.format(record)
    assert "RuntimeError" in out and "pw1" not in out and "syt_abc_def" not in out


def test_carries_secret_sees_top_level_and_uia_fields() -> None:
    assert carries_secret({"auth": {"type": "m.login.password", "password": "x"}})
    assert carries_secret({"type": "m.login.password", "password": "x"})
    assert carries_secret({"new_password": "x", "auth": {}})
    assert not carries_secret({"devices": ["A"]})
    assert not carries_secret({"auth": {"type": "m.login.dummy", "session": "s"}})
    assert not carries_secret(b"raw bytes")
