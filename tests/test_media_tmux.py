"""Images in a real terminal (tmux): the start-up probe, inline half blocks and the viewer."""

from __future__ import annotations

import asyncio
import io

from conftest import MakeUser
from test_smoke_tmux import prepare
from test_smoke_tmux import tmux as tmux  # the fixture, shared
from tmux import Tmux, binary_env, tuimatrix_command


async def test_image_inline_and_in_the_viewer_in_tmux(make_user: MakeUser, tmux: Tmux) -> None:
    from PIL import Image

    alice, bob = make_user("alice"), make_user("bob")
    b, room_id = await prepare(alice, bob, "Gallery")
    try:
        buf = io.BytesIO()
        Image.new("RGB", (40, 40), "teal").save(buf, "PNG")
        mxc = await b.upload(buf.getvalue(), "image/png", "teal.png")
        content = {
            "msgtype": "m.image",
            "body": "teal.png",
            "url": mxc,
            "info": {"w": 40, "h": 40, "size": len(buf.getvalue()), "mimetype": "image/png"},
        }
        echo = await b.send_event(room_id, "m.room.message", content)
        await b.send_queue.wait(echo.txn_id)
        tmux.start(tuimatrix_command(), binary_env())
        await asyncio.to_thread(tmux.wait_for, "Gallery")
        tmux.keys("Enter")
        await asyncio.to_thread(tmux.wait_for, "teal.png")
        # The thumbnail arrives and is drawn inline: 16 cells wide, 8 rows of half blocks.
        await asyncio.to_thread(tmux.wait_for, "▀" * 16)
        tmux.keys("Tab")
        tmux.keys("Up")
        tmux.keys("i")
        await asyncio.to_thread(tmux.wait_for, "escape closes")
        tmux.keys("Escape")
        tmux.keys("C-q")
        await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    finally:
        await b.close()
