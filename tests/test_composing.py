"""Writing from the room screen reaches the server with the right content (Pilot + Synapse):
markdown, pills and m.mentions, emotes, / commands, replies, the emoji picker, files, and
failed messages retried or discarded."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MakeUser
from helpers import TestUser, until
from test_app import SIZE, peer
from test_room_actions import open_room, server_events
from textual.pilot import Pilot

from tuimatrix.app import TuimatrixApp
from tuimatrix.commands.messages import attachment_content
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.timeline import FAILED
from tuimatrix.paths import get_paths
from tuimatrix.screens.emoji_picker import EmojiPickerScreen
from tuimatrix.screens.path_prompt import PathPromptScreen
from tuimatrix.screens.prompts import TextPromptScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.timeline import TimelineView

__all__ = ["peer"]  # the fixture, imported for its side effect on this module's tests

Peer = Callable[[TestUser], "asyncio.Future[Account]"]


async def alice_and_bob(
    make_user: MakeUser, peer: Peer, *, bob_creates: bool = False
) -> tuple[str, str, Account]:
    """A room of Alice (whose session the app resumes) and Bob ("Bobby"), who says hello."""
    alice = make_user("alice", displayname="Alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    bob = await peer(make_user("bob", displayname="Bobby"))
    if bob_creates:
        room_id = await bob.create_room("Writing", invite=[alice.user_id])
        await me.join(room_id)
    else:
        room_id = await me.create_room("Writing", invite=[bob.user_id])
        await bob.join(room_id)
    await bob.send_queue.wait((await bob.send_text(room_id, "hello alice")).txn_id)
    await me.close()
    return room_id, alice.user_id, bob


async def on_server(
    pilot: Pilot[None], account: Account, room_id: str, predicate: Callable[[Any], bool]
) -> dict[str, Any]:
    """The first event the server has in the room that matches, waiting for it to arrive."""
    async with asyncio.timeout(30):
        while True:
            for event in await server_events(account, room_id):
                if predicate(event):
                    return event
            await pilot.pause(0.1)


def sent_by(user_id: str, body: str) -> Callable[[Any], bool]:
    return lambda e: e["sender"] == user_id and e["content"].get("body") == body


async def test_composer_sends_markdown_pills_emotes_and_refuses_unknown_commands(
    make_user: MakeUser, peer: Peer
) -> None:
    room_id, alice_id, bob = await alice_and_bob(make_user, peer)
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        await until(pilot, lambda: bob.user_id in screen.timeline_model.names)
        composer = screen.query_one(Composer)
        composer.focus()
        await pilot.press(*"**hi** @bob", "tab", *"see ~~this~~", "enter")
        event = await on_server(pilot, bob, room_id, sent_by(alice_id, "**hi** Bobby see ~~this~~"))
        assert event["content"]["format"] == "org.matrix.custom.html"
        assert event["content"]["formatted_body"] == (
            f'<p><strong>hi</strong> <a href="https://matrix.to/#/{bob.user_id}">Bobby</a> '
            "see <del>this</del></p>"
        )
        assert event["content"]["m.mentions"] == {"user_ids": [bob.user_id]}

        await pilot.press(*"/me waves", "enter")
        emote = await on_server(pilot, bob, room_id, sent_by(alice_id, "waves"))
        assert emote["content"]["msgtype"] == "m.emote"
        assert "formatted_body" not in emote["content"]

        # An unknown command is refused with one line, and kept to be fixed.
        await pilot.press(*"/nope x", "enter")
        await until(pilot, lambda: "unknown command /nope" in app.status_message)
        assert composer.text == "/nope x"
        composer.load_text("")
        # Raw HTML is text, and text with nothing to format has no formatted_body.
        await pilot.press(*"<b>raw</b> @room", "enter")
        plain = await on_server(pilot, bob, room_id, sent_by(alice_id, "<b>raw</b> @room"))
        assert "formatted_body" not in plain["content"]
        assert plain["content"]["m.mentions"] == {"user_ids": [], "room": True}
        bodies = [e["content"].get("body", "") for e in await server_events(bob, room_id)]
        assert not any(b.startswith("/nope") for b in bodies)
        assert isinstance(app.screen, RoomScreen)


async def test_reply_react_from_the_picker_and_send_files(
    make_user: MakeUser, peer: Peer, tmp_path: Path
) -> None:
    from PIL import Image

    Image.new("RGB", (3, 2), "red").save(tmp_path / "cat.png")
    (tmp_path / "notes.txt").write_text("some notes")
    room_id, alice_id, bob = await alice_and_bob(make_user, peer)
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = screen.query_one(TimelineView)
        await until(pilot, lambda: any(i.body.plain == "hello alice" for i in timeline.items))
        hello = next(i for i in timeline.items if i.body.plain == "hello alice")

        # A reply: markdown, the replied-to sender mentioned, no fallback.
        timeline.focus()
        timeline.select(hello.key)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"*sure*", "enter")
        reply = await on_server(pilot, bob, room_id, sent_by(alice_id, "*sure*"))
        content = reply["content"]
        assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": hello.key}}
        assert content["m.mentions"] == {"user_ids": [bob.user_id]}
        assert content["formatted_body"] == "<p><em>sure</em></p>"  # no <mx-reply> fallback

        # An edit starts from the markdown as written, and is markdown too.
        await until(pilot, lambda: any(i.key == reply["event_id"] for i in timeline.items))
        timeline.focus()
        timeline.select(reply["event_id"])
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        prompt = app.screen
        assert isinstance(prompt, TextPromptScreen) and prompt.initial == "*sure*"
        await pilot.press("end", *" **really**", "enter")
        edit = await on_server(pilot, bob, room_id, sent_by(alice_id, "* *sure* **really**"))
        assert edit["content"]["m.new_content"] == {
            "msgtype": "m.text",
            "body": "*sure* **really**",
            "format": "org.matrix.custom.html",
            "formatted_body": "<p><em>sure</em> <strong>really</strong></p>",
            "m.mentions": {"user_ids": [bob.user_id]},  # still a reply to Bob
        }
        assert edit["content"]["m.mentions"] == {"user_ids": []}  # Bob is not pinged again

        # Edited again, it starts from the newest edit's markdown, not from the text shown.
        await until(
            pilot,
            lambda: any(i.key == reply["event_id"] and i.edited for i in timeline.items),
        )
        timeline.focus()
        timeline.select(reply["event_id"])
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        prompt = app.screen
        assert isinstance(prompt, TextPromptScreen) and prompt.initial == "*sure* **really**"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TextPromptScreen))

        # A reaction picked by name.
        timeline.focus()
        timeline.select(hello.key)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, EmojiPickerScreen))
        await pilot.press(*"party popper", "enter")
        reaction = await on_server(
            pilot, bob, room_id, lambda e: e["type"] == "m.reaction" and e["sender"] == alice_id
        )
        assert reaction["content"]["m.relates_to"] == {
            "rel_type": "m.annotation",
            "event_id": hello.key,
            "key": "🎉",
        }

        # An image, its path completed with tab; then a plain file.
        screen.query_one(Composer).focus()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, PathPromptScreen))
        prompt = app.screen
        assert isinstance(prompt, PathPromptScreen)
        await pilot.press(*f"{tmp_path}/ca")
        await until(pilot, lambda: prompt.completions == [f"{tmp_path}/cat.png"])
        await pilot.press("tab")
        await until(pilot, lambda: prompt.query_one("Input").value == f"{tmp_path}/cat.png")  # type: ignore[attr-defined]
        await pilot.press("enter")
        image = await on_server(pilot, bob, room_id, sent_by(alice_id, "cat.png"))
        assert image["content"]["msgtype"] == "m.image"
        assert image["content"]["url"].startswith("mxc://")
        size = (tmp_path / "cat.png").stat().st_size
        assert image["content"]["info"] == {"w": 3, "h": 2, "size": size, "mimetype": "image/png"}

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, PathPromptScreen))
        await pilot.press(*f"{tmp_path}/notes.txt", "enter")
        file = await on_server(pilot, bob, room_id, sent_by(alice_id, "notes.txt"))
        assert file["content"]["msgtype"] == "m.file"
        assert file["content"]["info"] == {"size": 10, "mimetype": "text/plain"}


async def test_failed_message_is_marked_then_retried_or_discarded(
    make_user: MakeUser, peer: Peer
) -> None:
    room_id, alice_id, bob = await alice_and_bob(make_user, peer, bob_creates=True)
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        timeline = screen.query_one(TimelineView)
        composer = screen.query_one(Composer)

        async def fail(text: str) -> str:
            """Send ``text`` while kicked out: it fails, and stays shown as failed."""
            await bob.kick(room_id, alice_id)
            composer.focus()
            await pilot.press(*text, "enter")
            await until(
                pilot,
                lambda: any(i.body.plain == text and i.state == FAILED for i in timeline.items),
            )
            item = next(i for i in timeline.items if i.body.plain == text)
            assert item.txn_id is not None
            rows = [timeline.render_line(y).text for y in range(timeline.size.height)]
            assert any(text in row and "not sent: M_FORBIDDEN" in row for row in rows)
            await bob.invite(room_id, alice_id)
            await account.join(room_id)
            return item.key

        lost = await fail("lost one")
        timeline.focus()
        timeline.select(lost)
        await pilot.press("R")
        await on_server(pilot, bob, room_id, sent_by(alice_id, "lost one"))
        await until(
            pilot, lambda: any(i.body.plain == "lost one" and not i.state for i in timeline.items)
        )

        dropped = await fail("drop me")
        timeline.focus()
        timeline.select(dropped)
        await pilot.press("x")
        await until(pilot, lambda: all(i.key != dropped for i in timeline.items))
        assert await account.send_queue.pending(room_id) == []
        assert "discarded" in app.status_message

        # Neither works on a message that did not fail.
        timeline.select(next(i.key for i in timeline.items if i.body.plain == "lost one"))
        await pilot.press("R")
        await until(pilot, lambda: "not a failed message" in app.status_message)


def test_attachments_are_typed_by_their_mimetype() -> None:
    assert attachment_content("/x/song.ogg", b"abc") == {
        "msgtype": "m.audio",
        "body": "song.ogg",
        "filename": "song.ogg",
        "info": {"size": 3, "mimetype": "audio/ogg"},
    }
    assert attachment_content("clip.mp4", b"")["msgtype"] == "m.video"
    assert attachment_content("notes", b"")["info"]["mimetype"] == "application/octet-stream"
    # A picture without its usual name is still recognised by its header.
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (5, 4)).save(buffer, "PNG")
    content = attachment_content("screenshot", buffer.getvalue())
    assert content["msgtype"] == "m.image"
    assert content["info"] == {
        "size": len(buffer.getvalue()),
        "w": 5,
        "h": 4,
        "mimetype": "image/png",
    }


async def test_emoji_picker_takes_the_best_match_or_the_text_as_typed() -> None:
    from textual.app import App

    picked: list[str | None] = []

    class PickerApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(EmojiPickerScreen("React"), picked.append)

    for typed, expected in (("tada", "🎉"), (":+1:", "👍"), ("zzqx", "zzqx"), ("", "👍")):
        async with PickerApp().run_test(size=SIZE) as pilot:
            await pilot.press(*typed, "enter")
            await until(pilot, lambda: len(picked) == 1)
        assert picked.pop() == expected, typed
