"""What a hostile sender cannot make us do with media: run Ghostscript, fetch without bound,
hand a program to the system opener unasked, leave an image loading for ever, climb paths."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import MakeUser
from helpers import media_server
from rich.style import Style
from rich.text import Text
from test_app import peer as peer  # the fixture, shared
from test_cli_exec import texec
from test_media_search import Peer, opener_script, send, shared_room
from textual.app import App, ComposeResult
from textual.widgets import Static
from textual.worker import WorkerCancelled

from tuimatrix.commands import REGISTRY, Invocation
from tuimatrix.commands import media as media_commands
from tuimatrix.commands.front_end import NoScreens
from tuimatrix.commands.messages import _image_info
from tuimatrix.core.errors import UserError
from tuimatrix.core.media import MediaTooLarge, fetch_mxc, media_of, opens_unasked, parse_mxc
from tuimatrix.core.timeline import TimelineItem
from tuimatrix.paths import get_paths
from tuimatrix.screens import image as image_screen
from tuimatrix.widgets import inline_image

# A load cancelled before it started (on purpose, below) is a coroutine never awaited.
pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine '_load' was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings(
        "ignore:.*coroutine object _load:pytest.PytestUnraisableExceptionWarning"
    ),
]

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\n"
    b"newpath 0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n"
)


def png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(buf, "PNG")
    return buf.getvalue()


#: the account of a load whose fetch is faked (never used)
NO_ACCOUNT: Any = SimpleNamespace()


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Static()


def image_item(url: str, **info: Any) -> TimelineItem:
    content = {"msgtype": "m.image", "body": "x.png", "url": url, "info": info}
    return TimelineItem("$img", "@bob:x", "Bob", 0, Text("x"), media=media_of(content))


# -- 1: only PNG, JPEG, GIF and WebP reach Pillow (EPS would run Ghostscript) ----------------


def test_an_eps_image_is_refused_without_running_ghostscript(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import EpsImagePlugin

    ran: list[object] = []

    def ghostscript(*args: object, **kwargs: object) -> None:
        ran.append(args)
        raise OSError("no Ghostscript in tests")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    with pytest.raises(Exception):  # noqa: B017  (whatever Pillow says: not decoded)
        inline_image._decode(EPS, 4, 2)
    with pytest.raises(UserError, match="not a picture"):
        image_screen._decode(EPS)
    assert _image_info(EPS) is None  # sending a file: no dimensions read from an EPS
    assert ran == []
    # The formats we do read still decode.
    assert inline_image._decode(png(), 4, 2)[0][0] == (255, 165, 0)
    assert _image_info(png()) == (8, 8, "image/png")


# -- 3: inline thumbnails are small, counted as received, never the whole file ---------------


async def test_an_inline_thumbnail_stops_at_the_byte_cap_and_never_downloads_whole() -> None:
    total = 64 * 1024 * 1024
    sent = 0
    paths: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        paths.append(request.path)
        if "/thumbnail/" not in request.path:
            return web.Response(body=png())
        if request.path.endswith("/plain"):  # a type the server does not thumbnail
            return web.json_response({"errcode": "M_UNKNOWN", "error": "no"}, status=400)
        # No Content-Length: only the bytes received can tell.
        resp = web.StreamResponse()
        await resp.prepare(request)
        chunk = b"\0" * (1 << 16)
        with contextlib.suppress(ConnectionError):
            while sent < total:
                await resp.write(chunk)
                sent += len(chunk)
        return resp

    async with media_server(handle) as account:
        item = image_item("mxc://example.org/huge", size=10, w=8, h=8)
        assert not await inline_image.load_thumbnail(account, item)
        assert sent < total  # stopped early, not after 64 MB
        assert inline_image.inline_media(item) is None  # too large: the line without it
        with pytest.raises(MediaTooLarge):
            await fetch_mxc(account, "mxc://example.org/huge", thumbnail=(8, 8), max_bytes=1000)

        paths.clear()
        plain = image_item("mxc://example.org/plain", size=10, w=8, h=8)
        assert not await inline_image.load_thumbnail(account, plain)
        assert all("/thumbnail/" in p for p in paths)  # no fallback to the whole file
        assert inline_image.MAX_PIXELS <= 4_000_000


# -- 11: a load cancelled or failed for now is tried again -----------------------------------


async def test_a_cancelled_inline_load_does_not_stay_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = asyncio.Event()

    async def never(*args: object, **kwargs: object) -> bytes:
        started.set()
        await asyncio.Event().wait()
        return b""

    monkeypatch.setattr(inline_image, "thumbnail", never)
    item = image_item("mxc://example.org/slow", w=8, h=8)
    media = inline_image.inline_media(item)
    assert media is not None
    key = inline_image._key(media)
    app = Host()
    async with app.run_test():
        view: Any = app.query_one(Static)  # what image_strips uses of a timeline
        view.items = [item]
        app.screen.account = NO_ACCOUNT  # type: ignore[attr-defined]

        def draw() -> str:
            strips = inline_image.image_strips(view, item, 0, 40, Style())
            return strips[0].text

        assert draw() == "[loading image…]"
        first = inline_image._pending[key]
        first.cancel()  # before it ran a line of ours: the room closed at once
        draw()
        second = inline_image._pending[key]
        assert second is not first  # drawn again: fetched again
        await started.wait()
        draw()
        assert inline_image._pending[key] is second  # one fetch at a time
        second.cancel()  # while it runs
        with contextlib.suppress(WorkerCancelled):
            await second.wait()
        assert key not in inline_image._pending
        assert inline_image.may_fetch(key)


async def test_a_failed_fetch_is_retried_later_not_remembered_as_unshowable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def unreachable(*args: object, **kwargs: object) -> bytes:
        raise aiohttp.ClientConnectionError("the server is down")

    now = [1000.0]
    monkeypatch.setattr(inline_image, "_clock", lambda: now[0])
    monkeypatch.setattr(inline_image, "thumbnail", unreachable)
    item = image_item("mxc://example.org/flaky", w=8, h=8)
    media = inline_image.inline_media(item)
    assert media is not None
    key = inline_image._key(media)
    assert inline_image.may_fetch(key)
    assert not await inline_image.load_thumbnail(NO_ACCOUNT, item)
    assert inline_image.inline_media(item) is not None  # still shown as an image to load
    assert not inline_image.may_fetch(key)  # not at once: every redraw would fetch
    now[0] += inline_image.RETRY_AFTER
    assert inline_image.may_fetch(key)

    async def fine(*args: object, **kwargs: object) -> bytes:
        return png()

    monkeypatch.setattr(inline_image, "thumbnail", fine)
    assert await inline_image.load_thumbnail(NO_ACCOUNT, item)
    assert key not in inline_image._retry_at


# -- 5: the system opener gets a file that may run only once the user said so ---------------


def test_only_plain_media_of_the_declared_type_opens_unasked() -> None:
    assert opens_unasked("cat.PNG", "image/png")
    assert opens_unasked("song.ogg", "audio/ogg")
    assert opens_unasked("notes.txt", "text/plain; charset=utf-8")
    assert opens_unasked("paper.pdf", "application/pdf")
    for name, mimetype in [
        ("evil.desktop", "application/x-desktop"),
        ("evil.desktop", "image/png"),
        ("cat.png", ""),  # no declared type
        ("cat.png", "application/x-desktop"),  # the type does not agree
        ("page.html", "text/html"),
        ("logo.svg", "image/svg+xml"),
        ("run.jar", "application/java-archive"),
        ("image", "image/png"),
    ]:
        assert not opens_unasked(name, mimetype), name


class RefusingContext:
    """An interactive context whose user answers "no" to every question."""

    interactive = True
    ui = NoScreens()

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def confirm(self, question: str) -> bool:
        self.asked.append(question)
        return False

    async def read_stdin(self) -> str:
        raise AssertionError("no standard input here")


async def test_a_desktop_file_is_not_opened_without_confirmation(
    make_user: MakeUser, peer: Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, room_id = await shared_room(make_user, peer, "Launchers")
    payload = b"[Desktop Entry]\nType=Application\nExec=sh -c 'touch /tmp/pwned'\n"
    mxc = await b.upload(payload, "application/x-desktop", "x")
    desktop = await send(
        b,
        room_id,
        {
            "msgtype": "m.file",
            "body": "holiday.desktop",
            "url": mxc,
            "info": {"mimetype": "image/png", "size": len(payload)},  # a lie about the type
        },
    )
    sun = await b.upload(png(), "image/png", "sun.png")
    picture = await send(
        b,
        room_id,
        {"msgtype": "m.image", "body": "sun.png", "url": sun, "info": {"mimetype": "image/png"}},
    )
    log = opener_script(tmp_path)
    monkeypatch.setenv("TUIMATRIX_OPENER", str(tmp_path / "opener.sh"))
    open_media = REGISTRY["open-media"]
    assert open_media.body is media_commands.open_media

    ctx: Any = RefusingContext()
    inv = Invocation(open_media, {"event": desktop}, account=b, room_id=room_id)
    result = await open_media.body(ctx, inv)
    assert result.message == "not opened"
    assert len(ctx.asked) == 1 and ".desktop" in ctx.asked[0] and b.user_id in ctx.asked[0]
    assert not log.exists()
    assert not get_paths().downloads_dir.exists() or not any(get_paths().downloads_dir.iterdir())

    # A picture of its declared type opens without a question.
    inv = Invocation(open_media, {"event": picture}, account=b, room_id=room_id)
    result = await open_media.body(ctx, inv)
    assert len(ctx.asked) == 1 and result.message.startswith("opened")
    await wait_for_log(log)
    assert [Path(p).name for p in log.read_text().splitlines()] == ["sun.png"]

    # From exec, which cannot ask: only with --yes.
    refused = await texec(f"open-media {desktop} --room {room_id}")
    assert refused.returncode == 2 and "add --yes" in refused.stderr, refused.stderr
    assert len(log.read_text().splitlines()) == 1
    opened = await texec(f"open-media {desktop} --yes --room {room_id}")
    assert opened.returncode == 0, opened.stderr
    await wait_for_log(log, lines=2)
    assert Path(log.read_text().splitlines()[1]).name == "holiday.desktop"


async def wait_for_log(log: Path, lines: int = 1) -> None:
    """The opener runs detached: wait until it has written its arguments."""
    async with asyncio.timeout(20):
        while len(await asyncio.to_thread(logged, log)) < lines:
            await asyncio.sleep(0.05)


def logged(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# -- 12: an mxc server name cannot be "." or ".." --------------------------------------------


@pytest.mark.parametrize(
    "url", ["mxc://../abc", "mxc://./abc", "mxc://..:8448/abc", "mxc://.../abc", "mxc:///abc"]
)
def test_an_mxc_server_name_of_dots_is_refused(url: str) -> None:
    with pytest.raises(UserError, match="not a valid media address"):
        parse_mxc(url)


def test_ordinary_mxc_server_names_still_parse() -> None:
    assert parse_mxc("mxc://a.b-c.org/x") == ("a.b-c.org", "x")
    assert parse_mxc("mxc://1.2.3.4:80/x") == ("1.2.3.4:80", "x")
    assert parse_mxc("mxc://[::1]:8448/x") == ("[::1]:8448", "x")
    assert parse_mxc("mxc://localhost/x") == ("localhost", "x")
