"""Tests for tuimatrix.core.sanitize: no network string may reach the terminal unsafely."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import costs_at_most
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich.text import Text

from tuimatrix.core.sanitize import (
    MAX_HTML_LEN,
    clean_line,
    clean_text,
    html_to_text,
    plain,
    strip_reply_fallback,
)

BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # every control but \t and \n, incl. ESC
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# What a rich Console may write for our Text: SGR, and OSC 8 links with a printable-ASCII URL.
ALLOWED_ESC = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;(?:id=[0-9-]*)?;[\x21-\x7e]*\x1b\\")
OSC8_URL = re.compile(r"\x1b\]8;(?:id=[0-9-]*)?;([^\x1b]*)\x1b\\")

# Each family of terminal control, with what must be left of "a<seq>b".
CONTROLS = {
    "c0": ("\x00\x01\x07\x08\r\x0b\x0c\x0e\x1f\x7f", ""),
    "csi-clear": ("\x1b[2J\x1b[H", ""),
    "sgr": ("\x1b[1;31mred\x1b[0m", "red"),
    "csi-private": ("\x1b[?1049h\x1b[?25l", ""),
    "osc52-bel": ("\x1b]52;c;SGVsbG8gd29ybGQ=\x07", ""),
    "osc52-st": ("\x1b]52;c;SGVsbG8gd29ybGQ=\x1b\\", ""),
    "osc8": ("\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click"),
    "osc0-title": ("\x1b]0;pwned\x07", ""),
    "dcs": ("\x1bPq#0;2;0;0;0#0~~\x1b\\", ""),
    "apc-kitty": ("\x1b_Gf=100,a=T;AAAA\x1b\\", ""),
    "pm": ("\x1b^private\x1b\\", ""),
    "sos": ("\x1bXstring\x1b\\", ""),
    "esc-reset": ("\x1bc\x1b(0", ""),
    "c1-csi": ("\x9b2J\x9b31m", ""),
    "c1-osc-bel": ("\x9d0;title\x07", ""),
    "c1-osc-st": ("\x9d52;c;QUJD\x9c", ""),
    "c1-dcs": ("\x90q#0\x9c", ""),
    "c1-apc-pm-sos": ("\x9fx\x9c\x9ey\x9c\x98z\x9c", ""),
    "c1-st-nel": ("\x9c\x85\x80\x9f", ""),
    "unterminated-osc": ("\x1b]0;title", "0;title"),
    "unterminated-c1": ("\x9d52;c;QUJD", "52;c;QUJD"),
    "lone-esc": ("\x1b\n", "\n"),  # (ESC + a letter is a 2-byte sequence: both go)
}


def render(text: Text) -> str:
    """What a truecolor terminal would receive for ``text``."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="truecolor", width=80)
    console.print(text)
    return buf.getvalue()


def assert_terminal_safe(text: Text) -> str:
    """Render ``text`` and check that only SGR and clean OSC 8 sequences reach the terminal."""
    out = render(text)
    assert not BAD.search(ALLOWED_ESC.sub("", out)), repr(out)
    assert not BIDI.search(out)
    return out


def style_of(text: Text, sub: str) -> Style:
    """The combined span style at the first character of ``sub`` in ``text``."""
    i = text.plain.index(sub)
    styles = [s.style for s in text.spans if s.start <= i < s.end]
    assert all(isinstance(s, Style) for s in styles)  # spans carry Style objects, never strings
    return Style.combine([Style(), *(s for s in styles if isinstance(s, Style))])


def hex_of(color: Color | None) -> str | None:
    return None if color is None or color.triplet is None else color.triplet.hex


# --- clean_text / clean_line / plain -----------------------------------------------------------


@pytest.mark.parametrize("name", CONTROLS)
def test_clean_text_removes_control_family(name: str) -> None:
    seq, left = CONTROLS[name]
    out = clean_text(f"a{seq}b")
    assert out == f"a{left}b"
    assert not BAD.search(out)
    assert_terminal_safe(plain(f"a{seq}b"))


