"""End-to-end encryption against the real server, between real tuimatrix accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import MakeUser
from helpers import TestUser, eventually
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.types import (
    DeviceID,
    EncryptionAlgorithm,
    EventType,
    RoomID,
    RoomKeyWithheldCode,
    RoomKeyWithheldEventContent,
    UserID,
)
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.timeline import event_item
from tuimatrix.paths import Paths

pytestmark = pytest.mark.timeout(180)

OtherDevice = Callable[[TestUser], Any]


@pytest.fixture
async def other_device(tmp_path: Path) -> AsyncIterator[OtherDevice]:
    """``await other_device(user)``: the user logged in again, as a second device elsewhere."""
    opened: list[Account] = []

    async def make(user: TestUser) -> Account:
        root = tmp_path / f"device{len(opened)}"
        paths = Paths(root / "c", root / "d", root / "s", root / "k", root / "dl")
        result = await auth.login(paths, user.user_id, user.password, user.base_url)
        opened.append(result.account)
        return result.account

    yield make
    for account in opened:
        await account.close()


async def raw_event(account: Account, room_id: str, event_id: str) -> dict[str, Any]:
    """The event as the server holds it (not decrypted)."""
    evt = await account.client.api.request(Method.GET, ApiPath.v3.rooms[room_id].event[event_id])
    assert isinstance(evt, dict)
    return evt


async def stored(account: Account, event_id: str) -> dict[str, Any]:
    evt = await account.store.event(event_id)
    assert evt is not None, event_id
    return evt


async def send(account: Account, room_id: str, body: str, **kwargs: Any) -> str:
    echo = await account.send_text(room_id, body, **kwargs)
    done = await account.send_queue.wait(echo.txn_id)
    assert done.state == "sent", done.error
    assert done.event_id is not None
    return done.event_id


async def encrypted_room(a: Account, *others: Account) -> str:
    """A private encrypted room of ``a`` that ``others`` joined; everyone synced."""
    for account in (a, *others):
        await account.sync_once()  # loads the olm account and uploads the device keys
    room_id = await a.create_room("Secret", invite=[o.user_id for o in others], encrypted=True)
    for other in others:
        await other.sync_once()
        await other.join(room_id)
    for account in (a, *others):
        await account.sync_once()
    return room_id


@pytest.fixture
async def encrypted_pair(make_user: MakeUser, login: Login) -> tuple[Account, Account, str]:  # noqa: F811
    """Alice and Bob logged in, in an encrypted room of Alice's: (alice, bob, room id)."""
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    return a, b, await encrypted_room(a, b)


async def test_encrypted_messages_both_ways(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)

    hello = await send(a, room_id, "hello bob")
    raw = await raw_event(a, room_id, hello)
    assert raw["type"] == "m.room.encrypted"
    assert "hello bob" not in str(raw)
    await b.sync_once()
    got = await stored(b, hello)
    assert got["type"] == "m.room.message"
    assert got["content"]["body"] == "hello bob"
    assert got["tm_e2ee"]["trust"]

    # The other way, and every relation: reply, reaction, edit, then a redaction.
    reply = await send(b, room_id, "hi alice", relates_to={"m.in_reply_to": {"event_id": hello}})
    reaction = await b.react(room_id, hello, "👍")
    reaction_id = (await b.send_queue.wait(reaction.txn_id)).event_id
    edit = await b.edit(room_id, reply, "hi alice!")
    edit_id = (await b.send_queue.wait(edit.txn_id)).event_id
    for event_id in (reply, reaction_id, edit_id):
        assert event_id is not None
        assert (await raw_event(b, room_id, event_id))["type"] == "m.room.encrypted"
    await a.sync_once()
    assert (await stored(a, reply))["content"]["m.relates_to"]["m.in_reply_to"] == {
        "event_id": hello
    }
    assert reaction_id is not None and edit_id is not None
    got_reaction = await stored(a, reaction_id)
    assert got_reaction["type"] == "m.reaction"
    assert got_reaction["content"]["m.relates_to"]["key"] == "👍"
    got_edit = await stored(a, edit_id)
    assert got_edit["content"]["m.new_content"]["body"] == "hi alice!"
    assert got_edit["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": reply}

    await a.redact(room_id, hello, reason="oops")
    await b.sync_once()
    assert (await stored(b, hello)).get("type") in ("m.room.message", "m.room.encrypted")

    # Our own messages come back through sync decrypted too (the queue's echo is replaced).
    assert (await stored(a, hello))["content"]["body"] == "hello bob"


