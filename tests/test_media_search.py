"""Media, links, spoilers and search in a room, end to end against Synapse, from the keys."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from conftest import MakeUser
from helpers import TestUser, until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_cli_exec import texec
from test_keymap import write_config
from test_room_actions import open_room
from textual.pilot import Pilot
from textual.strip import Strip

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.media import media_of, save
from tuimatrix.core.room_timeline import PAGE
from tuimatrix.core.search import parse_query, search_server
from tuimatrix.paths import get_paths
from tuimatrix.screens.image import ImageScreen
from tuimatrix.screens.links import LinkPickerScreen
from tuimatrix.screens.message_context import MessageContextScreen
from tuimatrix.screens.prompts import ConfirmScreen, TextPromptScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.search import SearchResultsScreen
from tuimatrix.widgets.timeline import TimelineView

HOSTILE_NAME = "../../etc/passwd\x1b[31m\u202egnp.exe"
SAFE_NAME = "passwdgnp.exe"

Peer = Callable[[TestUser], Any]


async def shared_room(make_user: MakeUser, peer: Peer, name: str) -> tuple[Account, str]:
    """A room of a peer (Bob) that a fresh user (whose session is saved) has joined."""
    alice, bob = make_user("alice"), make_user("bob")
    b: Account = await peer(bob)
    room_id = await b.create_room(name, invite=[alice.user_id])
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    await me.join(room_id)
    await me.close()
    return b, room_id


async def send(account: Account, room_id: str, content: dict[str, Any]) -> str:
    echo = await account.send_event(room_id, "m.room.message", content)
    done = await account.send_queue.wait(echo.txn_id)
    assert done.event_id
    return done.event_id


def opener_script(tmp_path: Path) -> Path:
    """An "opener" that writes its arguments to a file, one per line."""
    log = tmp_path / "opened.txt"
    script = tmp_path / "opener.sh"
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a" >> {log}; done\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


async def select(pilot: Pilot[None], screen: RoomScreen, event_id: str) -> TimelineView:
    timeline = screen.query_one(TimelineView)
    await until(pilot, lambda: any(i.key == event_id for i in timeline.items))
    timeline.focus()
    timeline.select(event_id)
    await pilot.pause()
    return timeline


async def test_download_uses_a_safe_new_name_and_opens_it(
    make_user: MakeUser, peer: Peer, tmp_path: Path
) -> None:
    b, room_id = await shared_room(make_user, peer, "Files")
    data = b"root:x:0:0\n"
    mxc = await b.upload(data, "text/plain", "x")
    event_id = await send(
        b,
        room_id,
        {"msgtype": "m.file", "body": HOSTILE_NAME, "url": mxc, "info": {"size": len(data)}},
    )
    log = opener_script(tmp_path)
    write_config(f'[media]\nopener = "{tmp_path / "opener.sh"}"\n')
    downloads = get_paths().downloads_dir
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = await select(pilot, screen, event_id)
        shown = next(i for i in timeline.items if i.key == event_id).body.plain
        assert shown == "[file] ../../etc/passwdgnp.exe (11 B)"  # no escape, no override

        await pilot.press("s")
        await until(pilot, lambda: app.status_message.startswith("saved"))
        assert (downloads / SAFE_NAME).read_bytes() == data
        app.status_message = ""
        await pilot.press("s")
        await until(pilot, lambda: app.status_message.startswith("saved"))
        second = downloads / "passwdgnp (1).exe"
        assert second.read_bytes() == data and (downloads / SAFE_NAME).read_bytes() == data
        assert {p.name for p in downloads.iterdir()} == {SAFE_NAME, second.name}
        assert not (get_paths().data_dir.parent / "etc").exists()

        # An .exe (of no declared type) can run: opening asks first, naming type and sender.
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert isinstance(app.screen, ConfirmScreen)
        assert ".exe, no type given) from " + b.user_id in app.screen.question
        await pilot.press("n")
        await until(pilot, lambda: app.status_message == "not opened")
        assert not log.exists()
        # Opening reuses the file this session saved last and hands its path to the opener.
        timeline.focus()  # the room screen focuses its composer when the question closes
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: log.exists() and log.read_text() != "")
        assert log.read_text().splitlines() == [str(second)]
        assert len(list(downloads.iterdir())) == 2


async def test_encrypted_attachment_is_decrypted_on_download(
    make_user: MakeUser, peer: Peer, tmp_path: Path
) -> None:
    from mautrix.crypto.attachments import encrypt_attachment

    b, room_id = await shared_room(make_user, peer, "Sealed")
    ciphertext, file = encrypt_attachment(b"\x89PNG not really")
    mxc = await b.upload(ciphertext, "application/octet-stream", "")
    content = {
        "msgtype": "m.file",
        "body": "sealed.bin",
        "file": {**file.serialize(), "url": mxc},
    }
    await send(b, room_id, content)
    media = media_of(content)
    assert media is not None and media.encrypted
    path = await save(b, media, tmp_path / "dl")
    assert path.name == "sealed.bin" and path.read_bytes() == b"\x89PNG not really"


async def test_open_link_shows_the_safe_url_then_opens_it(
    make_user: MakeUser, peer: Peer, tmp_path: Path
) -> None:
    b, room_id = await shared_room(make_user, peer, "Links")
    event_id = await send(
        b,
        room_id,
        {
            "msgtype": "m.text",
            "body": "docs at https://example.org/docs and javascript:alert(1)",
            "format": "org.matrix.custom.html",
            "formatted_body": '<a href="javascript:alert(1)">x</a> '
            '<a href="https://exаmple.org/login">example.org</a> https://example.org/docs',
        },
    )
    log = opener_script(tmp_path)
    write_config(f'[media]\nopener = "{tmp_path / "opener.sh"}"\n')
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        await select(pilot, screen, event_id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LinkPickerScreen))
        picker = app.screen
        assert isinstance(picker, LinkPickerScreen)
        # The look-alike host shows its true (non-Latin) letters; javascript: is not offered.
        assert picker.links == ["https://ex%D0%B0mple.org/login", "https://example.org/docs"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: log.exists() and log.read_text() != "")
        assert log.read_text().splitlines() == ["https://example.org/docs"]


async def test_spoiler_hidden_until_revealed(make_user: MakeUser, peer: Peer) -> None:
    b, room_id = await shared_room(make_user, peer, "Spoilers")
    event_id = await send(
        b,
        room_id,
        {
            "msgtype": "m.text",
            "body": "the butler did it",
            "format": "org.matrix.custom.html",
            "formatted_body": "the <span data-mx-spoiler>butler</span> did it",
        },
    )
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = await select(pilot, screen, event_id)

        def body() -> str:
            return next(i for i in timeline.items if i.key == event_id).body.plain

        assert body() == "the ██████ did it"
        await pilot.press("u")
        await until(pilot, lambda: body() == "the butler did it")

        # A reaction rebuilds the room's items: the spoiler stays revealed.
        def reactions() -> tuple[tuple[str, int, bool], ...]:
            return next(i for i in timeline.items if i.key == event_id).reactions

        await b.send_queue.wait((await b.react(room_id, event_id, "😮")).txn_id)
        await until(pilot, lambda: reactions() == (("😮", 1, False),))
        assert body() == "the butler did it"

        await pilot.press("u")
        await until(pilot, lambda: body() == "the ██████ did it")
        await b.send_queue.wait((await b.react(room_id, event_id, "👍")).txn_id)
        await until(pilot, lambda: len(reactions()) == 2)
        assert body() == "the ██████ did it"


async def test_local_search_by_text_and_sender_jumps_to_the_message(
    make_user: MakeUser, peer: Peer
) -> None:
    b, room_id = await shared_room(make_user, peer, "Chatter")
    first = await send(b, room_id, {"msgtype": "m.text", "body": "Lunch at noon?"})
    await send(b, room_id, {"msgtype": "m.text", "body": "something else"})
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        account = next(iter(app.accounts))
        await send(account, room_id, {"msgtype": "m.text", "body": "lunch \x1b[2Jsounds good"})
        timeline = screen.query_one(TimelineView)
        await until(pilot, lambda: len([i for i in timeline.items if not i.is_notice]) == 3)

        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"lunch", "enter")
        await until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        results = app.screen
        assert isinstance(results, SearchResultsScreen)
        assert [r.snippet.plain for r in results.results] == [
            "lunch sounds good",  # newest first; the escape sequence is gone
            "Lunch at noon?",
        ]
        await pilot.press("escape")

        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*f"lunch from:{b.user_id.split(':')[0][1:]}", "enter")
        await until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        results = app.screen
        assert isinstance(results, SearchResultsScreen)
        assert [r.event_id for r in results.results] == [first]
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: timeline.selected_item is not None)
        assert timeline.selected_item is not None and timeline.selected_item.key == first


async def test_server_search_finds_a_message_and_says_so_for_encrypted_rooms(
    make_user: MakeUser, peer: Peer
) -> None:
    b, room_id = await shared_room(make_user, peer, "Indexed")
    found = await send(b, room_id, {"msgtype": "m.text", "body": "the quokka smiles"})
    await send(b, room_id, {"msgtype": "m.text", "body": "nothing to see"})
    results = await search_server(b, parse_query("quokka"), [room_id])
    assert [r.event_id for r in results] == [found]
    alice_id = next(iter((await b.joined_members(room_id)).keys() - {b.user_id}))
    secret_room = await b.create_room("Secret", encrypted=True, invite=[alice_id])

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        await pilot.press("alt+f")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"quokka", "enter")
        await until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        shown = app.screen
        assert isinstance(shown, SearchResultsScreen)
        assert [r.event_id for r in shown.results] == [found]
        assert "(server)" in shown.title_text
        await pilot.press("enter")
        timeline = screen.query_one(TimelineView)
        await until(pilot, lambda: timeline.selected_item is not None)
        assert timeline.selected_item is not None and timeline.selected_item.key == found

        # An encrypted room: the server cannot search it, and the results say so.
        account = next(iter(app.accounts))
        await account.join(secret_room)
        await open_room(pilot, app, secret_room)
        await pilot.press("alt+f")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"quokka", "enter")
        await until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        shown = app.screen
        assert isinstance(shown, SearchResultsScreen)
        assert shown.results == [] and "end-to-end encrypted" in shown.note


async def test_a_found_message_that_is_not_loaded_shows_with_its_context(
    make_user: MakeUser, peer: Peer
) -> None:
    b, room_id = await shared_room(make_user, peer, "Long story")
    before = await send(b, room_id, {"msgtype": "m.text", "body": "just before"})
    found = await send(
        b,
        room_id,
        {
            "msgtype": "m.text",
            "body": "the walrus sings",
            "format": "org.matrix.custom.html",
            "formatted_body": "the <b>walrus</b> \x1b]0;PWNED\x07[b]sings[/b]",
        },
    )
    after = await send(b, room_id, {"msgtype": "m.text", "body": "just after"})
    for n in range(PAGE):  # the found message is older than the page the room opens with
        await send(b, room_id, {"msgtype": "m.text", "body": f"filler {n}"})

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = screen.query_one(TimelineView)
        await until(
            pilot, lambda: any(i.body.plain == f"filler {PAGE - 1}" for i in timeline.items)
        )
        assert all(i.key != found for i in timeline.items)

        await pilot.press("alt+f")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"walrus", "enter")
        await until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MessageContextScreen))
        shown = app.screen
        assert isinstance(shown, MessageContextScreen)
        await until(pilot, lambda: shown.timeline.selected_item is not None)
        selected = shown.timeline.selected_item
        assert selected is not None and selected.key == found
        assert selected.body.plain == "the walrus [b]sings[/b]"  # sanitised, markup literal
        keys = [i.key for i in shown.timeline.items]
        assert keys.index(before) < keys.index(found) < keys.index(after)
        await until(pilot, lambda: "not in the loaded timeline" in app.status_message)
        rows = [shown.timeline.render_line(y).text for y in range(shown.timeline.size.height)]
        assert any("the walrus [b]sings[/b]" in row for row in rows)
        assert not any("\x1b" in row or "PWNED" in row for row in rows)
        # Read-only, over the room: escape goes back to it, its timeline unchanged.
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert all(i.key != found for i in timeline.items)


async def test_images_show_inline_and_in_the_viewer(make_user: MakeUser, peer: Peer) -> None:
    import io

    from PIL import Image

    b, room_id = await shared_room(make_user, peer, "Pictures")
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buf, "PNG")
    mxc = await b.upload(buf.getvalue(), "image/png", "sun.png")
    event_id = await send(
        b,
        room_id,
        {
            "msgtype": "m.image",
            "body": "sun.png",
            "url": mxc,
            "info": {"size": len(buf.getvalue()), "mimetype": "image/png", "w": 64, "h": 48},
        },
    )
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = await select(pilot, screen, event_id)

        # Inline: half blocks in the image's colours, in as many rows as measured (8 for
        # 64×48 pixels in a box of at most 32×8 cells).
        def rows() -> list[Strip]:
            item = next(i for i in timeline.items if i.key == event_id)
            drawn = timeline.render_item(item, date=False, header=False, width=80)
            assert len(drawn) == timeline.item_height(item, date=False, header=False, width=80)
            return drawn

        def orange_cells() -> int:
            return sum(
                1
                for row in rows()
                for seg in row
                if seg.text == "▀"
                and seg.style is not None
                and seg.style.color is not None
                and seg.style.color.get_truecolor() == (255, 165, 0)
            )

        await until(pilot, lambda: orange_cells() > 0)
        assert orange_cells() == 21 * 8 and len(rows()) == 1 + 8  # the file line, the image

        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ImageScreen))
        viewer = app.screen
        assert isinstance(viewer, ImageScreen)
        assert viewer.image.size[0] > 0 and viewer.image_name == "sun.png"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


async def test_media_and_search_commands_from_exec(
    make_user: MakeUser, peer: Peer, tmp_path: Path, monkeypatch: Any
) -> None:
    b, room_id = await shared_room(make_user, peer, "Exec")
    mxc = await b.upload(b"abc", "text/plain", "x")
    file_event = await send(
        b, room_id, {"msgtype": "m.file", "body": ".hidden/../x.txt", "url": mxc}
    )
    link_event = await send(
        b,
        room_id,
        {"msgtype": "m.text", "body": "a wombat at https://example.org/w and mailto:w@x.y"},
    )
    log = opener_script(tmp_path)
    monkeypatch.setenv("TUIMATRIX_OPENER", str(tmp_path / "opener.sh"))

    saved = await texec("--json", f"download {file_event} --room {room_id} --dir {tmp_path}/dl")
    assert saved.returncode == 0, saved.stderr
    assert orjson.loads(saved.stdout)["path"] == str(tmp_path / "dl" / "x.txt")
    assert (tmp_path / "dl" / "x.txt").read_bytes() == b"abc"

    found = await texec("--json", f"search wombat --server --room {room_id}")
    assert found.returncode == 0, found.stderr
    # A listing: one JSON object a line.
    assert [orjson.loads(line)["event_id"] for line in found.stdout.splitlines()] == [link_event]

    several = await texec(f"open-link {link_event} --room {room_id}")
    assert several.returncode == 2 and "give --index" in several.stderr
    opened = await texec(f"open-link {link_event} --index 2 --room {room_id}")
    assert opened.returncode == 0, opened.stderr
    assert log.read_text().splitlines() == ["mailto:w@x.y"]
