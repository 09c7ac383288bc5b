"""Markdown → formatted_body, pills, and the composer's / commands (pure logic)."""

from __future__ import annotations

import pytest

from tuimatrix.core.compose import SHRUG, Outgoing, composer_message, markdown_message
from tuimatrix.core.errors import UserError
from tuimatrix.core.markdown import markdown_html
from tuimatrix.core.sanitize import html_to_text


@pytest.mark.parametrize(
    "source",
    ["hello", "two\nlines", "a < b & c > d", "it's 5 * 3", "snake_case_name", "@room hi"],
)
def test_plain_text_sends_no_formatted_body(source: str) -> None:
    assert markdown_html(source) is None


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("**bold** and _it_", "<p><strong>bold</strong> and <em>it</em></p>"),
        ("~~gone~~", "<p><del>gone</del></p>"),
        ("`x < y`", "<p><code>x &lt; y</code></p>"),
        ("```py\nprint(1)\n```", '<pre><code class="language-py">print(1)\n</code></pre>'),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("[site](https://example.org)", '<p><a href="https://example.org">site</a></p>'),
        # A single newline in a formatted message stays a line break.
        ("*a*\nb", "<p><em>a</em><br />\nb</p>"),
        # A backslash escape changes what is shown: the HTML says it right.
        ("\\*not emphasis\\*", "<p>*not emphasis*</p>"),
    ],
)
def test_markdown_becomes_html(source: str, html: str) -> None:
    assert markdown_html(source) == html


def test_raw_html_is_escaped_not_passed_through() -> None:
    html = markdown_html("**hi** <script>alert(1)</script> <b onclick=x>b</b>")
    assert html == (
        "<p><strong>hi</strong> &lt;script&gt;alert(1)&lt;/script&gt; "
        "&lt;b onclick=x&gt;b&lt;/b&gt;</p>"
    )


def test_dangerous_links_and_images_are_not_made() -> None:
    assert "href" not in (markdown_html("[x](javascript:alert(1)) *y*") or "")
    html = markdown_html("![cat](https://example.org/cat.png)")
    assert html is not None and "<img" not in html


def test_pills_link_names_to_matrix_to() -> None:
    pills = {"Alice": "@alice:example.org", "*bob*": "@bob:example.org"}
    html = markdown_html("Alice: ask *bob* about `Alice`", pills)
    assert html == (
        '<p><a href="https://matrix.to/#/@alice:example.org">Alice</a>: ask '
        '<a href="https://matrix.to/#/@bob:example.org">*bob*</a> about <code>Alice</code></p>'
    )
    # Only whole words: "Alicea" is someone else.
    assert markdown_html("Alicea", {"Alice": "@alice:example.org"}) is None


def test_pill_names_are_escaped() -> None:
    html = markdown_html("hi <i>x</i>", {"<i>x</i>": "@x:example.org"})
    assert html == '<p>hi <a href="https://matrix.to/#/@x:example.org">&lt;i&gt;x&lt;/i&gt;</a></p>'


def test_formatted_body_renders_back_through_the_sanitiser() -> None:
    source = "**bold** ~~old~~ <b>raw</b>"
    html = markdown_html(source)
    assert html is not None
    assert html_to_text(html, source).plain == "bold old <b>raw</b>"


def test_message_keeps_the_source_as_body_and_mentions_pills() -> None:
    message = markdown_message("Alice: **look**", {"Alice": "@alice:x", "Bob": "@bob:x"})
    assert message.body == "Alice: **look**"
    assert message.user_ids == ("@alice:x",)  # Bob is not in the text any more
    assert message.html is not None and "matrix.to/#/@alice:x" in message.html
    assert not message.room
    assert markdown_message("@room: meeting now").room
    assert not markdown_message("email me@room.org").room


def test_alias_pills_link_but_mention_nobody() -> None:
    message = markdown_message("see #lobby:x", {"#lobby:x": "#lobby:x"})
    assert message.user_ids == ()
    assert message.html == '<p>see <a href="https://matrix.to/#/#lobby:x">#lobby:x</a></p>'


def test_slash_commands() -> None:
    assert composer_message("/me waves") == Outgoing("waves", emote=True)
    emote = composer_message("/me **waves**")
    assert emote.emote and emote.html == "<p><strong>waves</strong></p>"
    assert composer_message("/shrug") == Outgoing(SHRUG)
    shrug = composer_message("/shrug *fine*")
    assert shrug.body == f"{SHRUG} *fine*"
    assert shrug.html == f"<p>{SHRUG} <em>fine</em></p>"
    assert composer_message("/plain **as is**") == Outgoing("**as is**")
    assert composer_message("//etc/hosts is a file") == Outgoing("/etc/hosts is a file")
    assert composer_message("/ not a command") == Outgoing("/ not a command")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/foo bar", "unknown command /foo"),
        ("/usr/bin", "not a command: /usr/bin"),
        ("/ME", "/me needs some text"),
        ("/me   ", "/me needs some text"),
    ],
)
def test_unknown_or_empty_slash_commands_are_refused(text: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        composer_message(text)


@pytest.mark.parametrize(
    "source",
    [
        "\ue0005\ue001 Alice",  # a marker the user typed, out of range (a Nerd Font glyph pair)
        "\ue0000\ue001 Alice",
        "&#57344;9&#57345; Alice",  # the same, written as character references
        "\ue000\ue001\ue002\ue003 Alice",
    ],
)
def test_private_use_characters_stay_as_typed(source: str) -> None:
    message = markdown_message(source, {"Alice": "@alice:x"})
    assert message.user_ids == ("@alice:x",)
    assert message.html is not None
    assert message.html.count("matrix.to") == 1
    typed = source.removesuffix(" Alice")
    if "&#" not in typed:
        assert message.html.startswith(f"<p>{typed} <a ")


def test_pill_names_inside_link_destinations_stay_the_address() -> None:
    pills = {"Alice": "@alice:x", "matrix": "@matrix:x"}
    html = markdown_html(
        '[docs](https://example.com/Alice "matrix") <https://matrix.org/Alice> Alice', pills
    )
    assert html == (
        '<p><a href="https://example.com/Alice" title="matrix">docs</a> '
        '<a href="https://matrix.org/Alice">https://matrix.org/Alice</a> '
        '<a href="https://matrix.to/#/@alice:x">Alice</a></p>'
    )
    # The scheme is checked on the real address: a pill named "javascript" does not pass it.
    html = markdown_html("[x](javascript:alert(1))", {"javascript": "@j:x"}) or ""
    assert 'href="javascript' not in html


@pytest.mark.parametrize(
    "source",
    ["`@room` is the keyword", "```\n@room\n```", "    @room in an indented block", "`Alice`"],
)
def test_mentions_inside_code_ping_nobody(source: str) -> None:
    message = markdown_message(source, {"Alice": "@alice:x"})
    assert not message.room
    assert message.user_ids == ()


def test_mentions_outside_code_still_count() -> None:
    message = markdown_message("`code` then **@room** and Alice", {"Alice": "@alice:x"})
    assert message.room
    assert message.user_ids == ("@alice:x",)
    # Without markdown there is no code: the plain text is what it says.
    assert composer_message("/plain `@room`").room