def test_clean_text_keeps_ordinary_text() -> None:
    s = "line 1\n\tindented 👩\u200d💻 עברית \u200fmark é 中文 [bold]x[/]"
    assert clean_text(s) == s


def test_clean_text_removes_bidi_and_surrogates() -> None:
    s = "a\u202ab\u202bc\u202cd\u202de\u202ef\u2066g\u2067h\u2068i\u2069j\ud800k"
    assert clean_text(s) == "abcdefghijk"


def test_clean_line_is_one_line() -> None:
    assert clean_line("Room\nname\twith\r\ntabs\u2028x\x1b[2J") == "Room name with tabs x"


@pytest.mark.parametrize("s", ["[@click=app.quit]", "[bold]x[/]", "[/]", "[link=x]y", "\\[b]"])
def test_markup_stays_literal(s: str) -> None:
    assert plain(s).plain == s
    assert s in render(plain(s))
    assert html_to_text(f"<b>{s}</b>", s).plain == s
    assert html_to_text(s, "fb").plain == s


def test_plain_applies_style() -> None:
    text = plain("x\x1b[31m", Style(bold=True))
    assert text.plain == "x"
    assert text.style == Style(bold=True)
    assert plain("y", "italic").style == "italic"


# --- html_to_text: safety ----------------------------------------------------------------------

NASTY_HTML = [
    "<b>\x1b]52;c;QUJD\x07x</b>",
    "&#27;[2J&#x1b;]0;t&#7;&#x9b;31m&#155;&#x9d;&#0;&#13;&#x7f;&#x85;done",
    "<a href='https://ok.example/\x1b]0;x\x07 \"q\"'>link</a>",
    "<a href='https://ok.example/&#27;[2J&#x9b;'>link</a>",
    "<span data-mx-spoiler='&#27;]0;t&#7;'>s</span><img src='mxc://a/b' alt='\x9b2J&#27;x'>",
    "&#x202e;rtl&#8238;&#x2066;&#8297;\u202etext",
    "<i>[@click=app.quit]</i><a href='https://x.example/'>[link=javascript:x]</a>",
]


@pytest.mark.parametrize("html", NASTY_HTML)
def test_html_output_is_terminal_safe(html: str) -> None:
    text = html_to_text(html, "fallback")
    assert not BAD.search(text.plain) and not BIDI.search(text.plain)
    out = assert_terminal_safe(text)
    for url in OSC8_URL.findall(out):
        assert url == "" or re.fullmatch(r"https?://[\x21-\x7e]+", url)
        assert not re.search(r"[ \"'\\]", url)


def test_entity_encoded_controls_removed() -> None:
    text = html_to_text("a&#27;b&#x1b;c&#x9b;d&#7;e&#x202E;f&#8294;g", "fb")
    assert text.plain.startswith("a") and text.plain.endswith("g")
    assert not BAD.search(text.plain) and not BIDI.search(text.plain)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<script>alert(1)</script>ok", "ok"),
        ("<style>b{}</style><b>ok</b>", "ok"),
        ("<iframe src='https://x'>frame</iframe>ok", "ok"),
        ("<object data='x'>obj</object>ok", "ok"),
        ("<head><title>t</title></head>ok", "ok"),
        (
            "<mx-reply><blockquote><a href='https://matrix.to/#/!r/$e'>In reply to</a>"
            "<b>orig</b></blockquote></mx-reply>ok",
            "ok",
        ),
        ("<marquee>ke<blink>pt</blink></marquee> <form><input value=x>text</form>", "kept text"),
        ("<b onclick='evil()' style='color:red'>ok</b>", "ok"),
    ],
)
def test_disallowed_tags(html: str, expected: str) -> None:
    text = html_to_text(html, "fallback")
    assert text.plain == expected
    assert all(s.style == Style(bold=True) for s in text.spans)  # no colour from style=


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "&#x6a;avascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:x",
        "file:///etc/passwd",
        "mxc://server/media",
        "/relative",
        "",
    ],
)
def test_unsafe_hrefs_dropped(href: str) -> None:
    text = html_to_text(f'<a href="{href}">click me</a>', "fb")
    assert text.plain == "click me"
    assert all(s.style.link is None for s in text.spans)  # type: ignore[union-attr]
    assert "\x1b]8;" not in render(text).replace("\x1b]8;;\x1b\\", "")


