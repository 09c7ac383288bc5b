"""Recovery key and cross-signing, key backup, key export and import.

The formats are checked against other clients' test vectors (Element's key export files,
matrix-rust-sdk's backup data); the flows run against the real server between devices.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeUser
from helpers import eventually
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.crypto.signature import verify_signature_json
from mautrix.types import UserID
from test_commands import ScriptContext
from test_e2ee import OtherDevice, encrypted_room, other_device, send, stored  # noqa: F401
from test_sync import Login, login  # noqa: F401

from tuimatrix.commands import Param, UsageError
from tuimatrix.commands.runner import run_line
from tuimatrix.core.account import Account
from tuimatrix.core.e2ee.key_backup import (
    KeyBackup,
    decrypt_session,
    encrypt_session,
    pk_decryption,
)
from tuimatrix.core.e2ee.key_export import (
    HEADER,
    KeyFileError,
    decrypt_key_file,
    encrypt_key_file,
)
from tuimatrix.core.e2ee.local_secrets import LocalSecrets, unb64
from tuimatrix.core.e2ee.recovery import load_cross_signing
from tuimatrix.core.errors import UserError
from tuimatrix.core.session import load_sessions
from tuimatrix.core.sync import SyncChanges

pytestmark = pytest.mark.timeout(240)

# -- formats -----------------------------------------------------------------------------------

#: Element Web's MegolmExportEncryption test vectors: (plaintext, passphrase, file).
ELEMENT_EXPORTS = [
    (
        "plain",
        "password",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AXNhbHRzYWx0c2FsdHNhbHSIiIiIiIiIiIiIiIiIiIiIAAAACmIRUW2OjZ3L2l6j9h0lHlV3M2dx\n"
        "cissyYBxjsfsAndErh065A8=\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
    (
        "Hello, World",
        "betterpassword",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AW1vcmVzYWx0bW9yZXNhbHT//////////wAAAAAAAAAAAAAD6KyBpe1Niv5M5NPm4ZATsJo5nghk\n"
        "KYu63a0YQ5DRhUWEKk7CcMkrKnAUiZny\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
    (
        "alphanumericallyalphanumericallyalphanumericallyalphanumerically",
        "SWORDFISH",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AXllc3NhbHR5Z29vZG5lc3P//////////wAAAAAAAAAAAAAD6OIW+Je7gwvjd4kYrb+49gKCfExw\n"
        "MgJBMD4mrhLkmgAngwR1pHjbWXaoGybtiAYr0moQ93GrBQsCzPbvl82rZhaXO3iH5uHo/RCEpOqp\n"
        "Pgg29363BGR+/Ripq/VCLKGNbw==\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
]


@pytest.mark.parametrize(("plaintext", "passphrase", "armoured"), ELEMENT_EXPORTS)
def test_key_files_written_by_element_decrypt(
    plaintext: str, passphrase: str, armoured: str
) -> None:
    assert decrypt_key_file(armoured, passphrase) == plaintext.encode()
    # Line ends and text around the block (a mail, a Windows editor) do not matter.
    assert decrypt_key_file("keys:\r\n" + armoured.replace("\n", "\r\n"), passphrase) == (
        plaintext.encode()
    )


def test_key_file_round_trip_and_clear_errors() -> None:
    secret = ("سلام " * 200).encode()
    armoured = encrypt_key_file(secret, "correct horse", rounds=1000)
    lines = armoured.splitlines()
    assert lines[0] == HEADER and lines[-1] == "-----END MEGOLM SESSION DATA-----"
    assert all(len(line) <= 96 for line in lines)
    assert decrypt_key_file(armoured, "correct horse") == secret
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        decrypt_key_file(armoured, "correct horsE")
    with pytest.raises(KeyFileError, match="not a key export file"):
        decrypt_key_file("hello", "x")
    with pytest.raises(KeyFileError, match="damaged"):
        decrypt_key_file("\n".join([lines[0], lines[1][:20], lines[-1]]), "correct horse")
    with pytest.raises(KeyFileError, match="damaged"):
        decrypt_key_file("\n".join([lines[0], "!!!!", lines[-1]]), "correct horse")
    flipped = lines[1][:60] + ("A" if lines[1][60] != "A" else "B") + lines[1][61:]
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        decrypt_key_file("\n".join([lines[0], flipped, *lines[2:]]), "correct horse")


def test_backup_session_data_from_matrix_rust_sdk_decrypts() -> None:
    """matrix-sdk-crypto-js's BackupDecryptionKey test vector."""
    pk = pk_decryption(unb64("Ha9cklU/9NqFo9WKdVfGzmqUL/9wlkdxfEitbSIPVXw"))
    data = decrypt_session(
        pk,
        {
            "ephemeral": "HlLi76oV6wxHz3PCqE/bxJi6yF1HnYz5Dq3T+d/KpRw",
            "mac": "GtMrurhDTwo",
            "ciphertext": (
                "MuM8E3Yc6TSAvhVGb77rQ++jE6p9dRepx63/3YPD2wACKAppkZHeFrnTH6wJ/HSyrmzo7HfwqVl6tKNp"
                "fooSTHqUf6x1LHz+h4B/Id5ITO1WYt16AaI40LOnZqTkJZCfSPuE2oxalwEHnCS3biWybutcnrBFPR3L"
                "MtaeHvvkb+k3ny9l5ZpsU9G7vCm3XoeYkWfLekWXvDhbqWrylXD0+CNUuaQJ/S527TzLd4XKctqVjjO/"
                "cCH7q+9utt9WJAfK8LGaWT/mZ3AeWjf5kiqOpKKf5Cn4n5SSil5p/pvGYmjnURvZSEeQIzHgvunIBEPt"
                "zK/MYEPOXe/P5achNGlCx+5N19Ftyp9TFaTFlTWCTi0mpD7ePfCNISrwpozAz9HZc0OhA8+1aSc7rhYF"
                "IeAYXFU326NuFIFHI5pvpSxjzPQlOA+mavIKmiRAtjlLw11IVKTxgrdT4N8lXeMr4ndCSmvIkAzFMo1u"
                "ZA4fzjiAdQJE4/2WeXFNNpvdfoYmX8Zl9CAYjpSO5HvpwkAbk4/iLEH3hDfCVUwDfMh05PdGLnxeRpiE"
                "FWSMSsJNp+OWAA+5JsF41BoRGrxoXXT+VKqlUDONd+O296Psu8Q+d8/S618"
            ),
        },
    )
    assert data["algorithm"] == "m.megolm.v1.aes-sha2"
    assert data["sender_key"] == "wREG/hBdSspoqM9xPCEXd/4YwjpBFXlsobRkyDTo/Q8"
    assert data["session_key"].startswith("AQAAAABwCEYsl5BrvPW0N8HTYP11phC7LOzItQLS3Zen6j1j")
    # Our own encryption to that key round-trips; another key cannot read it.
    sealed = encrypt_session(pk.public_key, {"session_key": "k"})
    assert decrypt_session(pk, sealed) == {"session_key": "k"}
    with pytest.raises(ValueError, match="cannot decrypt"):
        decrypt_session(pk_decryption(bytes(32)), sealed)


