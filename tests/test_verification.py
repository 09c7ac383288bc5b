"""Interactive verification (SAS) between real tuimatrix accounts on the real server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from conftest import MakeUser
from helpers import TestUser, until, wait_for
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.types import DeviceID, TrustState, UserID
from olm.sas import Sas
from test_app import SIZE, peer  # noqa: F401  (peer: the fixture)
from test_e2ee import OtherDevice, other_device  # noqa: F401  (the fixture)
from test_sync import Login, login  # noqa: F401  (the fixture)
from textual.widgets import Static

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.e2ee.sas import (
    MAC_V1,
    MAC_V2,
    calculate_mac,
    commitment,
    key_ids,
    mac_info,
    sas_info,
)
from tuimatrix.core.e2ee.sas_emoji import SAS_EMOJI, emoji_indices, sas_decimals, sas_emoji
from tuimatrix.core.e2ee.verification import (
    S_CANCELLED,
    S_DONE,
    S_SAS,
    Verification,
    VerificationChanged,
    VerificationManager,
    verifications,
)
from tuimatrix.core.timeline import event_item
from tuimatrix.paths import get_paths
from tuimatrix.screens.verification import VerificationScreen

pytestmark = pytest.mark.timeout(180)

# -- the spec's table and strings ---------------------------------------------------------------


def test_emoji_table_is_the_specs_in_its_order() -> None:
    assert len(SAS_EMOJI) == 64
    assert SAS_EMOJI[0] == ("\U0001f436", "Dog")
    assert SAS_EMOJI[9] == ("\U0001f413", "Rooster")
    assert SAS_EMOJI[21] == ("\u2601\ufe0f", "Cloud")
    assert SAS_EMOJI[36] == ("\U0001f44d", "Thumbs Up")
    assert SAS_EMOJI[41] == ("\U0001f4a1", "Light Bulb")
    assert SAS_EMOJI[53] == ("\u2708\ufe0f", "Aeroplane")
    assert SAS_EMOJI[63] == ("\U0001f4cc", "Pin")
    assert len({e for e, _ in SAS_EMOJI}) == 64
    assert len({n for _, n in SAS_EMOJI}) == 64


def test_emoji_take_the_first_42_bits_six_at_a_time() -> None:
    # 000001 000010 000011 000100 000101 000110 000111 | 111111 (ignored)
    data = int("000001000010000011000100000101000110000111111111", 2).to_bytes(6, "big")
    assert emoji_indices(data) == [1, 2, 3, 4, 5, 6, 7]
    assert [name for _, name in sas_emoji(data)] == [
        "Cat",
        "Lion",
        "Horse",
        "Unicorn",
        "Pig",
        "Elephant",
        "Rabbit",
    ]


def test_decimals_are_three_13_bit_numbers_plus_1000() -> None:
    assert sas_decimals(bytes(5)) == (1000, 1000, 1000)
    assert sas_decimals(b"\xff" * 5) == (9191, 9191, 9191)
    # first = 1, second = 2, third = 3 (then one unused bit)
    data = int("0000000000001000000000001000000000000110", 2).to_bytes(5, "big")
    assert sas_decimals(data) == (1001, 1002, 1003)


def test_info_strings_follow_the_spec() -> None:
    assert (
        sas_info(("@a:x", "AAA", "ka"), ("@b:x", "BBB", "kb"), "txn")
        == "MATRIX_KEY_VERIFICATION_SAS|@a:x|AAA|ka|@b:x|BBB|kb|txn"
    )
    assert (
        mac_info(("@a:x", "AAA"), ("@b:x", "BBB"), "txn", "ed25519:AAA")
        == "MATRIX_KEY_VERIFICATION_MAC@a:xAAA@b:xBBBtxned25519:AAA"
    )
    assert key_ids(["ed25519:b", "ed25519:a"]) == "ed25519:a,ed25519:b"


def test_commitment_covers_the_key_and_the_canonical_start() -> None:
    start = {"method": "m.sas.v1", "from_device": "D", "hashes": ["sha256"], "ü": 1}
    reordered = dict(reversed(list(start.items())))
    assert commitment("KEY", start) == commitment("KEY", reordered)
    assert commitment("KEY", start) != commitment("KEY2", start)
    assert commitment("KEY", start) != commitment("KEY", {**start, "method": "x"})
    assert "=" not in commitment("KEY", start)


def test_both_sides_compute_the_same_macs_and_v1_differs_from_v2() -> None:
    a, b = Sas(), Sas()
    a.set_their_pubkey(b.pubkey)
    b.set_their_pubkey(a.pubkey)
    info = mac_info(("@a:x", "A"), ("@b:x", "B"), "t", "ed25519:A")
    assert calculate_mac(a, MAC_V2, "key", info) == calculate_mac(b, MAC_V2, "key", info)
    assert calculate_mac(a, MAC_V1, "key", info) == calculate_mac(b, MAC_V1, "key", info)
    assert calculate_mac(a, MAC_V2, "key", info) != calculate_mac(a, MAC_V1, "key", info)
    assert calculate_mac(a, MAC_V2, "key", info) != calculate_mac(a, MAC_V2, "kez", info)


# -- against the server ------------------------------------------------------------------------


async def pump(*accounts: Account, until: Callable[[], bool], rounds: int = 25) -> None:
    """Sync the accounts in turn until ``until()`` holds."""
    for _ in range(rounds):
        if until():
            return
        for account in accounts:
            await account.sync_once()
    assert until()


async def trust(account: Account, user_id: str, device_id: str) -> TrustState | None:
    """The device's trust in the account's crypto store (None: the device is not known)."""
    assert account.crypto is not None
    device = await account.crypto.crypto_store.get_device(UserID(user_id), DeviceID(device_id))
    return device.trust if device is not None else None


def device_of(account: Account) -> str:
    return str(account.session.device_id)


async def cross_signing(account: Account) -> str:
    """Give the account cross-signing keys (private keys in memory); returns the SSK."""
    assert account.crypto is not None
    await account.crypto.machine.generate_recovery_key()
    return await signing_key(account, "self")


async def signing_key(account: Account, which: str) -> str:
    assert account.crypto is not None
    keys = account.crypto.machine._cross_signing_private_keys
    assert keys is not None
    key = keys.self_signing_key if which == "self" else keys.user_signing_key
    return str(key.public_key)


async def ready_pair(a: Account, b: Account) -> tuple[VerificationManager, VerificationManager]:
    for account in (a, b):
        await account.sync_once()  # uploads the device keys
    return verifications(a), verifications(b)


async def until_sas(
    a: Account,
    b: Account,
    ma: VerificationManager,
    mb: VerificationManager,
    va: Verification,
) -> Verification:
    """B accepts A's request; both reach the point of comparing. Returns B's verification."""
    await pump(b, a, until=lambda: bool(mb.incoming_requests()))
    vb = mb.incoming_requests()[0]
    assert vb.transaction_id == va.transaction_id
    assert vb.other_user == a.user_id
    await mb.accept(vb.transaction_id)
    await pump(a, b, until=lambda: va.state == S_SAS and vb.state == S_SAS)
    assert len(va.emoji) == 7
    assert va.emoji == vb.emoji
    assert va.decimals == vb.decimals and va.decimals is not None
    assert all(1000 <= n <= 9191 for n in va.decimals)
    return vb


async def confirm_both(
    a: Account, b: Account, ma: VerificationManager, mb: VerificationManager, txn: str
) -> None:
    await ma.confirm(txn)
    await mb.confirm(txn)
    va, vb = ma.get(txn), mb.get(txn)
    await pump(a, b, until=lambda: va.state == S_DONE and vb.state == S_DONE)
    assert f"ed25519:{device_of(b)}" in va.verified_keys
    assert f"ed25519:{device_of(a)}" in vb.verified_keys


async def test_sas_between_two_devices_of_one_user(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,  # noqa: F811
) -> None:
    user = make_user("alice")
    a = await login(user)
    b = await other_device(user)
    ma, mb = await ready_pair(a, b)
    assert await trust(a, a.user_id, device_of(b)) != TrustState.VERIFIED
    ssk = await cross_signing(a)  # A holds the private keys: it will sign B's device
    await b.sync_once()
    seen: list[object] = []
    b.add_listener(lambda _account, change: seen.append(change))

    va = await ma.request_device(a.user_id, device_of(b))
    await until_sas(a, b, ma, mb, va)
    # The UI hears of the request through the account's listeners.
    assert any(isinstance(c, VerificationChanged) and c.verification.incoming for c in seen), seen
    await confirm_both(a, b, ma, mb, va.transaction_id)
    assert await trust(a, a.user_id, device_of(b)) == TrustState.VERIFIED
    assert await trust(b, b.user_id, device_of(a)) == TrustState.VERIFIED
    keys = await b.client.query_keys([UserID(b.user_id)])
    signatures = keys.device_keys[UserID(b.user_id)][DeviceID(device_of(b))].signatures
    assert f"ed25519:{ssk}" in {str(k) for k in signatures[UserID(b.user_id)]}


async def test_sas_between_two_users_to_device(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ma, mb = await ready_pair(a, b)
    await cross_signing(a)
    await cross_signing(b)
    va = await ma.request_device(b.user_id, device_of(b))
    await until_sas(a, b, ma, mb, va)
    await confirm_both(a, b, ma, mb, va.transaction_id)
    assert await trust(a, b.user_id, device_of(b)) == TrustState.VERIFIED
    assert await trust(b, a.user_id, device_of(a)) == TrustState.VERIFIED
    # Each signed the other's master key with its user-signing key, on the server.
    for signer, signed in ((a, b), (b, a)):
        usk = await signing_key(signer, "user")
        keys = await signer.client.query_keys([UserID(signed.user_id)])
        master = keys.master_keys[UserID(signed.user_id)]
        assert f"ed25519:{usk}" in {str(k) for k in master.signatures[UserID(signer.user_id)]}


async def test_a_mismatch_cancels_on_both_sides_and_verifies_nothing(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ma, mb = await ready_pair(a, b)
    va = await ma.request_device(b.user_id, device_of(b))
    vb = await until_sas(a, b, ma, mb, va)
    # B already said they match; A's user says they do not.
    await mb.confirm(vb.transaction_id)
    await ma.mismatch(va.transaction_id)
    await pump(a, b, until=lambda: vb.state == S_CANCELLED)
    assert va.state == S_CANCELLED and va.cancel_code == "m.mismatched_sas"
    assert vb.cancel_code == "m.mismatched_sas" and not vb.cancelled_by_us
    assert await trust(a, b.user_id, device_of(b)) != TrustState.VERIFIED
    assert await trust(b, a.user_id, device_of(a)) != TrustState.VERIFIED


async def test_sas_in_a_dm_between_two_users(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ma, mb = await ready_pair(a, b)
    room_id = await a.create_room(invite=[b.user_id], is_direct=True, encrypted=True)
    await b.sync_once()
    await b.join(room_id)
    await a.sync_once()

    va = await ma.request_user(b.user_id)  # finds the DM
    assert va.room_id == room_id
    vb = await until_sas(a, b, ma, mb, va)
    assert vb.room_id == room_id
    await confirm_both(a, b, ma, mb, va.transaction_id)
    assert await trust(a, b.user_id, device_of(b)) == TrustState.VERIFIED
    assert await trust(b, a.user_id, device_of(a)) == TrustState.VERIFIED
    # The verification messages went through the room encrypted.
    assert a.crypto is not None
    resp = await a.client.api.request(
        Method.GET, ApiPath.v3.rooms[room_id].messages, query_params={"dir": "b", "limit": "50"}
    )
    types = {e["type"] for e in resp["chunk"]}
    assert "m.room.encrypted" in types
    assert not any(t.startswith("m.key.verification.") for t in types)


async def test_an_unanswered_verification_times_out_on_both_sides(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ma, mb = await ready_pair(a, b)
    va = await ma.request_device(b.user_id, device_of(b))
    await pump(b, until=lambda: bool(mb.incoming_requests()))
    vb = mb.incoming_requests()[0]
    await mb.accept(vb.transaction_id)
    await pump(a, b, until=lambda: va.state == S_SAS and vb.state == S_SAS)
    ma._on_timeout(va.transaction_id)  # what the 10-minute timer does
    await wait_for(lambda: va.state == S_CANCELLED)
    assert va.cancel_code == "m.timeout"
    await pump(b, until=lambda: vb.state == S_CANCELLED)
    assert vb.cancel_code == "m.timeout"


async def test_an_encrypted_to_device_request_reaches_the_prompt(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    from mautrix.types import EventType

    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    _, mb = await ready_pair(a, b)
    assert a.crypto is not None
    device = await a.crypto.machine.get_or_fetch_device(UserID(b.user_id), DeviceID(device_of(b)))
    assert device is not None
    content = {
        "from_device": device_of(a),
        "methods": ["m.sas.v1"],
        "timestamp": int(time.time() * 1000),
        "transaction_id": "encrypted-request",
    }
    await a.crypto.machine.send_encrypted_to_device(
        device,
        EventType.find("m.key.verification.request", EventType.Class.TO_DEVICE),
        cast(Any, content),
    )
    await b.sync_once()
    # The OlmMachine hands decrypted events over in a task.
    await wait_for(lambda: bool(mb.incoming_requests()))
    assert mb.incoming_requests()[0].transaction_id == "encrypted-request"


async def test_the_app_prompts_shows_the_emoji_and_verifies(
    make_user: MakeUser,
    peer: Callable[[TestUser], asyncio.Future[Account]],  # noqa: F811
) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    my_device = device_of(me)
    await me.close()
    bob = await peer(make_user("bob"))
    await bob.sync_once()
    mb = verifications(bob)
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)

        async def pump_bob(predicate: Callable[[], bool]) -> None:
            async with asyncio.timeout(60):
                while not predicate():
                    await bob.sync_once()
                    await pilot.pause(0.1)

        vb = await mb.request_device(alice.user_id, my_device)
        # The request pops up; accepting it leads to the emoji.
        await until(pilot, lambda: isinstance(app.screen, VerificationScreen))
        screen = app.screen
        assert isinstance(screen, VerificationScreen)
        await until(pilot, lambda: bool(screen.query("#accept")))
        await pilot.click("#accept")
        await pump_bob(lambda: vb.state == S_SAS and screen.verification.state == S_SAS)
        await until(pilot, lambda: bool(screen.query("#match")))
        shown = str(screen.query_one("#body", Static).render())
        assert all(name in shown for _, name in vb.emoji)
        assert vb.decimals is not None and str(vb.decimals[0]) in shown

        await pilot.click("#match")
        await until(pilot, lambda: screen.verification.state != S_SAS)
        await mb.confirm(vb.transaction_id)
        await pump_bob(lambda: vb.state == S_DONE and screen.verification.state == S_DONE)
        await until(pilot, lambda: "is verified" in str(screen.query_one("#body", Static).render()))
        assert await trust(account, bob.user_id, device_of(bob)) == TrustState.VERIFIED
        await pilot.click("#close")
        await until(pilot, lambda: not isinstance(app.screen, VerificationScreen))

        # escape declines a request: the requester hears m.user.
        again = await mb.request_device(alice.user_id, my_device)
        await until(pilot, lambda: isinstance(app.screen, VerificationScreen))
        await until(pilot, lambda: bool(app.screen.query("#decline")))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, VerificationScreen))
        await pump_bob(lambda: again.state == S_CANCELLED)
        assert again.cancel_code == "m.user"


async def test_a_mac_that_does_not_match_cancels_with_key_mismatch(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ma, mb = await ready_pair(a, b)
    va = await ma.request_device(b.user_id, device_of(b))
    vb = await until_sas(a, b, ma, mb, va)
    # A computes its MACs another way than agreed: to B, A's keys do not check out.
    va.mac_method = MAC_V1
    await ma.confirm(va.transaction_id)
    await mb.confirm(vb.transaction_id)
    await pump(a, b, until=lambda: va.state == S_CANCELLED and vb.state == S_CANCELLED)
    assert vb.cancel_code == "m.key_mismatch" and vb.cancelled_by_us
    assert va.cancel_code == "m.key_mismatch"
    assert await trust(a, b.user_id, device_of(b)) != TrustState.VERIFIED
    assert await trust(b, a.user_id, device_of(a)) != TrustState.VERIFIED


def test_the_timeline_shows_a_request_line_and_hides_the_steps() -> None:
    request = {
        "type": "m.room.message",
        "event_id": "$r",
        "sender": "@a:x",
        "origin_server_ts": 1,
        "content": {
            "msgtype": "m.key.verification.request",
            "body": "your client does not support verification",
            "from_device": "D",
            "methods": ["m.sas.v1"],
            "to": "@b:x",
        },
    }
    item = event_item(request, {})
    assert item is not None
    assert "asked to verify keys" in item.body.plain
    assert "does not support" not in item.body.plain
    start = {
        "type": "m.key.verification.start",
        "event_id": "$s",
        "sender": "@a:x",
        "origin_server_ts": 2,
        "content": {"m.relates_to": {"rel_type": "m.reference", "event_id": "$r"}},
    }
    assert event_item(start, {}) is None


async def test_verify_user_without_a_dm_makes_one(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ma, mb = await ready_pair(a, b)
    va = await ma.request_user(b.user_id)
    assert va.room_id is not None
    await b.sync_once()
    await b.join(va.room_id)
    await pump(b, until=lambda: bool(mb.incoming_requests()))
    vb = mb.incoming_requests()[0]
    assert vb.room_id == va.room_id and vb.transaction_id == va.transaction_id
    assert await a.find_direct_room(b.user_id) == va.room_id


async def test_verifying_yourself_asks_every_other_device_and_one_answers(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,  # noqa: F811
) -> None:
    user = make_user("alice")
    a = await login(user)
    b = await other_device(user)
    c = await other_device(user)
    ma, mb = await ready_pair(a, b)
    mc = verifications(c)
    await c.sync_once()
    await a.sync_once()
    va = await ma.request_user(a.user_id)
    assert va.room_id is None and set(va.request_devices) == {device_of(b), device_of(c)}
    await pump(b, c, until=lambda: bool(mb.incoming_requests() and mc.incoming_requests()))
    vc = mc.incoming_requests()[0]
    vb = await until_sas(a, b, ma, mb, va)
    assert va.other_device == device_of(b)
    # C is told that another device took the request; its prompt goes away.
    await pump(c, until=lambda: vc.state == S_CANCELLED)
    assert vc.cancel_code == "m.accepted"
    await confirm_both(a, b, ma, mb, vb.transaction_id)
    assert await trust(a, a.user_id, device_of(b)) == TrustState.VERIFIED
    assert await trust(a, a.user_id, device_of(c)) != TrustState.VERIFIED


async def test_one_open_request_per_sender(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    """A second request from someone whose first is still open is ignored: nobody can fill the
    screen with prompts."""
    a = await login(make_user("alice"))
    await a.sync_once()
    manager = verifications(a)

    def request(txn: str, sender: str) -> dict[str, Any]:
        return {
            "type": "m.key.verification.request",
            "sender": sender,
            "content": {
                "transaction_id": txn,
                "from_device": "DEVICE",
                "methods": ["m.sas.v1"],
                "timestamp": int(time.time() * 1000),
            },
        }

    await manager.handle_to_device(request("t1", "@mallory:x"))
    await manager.handle_to_device(request("t2", "@mallory:x"))
    await manager.handle_to_device(request("t3", "@bob:x"))
    assert set(manager.verifications) == {"t1", "t3"}
