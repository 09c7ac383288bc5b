"""Pure logic of media, links, spoilers and search: names, sizes, schemes, queries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.text import Text

from tuimatrix.core.errors import UserError
from tuimatrix.core.links import message_links, safe_link
from tuimatrix.core.media import (
    create_unique,
    decrypt,
    human_size,
    media_of,
    parse_mxc,
    safe_filename,
    write_new_file,
)
from tuimatrix.core.search import matches, parse_query, search_items
from tuimatrix.core.timeline import TimelineItem, message_body


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("report\x1b[31m.pdf", "report.pdf"),
        ("evil\u202egpj.exe", "evilgpj.exe"),  # a right-to-left override would show "exe.jpg"
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        (".bashrc", "bashrc"),
        ("..", "download"),
        ("", "download"),
        ("/", "download"),
        ("a:b*c?.txt", "a_b_c_.txt"),
        ("tab\tand  spaces .txt", "tab and spaces.txt"),
    ],
)
def test_safe_filename_keeps_only_a_clean_basename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_safe_filename_caps_the_length_and_keeps_the_extension() -> None:
    long = safe_filename("é" * 300 + ".jpeg")
    assert long.endswith(".jpeg") and len(long.encode()) <= 200
    assert safe_filename("", fallback="image") == "image"


def test_a_new_file_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(b"old")
    first = write_new_file(tmp_path, "cat.png", b"new")
    second = write_new_file(tmp_path, "cat.png", b"newer")
    assert (first.name, second.name) == ("cat (1).png", "cat (2).png")
    assert (tmp_path / "cat.png").read_bytes() == b"old"
    assert first.read_bytes() == b"new" and second.read_bytes() == b"newer"
    assert os.stat(first).st_mode & 0o777 == 0o600


def test_a_planted_symlink_is_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "notes.txt").symlink_to(target)
    fd, path = create_unique(tmp_path / "dl", "notes.txt")
    os.close(fd)
    assert path.name == "notes (1).txt" and target.read_bytes() == b"keep"


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 5 * 1024**2, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.5 KB",
        "5.0 MB",
        "3.0 TB",
    ]


def test_media_lines_show_name_and_size() -> None:
    content = {
        "msgtype": "m.file",
        "body": "../x\x1b]0;title\x07.pdf",
        "url": "mxc://example.org/abc",
        "info": {"size": 2048},
    }
    assert message_body(content).plain == "[file] ../x.pdf (2.0 KB)"
    captioned = {**content, "filename": "x.pdf", "body": "the report"}
    assert message_body(captioned).plain == "[file] x.pdf (2.0 KB)  the report"
    media = media_of(captioned)
    assert media is not None and media.name == "x.pdf" and media.size == 2048


def test_mxc_addresses_are_parsed_strictly() -> None:
    assert parse_mxc("mxc://example.org:8448/AbC_-1") == ("example.org:8448", "AbC_-1")
    for bad in ("mxc://example.org/../../admin", "mxc://ex/a/b", "https://ex/a", "mxc://ex/a?b"):
        with pytest.raises(UserError):
            parse_mxc(bad)


def test_encrypted_attachments_decrypt_and_tampering_is_refused() -> None:
    from mautrix.crypto.attachments import encrypt_attachment

    ciphertext, file = encrypt_attachment(b"secret bytes")
    info = file.serialize()
    assert decrypt(ciphertext, info) == b"secret bytes"
    with pytest.raises(UserError, match="cannot decrypt"):
        decrypt(ciphertext[:-1] + b"x", info)


def test_links_from_html_and_plain_body_with_scheme_filter() -> None:
    content = {
        "msgtype": "m.text",
        "body": "see https://example.org/a_(b). and mailto:me@example.org, also "
        "javascript:alert(1) file:///etc/passwd and http://x.test/[1]",
        "format": "org.matrix.custom.html",
        "formatted_body": '<mx-reply><a href="https://quoted.example/">q</a></mx-reply>'
        '<a href="https://matrix.to/#/@bob:example.org">Bob</a> '
        '<a href="javascript:alert(1)">click</a> <a href="data:text/html,x">d</a> '
        '<a href="https://exаmple.org/\x1b[31m">look-alike</a> '
        '<a href="https://example.org/a_(b)">dup</a>',
    }
    assert message_links(content) == [
        "https://matrix.to/#/@bob:example.org",
        "https://ex%D0%B0mple.org/",
        "https://example.org/a_(b)",
        "mailto:me@example.org",
        "http://x.test/[1]",
    ]


def test_safe_link_refuses_other_schemes_and_empty_targets() -> None:
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://", "mailto:", "ftp://x"):
        assert safe_link(bad) is None
    assert safe_link("HTTPS://Example.org/a b") == "HTTPS://Example.org/ab"


def test_spoilers_are_hidden_until_revealed() -> None:
    content = {
        "msgtype": "m.text",
        "body": "the butler did it",
        "format": "org.matrix.custom.html",
        "formatted_body": 'the <span data-mx-spoiler="plot">butler did</span> it',
    }
    hidden = message_body(content).plain
    assert "butler" not in hidden and "██████ ███" in hidden and "[spoiler: plot]" in hidden
    assert message_body(content, reveal_spoilers=True).plain == "the [spoiler: plot] butler did it"


def _item(key: str, sender_id: str, sender: str, body: str, **kw: object) -> TimelineItem:
    return TimelineItem(key, sender_id, sender, 0, Text(body), **kw)  # type: ignore[arg-type]


def test_local_search_by_words_and_sender() -> None:
    items = [
        _item("$1", "@alice:x", "Alice", "Lunch at noon?"),
        _item("$2", "@bob:x", "Bob", "lunch is late today"),
        _item("$3", "@bob:x", "Bob", "joined", is_notice=True),
        _item("$4", "@bob:x", "Bob", "[deleted]", redacted=True),
    ]
    assert [r.event_id for r in search_items("!r", items, parse_query("LUNCH"))] == ["$2", "$1"]
    assert [r.event_id for r in search_items("!r", items, parse_query("lunch from:bob"))] == ["$2"]
    assert [r.event_id for r in search_items("!r", items, parse_query("from:ALI"))] == ["$1"]
    assert not matches(parse_query("joined"), items[2])
    with pytest.raises(UserError):
        parse_query("   ")


async def test_media_falls_back_to_the_legacy_api_on_unrecognized() -> None:
    """A server without the authenticated media API (before spec 1.11) answers 404
    M_UNRECOGNIZED there; the legacy path is then used, with the same token."""

    from aiohttp import web
    from helpers import media_server

    from tuimatrix.core.media import fetch_mxc

    seen: list[tuple[str, str | None]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization")))
        if request.path.startswith("/_matrix/client/v1/media/"):
            return web.json_response({"errcode": "M_UNRECOGNIZED"}, status=404)
        if request.path == "/_matrix/media/v3/download/example.org/abc":
            return web.Response(body=b"legacy bytes")
        return web.json_response({"errcode": "M_NOT_FOUND", "error": "\x1b[2Jgone"}, status=404)

    async with media_server(handle) as account:
        assert await fetch_mxc(account, "mxc://example.org/abc") == b"legacy bytes"
        assert seen == [
            ("/_matrix/client/v1/media/download/example.org/abc", "Bearer tok"),
            ("/_matrix/media/v3/download/example.org/abc", "Bearer tok"),
        ]
        with pytest.raises(UserError) as err:
            await fetch_mxc(account, "mxc://example.org/missing")
        assert str(err.value) == "cannot download: M_NOT_FOUND: gone"


def test_media_settings_from_config(tmp_path: Path) -> None:
    from tuimatrix.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('[media]\ndownload-dir = "~/dl"\nopener = "my-open"\nsize = 3\n', "utf-8")
    config = load_config(path)
    assert config.media.download_dir == Path("~/dl").expanduser()
    assert config.media.opener == "my-open"
    assert config.errors == [f"{path}:4: unknown media setting 'size' (download-dir, opener)"]


async def test_a_missing_opener_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuimatrix.core.opener import open_with_system

    monkeypatch.setenv("TUIMATRIX_OPENER", "no-such-opener-anywhere")
    with pytest.raises(UserError, match="no program to open files with: no-such-opener-anywhere"):
        await open_with_system("/tmp/x")


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("mailto:a@example.org?attach=/home/u/.ssh/id_rsa", "mailto:a@example.org"),
        ("mailto:a@example.org?%61ttach=x&subject=hi", "mailto:a@example.org?subject=hi"),
        (
            "mailto:a@example.org?Subject=s&body=b&cc=c@x&bcc=d@x&to=e@x&x-attach=f",
            "mailto:a@example.org?Subject=s&body=b&cc=c@x&bcc=d@x",
        ),
    ],
)
def test_mailto_links_keep_only_fields_that_write_the_mail(url: str, safe: str) -> None:
    assert safe_link(url) == safe
    assert message_links({"body": f"write to {url} now"}) == [safe]