@pytest.mark.parametrize(
    "href",
    [
        "https://example.org/x?a=1&b=2#f",
        "http://e.org",
        "ftp://e.org/f",
        "mailto:a@b.c",
        "magnet:?xt=urn:btih:abc",
        "HTTPS://E.ORG/",
    ],
)
def test_safe_hrefs_become_clean_links(href: str) -> None:
    text = html_to_text(f'<a href="{href.replace("&", "&amp;")}">site</a>', "fb")
    assert text.plain == "site"
    style = style_of(text, "site")
    assert style.link == href and style.underline
    out = assert_terminal_safe(text)
    assert href in OSC8_URL.findall(out)


def test_link_url_is_percent_encoded() -> None:
    text = html_to_text(
        "<a href=\"https://e.org/a b/'q'/&quot;/\\/é/\x1b[2J/&#x9b;/\u202e\">x</a>", "fb"
    )
    url = style_of(text, "x").link
    assert url is not None and re.fullmatch(r"[\x21-\x7e]+", url)
    # &#x9b; is decoded to "›" (the HTML spec maps 0x80-0x9F references to windows-1252).
    assert url == "https://e.org/a%20b/%27q%27/%22/%5C/%C3%A9//%E2%80%BA/"


def test_mention_is_bold() -> None:
    text = html_to_text('<a href="https://matrix.to/#/@alice:example.org">Alice</a>: hi', "fb")
    assert text.plain == "Alice: hi"
    assert style_of(text, "Alice").bold


# --- html_to_text: structure and styles --------------------------------------------------------


def test_inline_styles() -> None:
    text = html_to_text(
        "<b>b</b> <strong>st</strong> <i>i</i> <em>em</em> <u>u</u> <del>d</del> <s>s</s> "
        "<code>c</code> <sup>p</sup><sub>q</sub>",
        "fb",
    )
    assert text.plain == "b st i em u d s c pq"
    assert style_of(text, "b").bold and style_of(text, "st").bold
    assert style_of(text, "i").italic and style_of(text, "em").italic
    assert style_of(text, "u").underline
    assert style_of(text, "d").strike and style_of(text, "s ").strike
    assert style_of(text, "c").bgcolor is not None
    assert style_of(text, " ") == Style()  # spaces between are not styled


def test_entities_decoded() -> None:
    assert html_to_text("a &amp; b &lt;c&gt; &quot;&#39;&nbsp;&#x1F600;", "fb").plain == (
        "a & b <c> \"'\u00a0😀"
    )


def test_stray_angle_brackets_are_text() -> None:
    assert html_to_text("a < b > c <3 <<>> </ x", "fb").plain == "a < b > c <3 <<>> </ x"


def test_colours() -> None:
    text = html_to_text(
        '<font color="#ff0000">a</font><font data-mx-color="#00FF00" data-mx-bg-color="#0000ff">'
        'b</font><span data-mx-color="#123456">c</span>'
        '<font color="red">d</font><span data-mx-color="#fff">e</span>'
        '<span data-mx-color="#12345g">f</span><span data-mx-color="#1234567">g</span>'
        '<span data-mx-color="#123456\n">h</span><span color="#123456">i</span>',
        "fb",
    )
    assert text.plain == "abcdefghi"
    assert hex_of(style_of(text, "a").color) == "#ff0000"
    b = style_of(text, "b")
    assert hex_of(b.color) == "#00ff00" and hex_of(b.bgcolor) == "#0000ff"
    assert hex_of(style_of(text, "c").color) == "#123456"
    for ch in "defghi":  # named, short, non-hex, long, trailing newline, color= on span
        assert style_of(text, ch).color is None


def test_lists() -> None:
    text = html_to_text(
        '<ul><li>one</li><li>two<ol start="7"><li>seven</li><li>eight</li></ol></li></ul>'
        '<ol><li>a</li></ol><ol start="-2"><li>x</li></ol><ol start="bad"><li>y</li></ol>',
        "fb",
    )
    assert text.plain.split("\n") == [
        "• one",
        "• two",
        "  7. seven",
        "  8. eight",
        "1. a",
        "-2. x",
        "1. y",
    ]