async def test_encrypted_files_both_ways(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    from mautrix.crypto.attachments import decrypt_attachment

    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    data = b"secret file contents " * 100
    for sender, receiver in ((a, b), (b, a)):
        upload = await sender.upload_attachment(room_id, data, "text/plain", "notes.txt")
        assert "file" in upload and "url" not in upload
        echo = await sender.send_event(
            room_id, "m.room.message", {"msgtype": "m.file", "body": "notes.txt", **upload}
        )
        event_id = (await sender.send_queue.wait(echo.txn_id)).event_id
        assert event_id is not None
        await receiver.sync_once()
        file = (await stored(receiver, event_id))["content"]["file"]
        server, media_id = file["url"].removeprefix("mxc://").split("/")
        async with receiver.http.get(
            f"{receiver.session.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {receiver.session.access_token}"},
        ) as resp:
            resp.raise_for_status()
            ciphertext = await resp.read()
        assert data not in ciphertext
        plain = decrypt_attachment(
            ciphertext, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
        )
        assert plain == data


async def test_late_joiner_sees_placeholders_not_history(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    c = await login(make_user("carol"))
    room_id = await encrypted_room(a, b)
    before = await send(a, room_id, "before carol")
    await c.sync_once()
    await a.invite(room_id, c.user_id)
    await c.sync_once()
    await c.join(room_id)
    await a.sync_once()
    after = await send(a, room_id, "after carol")
    await c.sync_once()
    assert (await stored(c, after))["content"]["body"] == "after carol"
    old = await c.store.event(before)
    if old is None:  # not in the joining sync: scrollback brings it
        await c.load_older(room_id)
        old = await stored(c, before)
    assert old["type"] == "m.room.encrypted"
    assert "before carol" not in str(old)
    item = event_item(old, {a.user_id: "alice"})
    assert item is not None
    assert "waiting for the key from alice's device" in item.body.plain

    # Alice's device says it will not send that key: the placeholder says so instead.
    await a.client.send_to_device(
        EventType.ROOM_KEY_WITHHELD,
        {
            UserID(c.user_id): {
                DeviceID(c.session.device_id): RoomKeyWithheldEventContent(
                    algorithm=EncryptionAlgorithm.MEGOLM_V1,
                    sender_key=old["content"]["sender_key"],
                    code=RoomKeyWithheldCode.UNAUTHORIZED,
                    room_id=RoomID(room_id),
                    session_id=old["content"]["session_id"],
                )
            }
        },
    )
    await c.sync_once()
    item = event_item(await stored(c, before), {a.user_id: "alice"})
    assert item is not None
    assert item.body.plain == (
        "🔒 the sender's device withheld the key: this device is not allowed to read it"
    )


async def test_room_key_rotates_when_a_member_leaves(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    c = await login(make_user("carol"))
    room_id = await encrypted_room(a, b, c)
    first = await send(a, room_id, "all three")
    second = await send(a, room_id, "still three")
    session = (await raw_event(a, room_id, first))["content"]["session_id"]
    assert (await raw_event(a, room_id, second))["content"]["session_id"] == session

    await c.leave(room_id)
    await a.sync_once()
    third = await send(a, room_id, "without carol")
    assert (await raw_event(a, room_id, third))["content"]["session_id"] != session
    await b.sync_once()
    assert (await stored(b, third))["content"]["body"] == "without carol"


async def test_room_key_rotates_when_a_device_is_removed(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,
) -> None:
    bob = make_user("bob")
    a = await login(make_user("alice"))
    b = await login(bob)
    b2: Account = await other_device(bob)
    await b2.sync_once()
    room_id = await encrypted_room(a, b)
    await b2.sync_once()
    first = await send(a, room_id, "to both of bob's devices")
    await b2.sync_once()
    assert (await stored(b2, first))["content"]["body"] == "to both of bob's devices"
    session = (await raw_event(a, room_id, first))["content"]["session_id"]

    await b2.client.api.request(Method.POST, ApiPath.v3.logout)
    await a.sync_once()
    second = await send(a, room_id, "only the device left")
    assert (await raw_event(a, room_id, second))["content"]["session_id"] != session
    await b.sync_once()
    assert (await stored(b, second))["content"]["body"] == "only the device left"


async def test_devices_list_rename_delete(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,
) -> None:
    from test_commands import ScriptContext

    from tuimatrix.commands import Param
    from tuimatrix.commands.runner import run_line
    from tuimatrix.core.errors import UserError

    class Answering(ScriptContext):
        """Answers the password prompt from a list (what a user would type)."""

        answers: list[str] = []

        async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
            assert param.kind == "secret", title
            return self.answers.pop(0)

    bob = make_user("bob")
    b = await login(bob)
    b2: Account = await other_device(bob)
    await b.sync_once()
    await b2.sync_once()
    ctx = Answering(b)
    listed = (await run_line(ctx, "devices")).data
    by_id = {d["device_id"]: d for d in listed}
    # (Registering made a device too, without keys: listed, and said to have none.)
    assert {b.session.device_id, b2.session.device_id} <= set(by_id)
    assert listed[0]["device_id"] == b.session.device_id
    assert by_id[b.session.device_id]["current"] is True
    assert by_id[b2.session.device_id]["trust"] == "unverified"

    await run_line(ctx, f"rename-device {b2.session.device_id} old laptop")
    listed = (await run_line(ctx, "devices")).data
    assert {d["device_id"]: d["display_name"] for d in listed}[b2.session.device_id] == "old laptop"

    with pytest.raises(UserError, match="this device"):
        await run_line(ctx, f"delete-device {b.session.device_id} --yes")
    ctx.answers = ["wrong password"]
    with pytest.raises(UserError, match="wrong password: no device was deleted"):
        await run_line(ctx, f"delete-device {b2.session.device_id} --yes")
    assert len((await run_line(ctx, "devices")).data) == len(listed)
    ctx.answers = [bob.password]
    await run_line(ctx, f"delete-device {b2.session.device_id} --yes")
    left = {d["device_id"] for d in (await run_line(ctx, "devices")).data}
    assert left == set(by_id) - {b2.session.device_id}


def test_placeholders_and_warnings_of_encrypted_events() -> None:
    from tuimatrix.core.timeline import e2ee_warning

    names = {"@a:x": "alice\x1b[31m"}
    waiting = {
        "event_id": "$1",
        "sender": "@a:x",
        "type": "m.room.encrypted",
        "origin_server_ts": 1,
        "content": {"ciphertext": "…", "session_id": "s", "device_id": "DEV\x07"},
        "tm_e2ee": {"missing_key": True},
    }
    item = event_item(waiting, names)
    assert item is not None
    # Names and device ids come from the network: cleaned before they are shown.
    assert item.body.plain == "🔒 waiting for the key from alice's device DEV…"
    withheld = {**waiting, "tm_e2ee": {"error": "the sender's device withheld the key (m.x)"}}
    item = event_item(withheld, names)
    assert item is not None and item.body.plain.startswith("🔒 the sender's device withheld")
    redacted = {**waiting, "content": {}, "unsigned": {"redacted_because": {}}}
    item = event_item(redacted, names)
    assert item is not None and item.redacted and item.body.plain == "[deleted]"

    message = {
        "event_id": "$2",
        "sender": "@a:x",
        "type": "m.room.message",
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "hi"},
    }
    assert e2ee_warning(message) == ""
    for trust, warning in (
        ("unverified", "unverified device"),
        ("forwarded", "authenticity not guaranteed"),
        ("cross-signed-untrusted", "sender's identity changed"),
        ("unknown", "authenticity not guaranteed"),
        ("verified", ""),
        ("cross-signed-tofu", ""),
    ):
        item = event_item({**message, "tm_e2ee": {"trust": trust}}, names)
        assert item is not None
        assert item.e2ee_warning == warning


async def test_member_list_shows_device_trust(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    from test_commands import ScriptContext

    from tuimatrix.commands.runner import run_line

    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    result = await run_line(ScriptContext(a).at(a, room_id), "list-members")
    by_user = {m["user_id"]: m for m in result.data}
    # Our own device is verified by definition; Bob's one device is not (yet).
    assert by_user[a.user_id]["devices"] == {"verified": 1, "total": 1}
    assert by_user[b.user_id]["devices"] == {"verified": 0, "total": 1}
    assert "0 of 1 devices verified" in result.message

    plain = await a.create_room("Plain")
    result = await run_line(ScriptContext(a).at(a, plain), "list-members")
    assert "devices" not in result.data[0] and "verified" not in result.message


async def test_a_verified_device_stays_verified_when_its_keys_are_fetched_again(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    from mautrix.types import TrustState

    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    await encrypted_room(a, b)
    assert a.crypto is not None
    store, machine = a.crypto.crypto_store, a.crypto.machine
    bob = UserID(b.user_id)
    await machine._fetch_keys([bob], include_untracked=True)
    devices = await store.get_devices(bob)
    assert devices is not None
    device = devices[DeviceID(b.session.device_id)]
    device.trust = TrustState.VERIFIED  # as a finished verification leaves it
    await store.put_devices(bob, devices)

    # Bob's device list changes (a new device): the keys are fetched again.
    await machine._fetch_keys([bob], include_untracked=True)
    again = await store.get_devices(bob)
    assert again is not None and again[DeviceID(b.session.device_id)].trust == TrustState.VERIFIED


async def test_a_new_device_gets_missing_keys_from_a_verified_own_device(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,
) -> None:
    import asyncio

    from mautrix.types import TrustState

    bob = make_user("bob")
    a = await login(make_user("alice"))
    b = await login(bob)
    room_id = await encrypted_room(a, b)
    old = await send(a, room_id, "before the new device")
    await b.sync_once()

    b2: Account = await other_device(bob)
    assert b.crypto is not None and b2.crypto is not None
    await b2.crypto.load()  # uploads the new device's keys
    # Bob's two devices trust each other, as after a verification (before b2 syncs).
    for mine, other in ((b, b2), (b2, b)):
        assert mine.crypto is not None
        own = UserID(bob.user_id)
        devices = (await mine.crypto.machine._fetch_keys([own], include_untracked=True))[own]
        devices[DeviceID(other.session.device_id)].trust = TrustState.VERIFIED
        await mine.crypto.crypto_store.put_devices(own, devices)
    await b2.sync_once()

    evt = await b2.store.event(old)
    if evt is None:
        await b2.load_older(room_id)
        evt = await stored(b2, old)
    assert evt["type"] == "m.room.encrypted"  # the new device was not given this key
    # It asked Bob's other devices for it; the first one answers, and the message decrypts.
    async with asyncio.timeout(30):
        while (await stored(b2, old))["type"] != "m.room.message":
            await asyncio.sleep(0.2)
            await b.sync_once(timeout_ms=500)
            await b2.sync_once(timeout_ms=500)
    assert (await stored(b2, old))["content"]["body"] == "before the new device"


@pytest.mark.parametrize("visibility", ["shared", "joined"])
async def test_invitees_get_the_key_only_where_history_is_shared(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    visibility: str,
) -> None:
    a = await login(make_user("alice"))
    c = await login(make_user("carol"))
    room_id = await encrypted_room(a)
    await a.client.send_state_event(
        RoomID(room_id),
        EventType.ROOM_HISTORY_VISIBILITY,
        cast(Any, {"history_visibility": visibility}),
    )
    await c.sync_once()
    await a.invite(room_id, c.user_id)
    await a.sync_once()
    while_invited = await send(a, room_id, "while carol is invited")
    await c.sync_once()
    await c.join(room_id)
    await a.sync_once()
    after = await send(a, room_id, "after carol joined")
    await c.sync_once()
    assert (await stored(c, after))["content"]["body"] == "after carol joined"
    evt = await c.store.event(while_invited)
    if evt is None:
        await c.load_older(room_id)
        evt = await c.store.event(while_invited)
    if visibility == "shared":
        assert evt is not None and evt["content"]["body"] == "while carol is invited"
    else:
        # Not given the key (and, history being hidden, maybe not even the event).
        assert evt is None or evt["type"] == "m.room.encrypted"


async def test_keys_come_once_our_devices_have_verified_each_other(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,
) -> None:
    """A new device asks our first device for old keys; that one refuses while it does not
    trust the new one (m.unverified). After they verify each other, the new device asks again
    by itself, and the old messages decrypt."""
    import asyncio

    from tuimatrix.core.e2ee.verification_trust import trust_verified

    bob = make_user("bob")
    a = await login(make_user("alice"))
    b = await login(bob)
    room_id = await encrypted_room(a, b)
    old = await send(a, room_id, "before the new device")
    await b.sync_once()

    b2: Account = await other_device(bob)
    assert b.crypto is not None and b2.crypto is not None
    await b2.sync_once()
    if await b2.store.event(old) is None:
        await b2.load_older(room_id)

    async def answered() -> bool:
        """The request goes out in the background; the first device refuses (it does not
        trust the new one yet), and the new one hears so."""
        await b.sync_once(timeout_ms=300)
        await b2.sync_once(timeout_ms=300)
        item = event_item(await stored(b2, old), {a.user_id: "alice"})
        return item is not None and "waiting for the key" not in item.body.plain

    await eventually(answered)
    refused = event_item(await stored(b2, old), {a.user_id: "alice"})
    assert refused is not None
    assert refused.body.plain == (
        "🔒 your other devices share keys only with verified devices: verify this one"
    )

    # The two devices verify each other (what a finished SAS leaves behind).
    own = UserID(bob.user_id)
    first = (await b2.crypto.machine._fetch_keys([own], include_untracked=True))[own]
    second = (await b.crypto.machine._fetch_keys([own], include_untracked=True))[own]
    await trust_verified(b, b.crypto, second[DeviceID(b2.session.device_id)], None)
    await trust_verified(b2, b2.crypto, first[DeviceID(b.session.device_id)], None)
    async with asyncio.timeout(30):
        while (await stored(b2, old))["type"] != "m.room.message":
            await asyncio.sleep(0.3)
            await b.sync_once(timeout_ms=300)
            await b2.sync_once(timeout_ms=300)
    assert (await stored(b2, old))["content"]["body"] == "before the new device"


async def test_forwarded_keys_are_taken_only_when_asked_from_a_trusted_own_device(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    """Someone else (or one of our devices that we do not trust) forwarding a room key we
    did not ask for could plant messages that decrypt as if genuine: such keys are dropped."""
    from mautrix.types import (
        DecryptedOlmEvent,
        ForwardedRoomKeyEventContent,
        IdentityKey,
        OlmEventKeys,
        SessionID,
        SigningKey,
    )
    from olm.group_session import OutboundGroupSession

    a = await login(make_user("alice"))
    m = await login(make_user("mallory"))
    room_id = await encrypted_room(a, m)
    assert a.crypto is not None
    machine = a.crypto.machine
    planted = OutboundGroupSession()
    content = ForwardedRoomKeyEventContent(
        algorithm=EncryptionAlgorithm.MEGOLM_V1,
        room_id=RoomID(room_id),
        session_id=SessionID(planted.id),
        session_key=planted.session_key,
        sender_key=IdentityKey("mallorys-curve-key"),
        signing_key=SigningKey("mallorys-signing-key"),
        forwarding_key_chain=[],
    )

    def forwarded(sender: str) -> DecryptedOlmEvent:
        return DecryptedOlmEvent(
            type=EventType.FORWARDED_ROOM_KEY,
            content=content,
            sender=UserID(sender),
            keys=OlmEventKeys(ed25519=SigningKey("x")),
            recipient=UserID(a.user_id),
            recipient_keys=OlmEventKeys(ed25519=SigningKey("y")),
            sender_key=IdentityKey("mallorys-device-key"),
        )

    for sender in (m.user_id, a.user_id):  # unasked, from anyone: even "ourselves"
        await machine._receive_forwarded_room_key(forwarded(sender))
        assert not await machine.crypto_store.has_group_session(
            RoomID(room_id), SessionID(planted.id)
        )