# -- end to end --------------------------------------------------------------------------------


class Answering(ScriptContext):
    """Answers secret prompts (password, passphrase, recovery key) from a list."""

    def __init__(self, *accounts: Account) -> None:
        super().__init__(*accounts)
        self.answers: list[str] = []
        self.asked: list[str] = []

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        assert param.kind == "secret", title
        self.asked.append(param.name)
        return self.answers.pop(0)


async def own_keys(account: Account) -> dict[str, Any]:
    """/keys/query for the account's user, as the server answers it."""
    resp = await account.client.api.request(
        Method.POST, ApiPath.v3.keys.query, {"device_keys": {account.user_id: []}}
    )
    assert isinstance(resp, dict)
    return resp


def signed_by_self_signing_key(keys: dict[str, Any], user_id: str, device_id: str) -> bool:
    [ssk] = keys["self_signing_keys"][user_id]["keys"].values()
    device = keys["device_keys"][user_id][device_id]
    return verify_signature_json(device, UserID(user_id), ssk, ssk)


async def test_local_secrets_are_sealed_with_the_pickle_key(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    sealed = LocalSecrets(a.store, "pickle key")
    await sealed.put("test", {"seed": "plaintext-marker"})
    raw = await a.store.db.fetchval("SELECT value FROM tm_local_secrets WHERE name='test'")
    assert "plaintext-marker" not in raw
    assert await sealed.get("test") == {"seed": "plaintext-marker"}
    assert await LocalSecrets(a.store, "another key").get("test") is None


async def test_recovery_key_on_a_new_device_restores_cross_signing_and_history(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a = await login(alice)
    b = await login(bob)
    room_id = await encrypted_room(a, b)

    ctx = Answering(a)
    setup = await run_line(ctx, "setup-recovery")
    assert ctx.asked == []  # the first upload of cross-signing keys needs no password
    recovery_key = setup.data["recovery_key"]
    assert recovery_key in setup.message and "only once" in setup.message
    keys = await own_keys(a)
    assert signed_by_self_signing_key(keys, alice.user_id, a.session.device_id)

    # Keys are backed up as they arrive: the uploader wakes after each sync.
    backup = KeyBackup.of(a)
    backup.start()
    old = await send(b, room_id, "said before the new device existed")
    own = await send(a, room_id, "and alice's answer")  # her own session is backed up too
    await a.sync_once()
    assert (await stored(a, old))["content"]["body"] == "said before the new device existed"
    count = 0

    async def backed_up() -> bool:
        nonlocal count
        status = await backup.status()
        count = status.server_count or 0
        return status.matches and status.pending == 0 and count >= 2

    await eventually(backed_up)
    status = (await run_line(ctx, "backup-status")).data
    assert status["active"] and status["server_count"] == count

    # A fresh device of alice's: the old message was never shared with it.
    a2 = await other_device(alice)
    await a2.sync_once()
    assert (await stored(a2, old))["type"] == "m.room.encrypted"
    assert not signed_by_self_signing_key(await own_keys(a2), alice.user_id, a2.session.device_id)
    changes: list[object] = []
    a2.add_listener(lambda _account, change: changes.append(change))

    ctx2 = Answering(a2)
    ctx2.answers = ["EsTc 1234 5678"]
    with pytest.raises(UserError, match="not a recovery key"):
        await run_line(ctx2, "verify-with-recovery-key")
    ctx2.answers = [recovery_key]
    result = await run_line(ctx2, "verify-with-recovery-key")
    assert result.data["restored"] >= 1, result.message
    assert signed_by_self_signing_key(await own_keys(a2), alice.user_id, a2.session.device_id)
    assert (await stored(a2, old))["content"]["body"] == "said before the new device existed"
    assert (await stored(a2, own))["content"]["body"] == "and alice's answer"
    # Anyone could have put a key in the backup: what it decrypts is not shown as verified.
    assert (await stored(a2, old))["tm_e2ee"]["trust"] == "forwarded"
    assert any(isinstance(c, SyncChanges) and room_id in c.limited for c in changes)

    # The cross-signing and backup keys survive a restart of the new device.
    paths = a2.paths
    await a2.close()
    [info] = [s for s in load_sessions(paths) if s.user_id == alice.user_id]
    reopened = await Account.open(info, paths)
    try:
        assert await load_cross_signing(reopened)
        assert reopened.crypto is not None
        private = reopened.crypto.machine._cross_signing_private_keys
        assert private is not None
        [master] = keys["master_keys"][alice.user_id]["keys"].values()
        assert private.master_key.public_key == master
        again = KeyBackup.of(reopened)
        await again.load()
        assert again.version == result.data["backup_version"]
    finally:
        await reopened.close()


async def test_replacing_cross_signing_keys_asks_for_the_password(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,  # noqa: F811
) -> None:
    alice = make_user("alice")
    a = await login(alice)
    await a.sync_once()
    ctx = Answering(a)
    first = (await run_line(ctx, "setup-recovery")).data["recovery_key"]
    with pytest.raises(UsageError, match="add --replace"):
        await run_line(ctx, "setup-recovery")
    ctx.answers = ["not the password"]
    with pytest.raises(UserError, match="wrong password: nothing was changed"):
        await run_line(ctx, "setup-recovery --replace")
    assert ctx.asked == ["password"]
    ctx.answers = [alice.password]
    second = (await run_line(ctx, "setup-recovery --replace")).data["recovery_key"]
    assert second != first

    a2 = await other_device(alice)
    await a2.sync_once()
    ctx2 = Answering(a2)
    ctx2.answers = [first]
    with pytest.raises(UserError, match="wrong recovery key"):
        await run_line(ctx2, "verify-with-recovery-key")
    ctx2.answers = [second]
    await run_line(ctx2, "verify-with-recovery-key")
    assert signed_by_self_signing_key(await own_keys(a2), alice.user_id, a2.session.device_id)


async def test_export_on_one_device_import_on_another(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,  # noqa: F811
    tmp_path: Path,
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a = await login(alice)
    b = await login(bob)
    room_id = await encrypted_room(a, b)
    old = await send(b, room_id, "exported history")
    own = await send(a, room_id, "alice's own history")
    await a.sync_once()

    path = tmp_path / "keys" / "element-keys.txt"
    ctx = Answering(a)
    ctx.answers = ["a long passphrase"]
    exported = await run_line(ctx, f"export-keys {path}")
    assert exported.data["exported"] >= 2  # bob's session and alice's own
    assert path.read_text().startswith(HEADER)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(UsageError, match="add --overwrite"):
        await run_line(ctx, f"export-keys {path}")
    assert path.read_bytes() == before

    a2 = await other_device(alice)
    await a2.sync_once()
    assert (await stored(a2, old))["type"] == "m.room.encrypted"
    ctx2 = Answering(a2)
    ctx2.answers = ["the wrong passphrase"]
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        await run_line(ctx2, f"import-keys {path}")
    with pytest.raises(UsageError, match="no such file"):
        await run_line(ctx2, f"import-keys {tmp_path / 'missing.txt'}")
    ctx2.answers = ["a long passphrase"]
    imported = await run_line(ctx2, f"import-keys {path}")
    assert imported.data["imported"] == exported.data["exported"]
    assert imported.data["rooms"] == [room_id]
    assert (await stored(a2, old))["content"]["body"] == "exported history"
    assert (await stored(a2, own))["content"]["body"] == "alice's own history"
    # A key from a file vouches for nothing: even our own messages are not "verified".
    assert (await stored(a2, old))["tm_e2ee"]["trust"] == "forwarded"
    assert (await stored(a2, own))["tm_e2ee"]["trust"] == "forwarded"
    # Importing again adds nothing: the keys held are as good.
    ctx2.answers = ["a long passphrase"]
    assert (await run_line(ctx2, f"import-keys {path}")).data["imported"] == 0


async def test_the_app_shows_the_recovery_key_until_dismissed(make_user: MakeUser) -> None:
    from helpers import until
    from test_app import SIZE

    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core import auth
    from tuimatrix.core.account import LIVE
    from tuimatrix.paths import get_paths
    from tuimatrix.screens.secret_notice import SecretNoticeScreen

    alice = make_user("alice")
    await (await auth.login(get_paths(), alice.user_id, alice.password)).account.close()
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        app.run_lines(["setup-recovery"])
        await until(pilot, lambda: isinstance(app.screen, SecretNoticeScreen))
        notice = app.screen
        assert isinstance(notice, SecretNoticeScreen)
        secret = notice.secret
        assert len(secret.split()) == 12  # 48 base58 characters in groups of four
        await pilot.press("escape")  # a reflex must not lose the key
        await pilot.pause()
        assert app.screen is notice
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, SecretNoticeScreen))
        await until(pilot, lambda: "recovery set up" in app.status_message)
        assert secret not in app.status_message


def exec_with_input(line: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """``tuimatrix exec LINE`` with ``stdin`` piped in (where exec reads secrets from)."""
    return subprocess.run(
        [sys.executable, "-m", "tuimatrix", "exec", line],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_exec_prints_the_recovery_key_and_reads_secrets_from_stdin(
    make_user: MakeUser, tmp_path: Path
) -> None:
    import asyncio

    from tuimatrix.core import auth
    from tuimatrix.paths import get_paths

    alice = make_user("alice")
    await (await auth.login(get_paths(), alice.user_id, alice.password)).account.close()
    run = asyncio.to_thread

    setup = await run(exec_with_input, "setup-recovery", "")
    assert setup.returncode == 0, setup.stderr
    [key_line] = [line for line in setup.stdout.splitlines() if line.startswith("recovery key:")]
    recovery_key = key_line.removeprefix("recovery key:").strip()
    assert "only once" in setup.stdout

    verified = await run(exec_with_input, "verify-with-recovery-key", recovery_key + "\n")
    assert verified.returncode == 0, verified.stderr
    assert "this device is verified" in verified.stdout

    path = tmp_path / "keys.txt"
    exported = await run(exec_with_input, f"export-keys {path}", "secret words\n")
    assert exported.returncode == 0, exported.stderr
    assert path.read_text().startswith(HEADER)
    wrong = await run(exec_with_input, f"import-keys {path}", "other words\n")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == "tuimatrix: wrong passphrase (or the key file was altered)"
    assert "Traceback" not in wrong.stderr


async def test_setup_recovery_stopped_halfway_goes_on_with_the_same_keys(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cross-signing keys were published, then secret storage failed (the network): run
    again, it finishes with the same keys, asking nothing (nobody has to verify us again)."""
    from tuimatrix.core.e2ee import recovery

    a = await login(make_user("alice"))
    await a.sync_once()
    assert a.crypto is not None
    ssss = a.crypto.machine.ssss

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionResetError("the server went away")

    monkeypatch.setattr(ssss, "generate_and_upload_key", down)
    ctx = Answering(a)
    with pytest.raises(ConnectionResetError):
        await run_line(ctx, "setup-recovery")
    published = await recovery.published_master_key(a)
    assert published is not None
    monkeypatch.undo()

    result = await run_line(ctx, "setup-recovery")  # no --replace, no password
    assert ctx.asked == []
    assert result.data["recovery_key"]
    assert await recovery.published_master_key(a) == published
    # Now it is set up: again would replace the recovery key, so it asks for --replace.
    with pytest.raises(UsageError, match="add --replace"):
        await run_line(ctx, "setup-recovery")