def test_blocks_headings_and_breaks() -> None:
    text = html_to_text(
        "<h1>Title</h1><p>para one</p><p>para\n   two<br>next</p><div>div</div><hr>end", "fb"
    )
    lines = text.plain.split("\n")
    assert lines[:5] == ["Title", "para one", "para two", "next", "div"]
    assert set(lines[5]) == {"─"} and lines[6] == "end"
    assert style_of(text, "Title").bold


def test_blockquote_prefix_and_cap() -> None:
    text = html_to_text("<blockquote>q1<blockquote>q2</blockquote>back</blockquote>out", "fb")
    assert text.plain.split("\n") == ["│ q1", "│ │ q2", "│ back", "out"]
    deep = html_to_text("<blockquote>" * 50 + "x", "fb")
    assert deep.plain == "│ " * 8 + "x"


def test_pre_preserves_whitespace() -> None:
    text = html_to_text(
        '<p>before</p><pre><code class="language-python">def f():\n    return  1\n</code></pre>'
        "after",
        "fb",
    )
    assert text.plain == "before\ndef f():\n    return  1\nafter"
    assert style_of(text, "return").bgcolor is not None


def _code_styles(text: Text, start: int, end: int) -> list[Style]:
    """The combined style of each character in ``text[start:end]``."""
    return [text.get_style_at_offset(Console(), i) for i in range(start, end)]


def test_code_block_with_a_language_is_highlighted() -> None:
    code = 'def f(x):\n    return "[b]x[/b]" + 1  # note\n'
    text = html_to_text(f'<pre><code class="language-python">{code}</code></pre>done', "fb")
    # The text is exactly the code (no markup read, nothing stripped or added).
    assert text.plain == code.rstrip("\n") + "\ndone"
    keyword, name = style_of(text, "def"), style_of(text, "f(")
    assert keyword.color is not None and keyword.color != name.color
    assert style_of(text, '"[b]x[/b]"').color not in (None, keyword.color)
    assert style_of(text, "# note").color not in (None, keyword.color)
    # Still a code block: every highlighted character keeps its background.
    end = len(code.rstrip("\n"))
    assert all(s.bgcolor == Color.parse("grey23") for s in _code_styles(text, 0, end) if s)


def test_unknown_language_is_plain_code() -> None:
    text = html_to_text('<pre><code class="language-nosuch">def f(): pass</code></pre>', "fb")
    assert text.plain == "def f(): pass"
    assert [span.style for span in text.spans] == [Style(bgcolor="grey23")]
    # Inline code with a language class is not a code block: not highlighted either.
    inline = html_to_text('say <code class="language-python">def</code>', "fb")
    assert style_of(inline, "def") == Style(bgcolor="grey23")


def test_highlighted_code_is_cleaned_of_controls() -> None:
    html = (
        '<pre><code class="hljs language-py">def f(): return "\x1b]52;c;UFdORUQ=\x07x\u202e"'
        "<br>a\x9b2J<b>+=</b>1;<script>evil()</script></code></pre>"
    )
    text = html_to_text(html, "fb")
    assert text.plain == 'def f(): return "x"\na+=1;'
    assert style_of(text, "def").color is not None
    assert_terminal_safe(text)


def test_long_code_is_not_highlighted() -> None:
    code = "x = 1\n" * 5000
    text = html_to_text(f'<pre><code class="language-python">{code}</code></pre>', "fb")
    assert text.plain == code.rstrip("\n")
    assert {span.style for span in text.spans} == {Style(bgcolor="grey23")}


def test_code_block_over_the_cap_is_not_highlighted() -> None:
    code = "x = 1\n" * 700  # 4,200 characters: over the per-block cap
    text = html_to_text(f'<pre><code class="language-python">{code}</code></pre>', "fb")
    assert text.plain == code.rstrip("\n")
    assert {span.style for span in text.spans} == {Style(bgcolor="grey23")}


def test_pathological_lexer_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rst lexer is superquadratic (16k characters of this took seconds): not allowlisted.
    from pygments.lexers.markup import RstLexer

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the rst lexer was run")

    monkeypatch.setattr(RstLexer, "get_tokens_unprocessed", fail)
    code = "[" * 4000 + "`a`_ " * 2400
    for lang in ("rst", "restructuredtext", "RST"):
        html = f'<pre><code class="language-{lang}">{code}</code></pre>'
        text = html_to_text(html, "fb")
        assert text.plain == code.rstrip()
        assert {span.style for span in text.spans} == {Style(bgcolor="grey23")}


def test_highlighting_budget_spans_the_whole_message() -> None:
    block = "x = 1;" * 166 + "x=1;"  # 1,000 characters, one line
    assert len(block) == 1000
    html = "".join(f'<pre><code class="language-python">{block}</code></pre>' for _ in range(25))
    text = html_to_text(html, "fb")
    lines = text.plain.split("\n")
    assert lines == [block] * 25
    console = Console()
    # The "=" of each block: coloured when the block was highlighted.
    highlighted = [
        text.get_style_at_offset(console, k * (len(block) + 1) + 2).color is not None
        for k in range(25)
    ]
    assert highlighted == [True] * 10 + [False] * 15
    # The plain blocks are still shown as code.
    assert text.get_style_at_offset(console, 24 * 1001 + 2).bgcolor == Color.parse("grey23")


def test_blocks_over_the_cap_do_not_use_up_the_budget() -> None:
    # Two blocks of 4,998 characters: charged, they would leave 4 of the budget for "y = 2".
    big = '<pre><code class="language-python">' + "x = 1\n" * 833 + "</code></pre>"
    text = html_to_text(big * 2 + '<pre><code class="language-python">y = 2</code></pre>', "fb")
    assert style_of(text, "x = 1").color is None
    assert style_of(text, "y = 2").color is not None


def test_spoiler_inside_highlighted_code_stays_masked() -> None:
    html = (
        '<pre><code class="language-python">x = 1\n<b>y = <span data-mx-spoiler="plot">'
        "secret(2)</span> + 3</b>\nz = 4</code></pre>after"
    )
    text = html_to_text(html, "fb")
    assert "secret" not in text.plain
    assert text.plain == "x = 1\ny = [spoiler: plot] █████████ + 3\nz = 4\nafter"
    # The block is shown as plain code (highlighting dropped), background kept throughout.
    for part in ("x = 1", "y = ", "█", " + 3", "z = 4"):
        assert style_of(text, part) == Style(bgcolor="grey23"), part
    end = text.plain.index("\nafter")
    assert {s.color for s in _code_styles(text, 0, end)} == {None}
    assert_terminal_safe(text)

    revealed = html_to_text(html, "fb", reveal_spoilers=True)
    assert revealed.plain == "x = 1\ny = [spoiler: plot] secret(2) + 3\nz = 4\nafter"
    assert style_of(revealed, "secret").bgcolor == Color.parse("grey30")


def test_unclosed_code_block_is_still_shown() -> None:
    text = html_to_text('<pre><code class="language-python">import os', "fb")
    assert text.plain == "import os"
    assert style_of(text, "import").color is not None


def test_table() -> None:
    text = html_to_text(
        "<table><caption>cap</caption><thead><tr><th>h1</th><th>h2</th></tr></thead>"
        "<tbody><tr><td>a</td><td>b</td></tr></tbody></table>",
        "fb",
    )
    assert text.plain == "cap\nh1 │ h2\na │ b"
    assert style_of(text, "h1").bold


def test_spoiler_hidden() -> None:
    text = html_to_text(
        'see <span data-mx-spoiler="plot\x1b]0;x\x07">Snape kills</span> and '
        "<span data-mx-spoiler>it</span>",
        "fb",
    )
    assert "Snape" not in text.plain and "it" not in text.plain.split("and")[1]
    assert text.plain == "see [spoiler: plot] █████ █████ and ██"


def test_image_is_alt_text_only() -> None:
    text = html_to_text(
        '<img src="mxc://s/m" alt="a cat" width="10" height="10"> <img src="https://x/y.png">',
        "fb",
    )
    assert text.plain == "[image: a cat] [image]"


def test_details_summary() -> None:
    text = html_to_text("<details><summary>More</summary>hidden bits</details>", "fb")
    assert text.plain == "More\nhidden bits"


def test_unclosed_and_mismatched_tags() -> None:
    assert html_to_text("<b><i>x</b>y</i>z</u>", "fb").plain == "xyz"
    text = html_to_text("<b><i>x</b>y", "fb")
    assert style_of(text, "x").bold and style_of(text, "x").italic
    assert style_of(text, "y") == Style()
    assert html_to_text("<ul><li>a<li>b", "fb").plain == "• a\n• b"
    assert html_to_text("<p>x<p>y", "fb").plain == "x\ny"
    assert html_to_text('<a href="https://x.y/ b="c">t', "fb").plain  # broken attribute quoting


def test_dropped_content_has_no_layout_effects() -> None:
    html = "a<mx-reply><blockquote><p>x</p><br><hr><p>y</p></blockquote></mx-reply>b"
    assert html_to_text(html, "fb").plain == "ab"
    html = "<ol><li>one</li><script><li>x</li><mx-reply></mx-reply></script><li>two</li></ol>"
    assert html_to_text(html, "fb").plain == "1. one\n2. two"
    html = "<mx-reply><mx-reply>in</mx-reply>still in</mx-reply>out"
    assert html_to_text(html, "fb").plain == "out"


@pytest.mark.parametrize(
    ("html", "fallback", "expected"),
    [
        ("", "plain body", "plain body"),
        ("<mx-reply>only the reply</mx-reply>", "body", "body"),
        ("<br><br>", "body\x1b[2J", "body"),
        ("<!-- unterminated comment", "body", "body"),
        ("", "", ""),
    ],
)
def test_fallback(html: str, fallback: str, expected: str) -> None:
    assert html_to_text(html, fallback).plain == expected


# --- depth, size and time ----------------------------------------------------------------------
# Costs are compared with ordinary input of the same size (its length, or the same tags side by
# side), timed in the same test (helpers.costs_at_most): a wall-clock limit fails on a busy
# machine and says little on a fast one.

#: How much more hostile input may cost than ordinary input of its size: at these sizes a
#: quadratic or recursive path costs hundreds of times more; a linear one, about the same.
HOSTILE_FACTOR = 10
#: One paragraph of an ordinary formatted message.
PARAGRAPH = (
    "<p>Some <b>bold</b> and <i>italic</i> text with "
    + "a fair amount of prose, entities &amp; all, as a long message would have. " * 4
    + "</p>"
)


def prose(length: int) -> str:
    """Ordinary text of ``length`` characters, not all ASCII (so no fast path skips work)."""
    line = "Grüße aus Köln, how are you doing today?\n"
    return (line * (length // len(line) + 1))[:length]


def prose_html(length: int) -> str:
    """An ordinary formatted body of about ``length`` characters (at most the size cap)."""
    return PARAGRAPH * max(1, min(length, MAX_HTML_LEN) // len(PARAGRAPH))


@pytest.mark.parametrize(
    ("open_", "close"),
    [
        ("<b>", "</b>"),
        ("<blockquote>", "</blockquote>"),
        ("<ul><li>", "</li></ul>"),
        ("<ol><li>", "</li></ol>"),
        ('<span data-mx-color="#ff0000">', "</span>"),
        ("<div>", "</div>"),
        ("<mx-reply>", "</mx-reply>"),
    ],
)
@pytest.mark.parametrize("closed", [True, False])
def test_deep_nesting(open_: str, close: str, closed: bool) -> None:
    html = open_ * 10_000 + "deep text" + (close * 10_000 if closed else "") + "after"
    side_by_side = (open_ + "x" + close) * 10_000  # the same tags, one level deep
    text = costs_at_most(
        HOSTILE_FACTOR,
        lambda: html_to_text(side_by_side, "fallback"),
        lambda: html_to_text(html, "fallback"),
    )
    if open_ == "<mx-reply>":  # dropped with its content; unclosed, it swallows the rest
        assert text.plain == ("after" if closed else "fallback")
    else:
        assert "deep text" in text.plain and "after" in text.plain
    assert len(text.plain) < 200  # visual nesting is capped
    assert_terminal_safe(text)


def test_one_megabyte_plain_body() -> None:
    body = ("hello \x1b[2J wörld [bold]\u202e\n" * 40_000)[: 1 << 20]
    ordinary = prose(len(body))
    text = costs_at_most(HOSTILE_FACTOR, lambda: plain(ordinary), lambda: plain(body))
    assert len(text.plain) > 700_000 and not BAD.search(text.plain)
    assert not BIDI.search(text.plain)


@pytest.mark.parametrize("unit", ["\x1b]", "\x9d", "\x1b[1;2", "\x1b]0;x", "\x1bP", "\x1b\x1b["])
def test_clean_text_linear_on_unterminated_sequences(unit: str) -> None:
    s = unit * ((1 << 20) // len(unit))
    ordinary = prose(len(s))
    out = costs_at_most(HOSTILE_FACTOR, lambda: clean_text(ordinary), lambda: clean_text(s))
    assert not BAD.search(out)


def test_one_megabyte_html_body() -> None:
    html = prose_html(MAX_HTML_LEN)
    assert MAX_HTML_LEN - len(html) < 1000
    quarter = prose_html(MAX_HTML_LEN // 4)
    # Four times the length: about four times the cost (a quadratic path: sixteen times).
    text = costs_at_most(
        8, lambda: html_to_text(quarter, "fallback"), lambda: html_to_text(html, "fallback")
    )
    assert text.plain.startswith("Some bold and italic")
    assert "<" not in text.plain


@pytest.mark.parametrize(
    "html",
    ["<b>x</b>" * (MAX_HTML_LEN // 8 + 1), "<b>x</b>" * (MAX_HTML_LEN // 8 - 1)],
    ids=["too-long", "too-many-tags"],
)
def test_oversized_html_falls_back_to_clean_plain_body(html: str) -> None:
    ordinary = prose_html(len(html))
    # Falling back costs less than parsing an ordinary body of that length.
    text = costs_at_most(
        1,
        lambda: html_to_text(ordinary, "fallback"),
        lambda: html_to_text(html, "plain \x1b]52;c;QQ==\x07body"),
    )
    assert text.plain == "plain body"


@pytest.mark.parametrize(
    "unit",
    ["<", "<!--", "</", "<a ", '<a href="', "<!", "<?", "<x", "<b", "&#", "&x", "<a b='<a b=\""],
)
def test_malformed_html_is_linear(unit: str) -> None:
    # The stdlib HTMLParser alone takes minutes on some of these (e.g. "<a " repeated).
    html = unit * (200_000 // len(unit))
    ordinary = prose_html(len(html))
    text = costs_at_most(
        HOSTILE_FACTOR, lambda: html_to_text(ordinary, "fb"), lambda: html_to_text(html, "fb")
    )
    assert not BAD.search(text.plain)


# --- strip_reply_fallback ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("> <@alice:example.org> original\n> second line\n\nmy reply", "my reply"),
        ("> <@a:b> quote\n>\n> more\n\nreply\n\n> not fallback", "reply\n\n> not fallback"),
        ("> only a quote, no blank line\nreply", "> only a quote, no blank line\nreply"),
        ("> just a quote", "> just a quote"),
        (">no space\n\nx", ">no space\n\nx"),
        ("plain\n> later quote\n\nx", "plain\n> later quote\n\nx"),
        ("> q\n\n", ""),
        ("> q\n\n\nkeeps one", "\nkeeps one"),
        ("", ""),
    ],
)
def test_strip_reply_fallback(body: str, expected: str) -> None:
    assert strip_reply_fallback(body) == expected


# --- layering ----------------------------------------------------------------------------------


def test_does_not_import_textual() -> None:
    code = "import sys, tuimatrix.core.sanitize; print('textual' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "False"
