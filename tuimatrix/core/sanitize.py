"""Untrusted strings and Matrix HTML → safe rich ``Text``: the only way network text gets shown.

Textual writes whatever characters a widget holds straight to the terminal, so a message body
holding ESC, C1 bytes or OSC strings could clear the screen, set the window title, write the
clipboard (OSC 52) or plant hyperlinks (OSC 8); bidi overrides could make text spill past its
field; and a string parsed as markup could bind click actions (``[@click=app.quit]``). Everything
here therefore builds ``Text`` from plain strings plus ``Style`` objects, and never parses markup.

Links: an ``<a href>`` with an allowed scheme becomes ``Style(link=url)``, which rich and Textual
emit as an OSC 8 hyperlink. That is safe because the URL is first run through :func:`clean_text`
and then percent-encoded down to printable ASCII without spaces, quotes or backslashes, so it
cannot contain the BEL/ST that would end the OSC early, nor anything a terminal interprets.
Keeping the link lets terminals offer the real target on hover and click (a phishing defence
too: the terminal shows the URL, not the link text).

HTML goes through the stdlib ``HTMLParser`` (events, an explicit stack, no recursion), but only
after a linear pre-pass (:func:`_normalise`) has reduced it to complete tags and text: on
malformed input such as ``"<a " * 20_000`` the 3.11 parser alone is quadratic (tens of seconds).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from rich.style import Style
from rich.text import Span, Text

if TYPE_CHECKING:
    from pygments.lexer import Lexer

__all__ = [
    "cap_combining_marks",
    "clean_line",
    "clean_text",
    "html_to_text",
    "plain",
    "strip_reply_fallback",
]

# One regex, tried left to right at each position. Possessive quantifiers and payload classes
# that exclude every introducer (ESC and C1) keep failed attempts from overlapping, so the whole
# substitution is linear even for a body made of nothing but unterminated introducers.
_CONTROL_RE: Final = re.compile(
    # OSC, DCS, SOS, PM, APC (7-bit or C1 introducer), payload and BEL/ST terminator.
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x80-\x9f]*+(?:\x07|\x1b\\|\x9c)"
    # CSI: parameter bytes, intermediate bytes, final byte.
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*+[\x20-\x2f]*+[\x40-\x7e]"
    # Any other escape sequence (charset selection, RIS, ST, a lone unterminated introducer).
    r"|\x1b[\x20-\x2f]*+[\x30-\x7e]"
    # Single characters: C0 but \t and \n, DEL, C1, bidi embeddings/overrides/isolates, and lone
    # surrogates (JSON can carry them; they would crash the UTF-8 encoder on output).
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: combining marks kept on one base character: enough for real scripts (Vietnamese, Indic
#: stacks, keycap emoji), few enough that "zalgo" text cannot make a cell cost kilobytes
MAX_COMBINING_MARKS = 4
_LINE_TABLE: Final = str.maketrans({"\n": " ", "\t": " ", "\u2028": " ", "\u2029": " "})


def clean_text(s: str) -> str:
    """Return ``s`` without terminal controls or bidi overrides; ``\\n`` and ``\\t`` are kept.

    Complete escape sequences (CSI, OSC, DCS, APC, PM, SOS) vanish with their payload; of an
    unterminated one only the introducer goes, which already makes the rest inert text.
    Bidi marks (U+200E, U+200F, U+061C) and ZWJ stay: they cannot leak past the string.
    """
    return cap_combining_marks(_CONTROL_RE.sub("", s))


@lru_cache(maxsize=1)
def _mark_class() -> str:
    """A regex class of every combining mark. Built on first use: ``re`` has no ``\\p{M}``, and
    listing the marks walks planes 0, 1 and 14 (~30 ms), where all of them are."""
    ranges: list[tuple[int, int]] = []
    for cp in (*range(0x20000), *range(0xE0000, 0xE1000)):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


@lru_cache(maxsize=1)
def _excess_marks_re() -> re.Pattern[str]:
    """Marks after the first MAX_COMBINING_MARKS of a run."""
    marks = _mark_class()
    # A fixed-width look-behind and a possessive run: each mark is looked at a bounded number
    # of times, so 200,000 marks on one character cost what 200,000 letters do.
    return re.compile(f"(?<={marks}{{{MAX_COMBINING_MARKS}}}){marks}++")


@lru_cache(maxsize=1)
def _mark_run_re() -> re.Pattern[str]:
    """A run of marks, possibly empty (matched at a position, so it never rescans)."""
    return re.compile(f"{_mark_class()}*+")


def cap_combining_marks(s: str) -> str:
    """``s`` with at most MAX_COMBINING_MARKS combining marks in a row (linear time).

    The terminal stacks every mark in one cell and Textual writes them all again on each
    redraw: one character carrying 200,000 marks was 6.5 MB of output per frame.
    """
    if s.isascii():
        return s  # no marks: most messages skip the regex (it tripled clean_text's cost)
    return _excess_marks_re().sub("", s)


def _cap_marks_after(s: str, carried: int) -> tuple[str, int]:
    """``s`` capped as :func:`cap_combining_marks` does, as if it followed a run of ``carried``
    marks (at most MAX_COMBINING_MARKS); and the length of the run of marks it ends with.

    Text written piece by piece (the HTML converter's text nodes, which tags may split inside
    a run: ``a<i>◌́◌́</i><i>◌́◌́</i>…``) is capped as it is written, in one pass: cutting the
    finished ``Text`` instead costs a slice of all its spans per run, quadratic.
    """
    match = _mark_run_re().match(s)
    lead = match.end() if match else 0
    room = MAX_COMBINING_MARKS - carried
    if lead == len(s):
        return s[:room], carried + min(lead, room)
    rest = cap_combining_marks(s[lead:])  # starts with a base character: no run to carry
    # A run ending ``rest`` is capped now, so it lies within its last MAX_COMBINING_MARKS
    # characters: search from there only, a bounded number of steps.
    tail = len(rest)
    for pos in range(max(1, tail - MAX_COMBINING_MARKS), tail):
        match = _mark_run_re().match(rest, pos)
        if match is not None and match.end() == tail:
            tail = pos
            break
    return s[: min(lead, room)] + rest, len(rest) - tail


def clean_line(s: str) -> str:
    """Like :func:`clean_text`, for one-line fields: line breaks and tabs become spaces."""
    return clean_text(s).translate(_LINE_TABLE)


def plain(s: str, style: str | Style = "") -> Text:
    """A ``Text`` of the cleaned ``s``; markup-like brackets stay literal characters.

    ``style`` must come from our code (a theme name or a ``Style``), never from the network.
    """
    return Text(clean_text(s), style=style)


def strip_reply_fallback(body: str) -> str:
    """Remove the leading ``> `` quote lines and the one empty line after them (a reply fallback).

    The blank line is required: without it the quote is more likely the sender's own text.
    """
    if not body.startswith(">"):
        return body
    pos = 0
    while True:
        end = body.find("\n", pos)
        if end < 0:
            return body  # no blank line after the quote: not a fallback
        if end == pos:  # the blank line that ends the fallback (never the first line)
            return body[end + 1 :]
        if not (body.startswith("> ", pos) or (end == pos + 1 and body[pos] == ">")):
            return body
        pos = end + 1


# --- Matrix HTML -------------------------------------------------------------------------------

MAX_HTML_LEN: Final = 1 << 20  # characters; larger formatted bodies fall back to the plain body
# More "<" than any event within the spec's 64 KiB limit can hold: beyond it, parsing (about
# 10 µs a tag in pure Python) would take too long, so the plain body is shown instead.
_MAX_TAGS: Final = 50_000
_MAX_OUTPUT: Final = 2 << 20  # hard cap on produced characters (br/hr/li amplify a little)
_MAX_NEST: Final = 8  # visual nesting (quote bars, list indent) is capped at this depth
_MAX_URL: Final = 4096

_ALLOWED_TAGS: Final = frozenset(
    "font del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s code hr br div "
    "table thead tbody tr th td caption pre span img details summary".split()
)
_DROP_CONTENT: Final = frozenset("mx-reply script style head title iframe object".split())
_BLOCKS: Final = frozenset(
    "p div h1 h2 h3 h4 h5 h6 blockquote pre ul ol li table thead tbody tr caption details "
    "summary".split()
)
_TAG_STYLES: Final[dict[str, Style]] = {
    "b": Style(bold=True),
    "strong": Style(bold=True),
    "i": Style(italic=True),
    "em": Style(italic=True),
    "u": Style(underline=True),
    "del": Style(strike=True),
    "s": Style(strike=True),
    "code": Style(bgcolor="grey23"),
    "pre": Style(bgcolor="grey23"),
    "th": Style(bold=True),
    "summary": Style(bold=True),
    "caption": Style(italic=True),
    **{f"h{n}": Style(bold=True) for n in range(1, 7)},
}
_QUOTE_STYLE: Final = Style(dim=True)
_NOTE_STYLE: Final = Style(dim=True, italic=True)
#: a revealed spoiler stays marked as one
_SPOILER_STYLE: Final = Style(bgcolor="grey30")
_SCHEMES: Final = frozenset({"http", "https", "ftp", "mailto", "magnet"})
_SCHEME_RE: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# Printable ASCII minus space, quotes, backslash, backtick, <>, ^{|}: RFC 3986 characters only.
_URL_SAFE: Final = "!#$%&()*+,/:;=?@[]"
_MENTION_RE: Final = re.compile(r"https://matrix\.to/#/(?:@|%40|#|%23)")
_HEX_RE: Final = re.compile(r"#[0-9a-fA-F]{6}")
_WS_RE: Final = re.compile(r"[ \t\n\r\f]+")
_NON_SPACE_RE: Final = re.compile(r"\S")
#: ``<code class="language-python">``: the language of a code block, for highlighting
_LANGUAGE_RE: Final = re.compile(r"(?:^|\s)language-([A-Za-z0-9_+#.-]{1,40})(?:\s|$)")
#: ``language-…`` name → the Pygments lexer used for it. Highlighting runs on the UI loop (and
#: again on every edit or reaction), and many Pygments lexers are quadratic or worse on hostile
#: input: rst took 17 s on 16k characters; javascript, typescript, go and css take ~3 s on 16k
#: characters of an unterminated string full of escaped quotes (html and markdown embed those
#: lexers, php has the same flaw), c and c++ on ``#include /*/*…``, toml on an unclosed ``'``;
#: yaml and diff grow 16-fold when the input grows 4-fold; bash is exponential on ``$'`` and
#: backslashes; ruby is linear but slow. Only lexers that stayed linear and under ~50 ms on 4k
#: characters of adversarial punctuation, quotes, backslashes and deep brackets are listed; any
#: other language is shown as plain code.
_LEXERS: Final[dict[str, str]] = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "json": "json",
    "rust": "rust",
    "rs": "rust",
    "java": "java",
    "kotlin": "kotlin",
    "kt": "kotlin",
    "sql": "sql",
}
#: Longer code blocks are shown unhighlighted: highlighting helps read snippets, and bounds a
#: lexer's cost on a hostile body.
_MAX_HIGHLIGHT: Final = 4_000
#: Characters highlighted per message at most (many short blocks add up); later blocks are plain.
_HIGHLIGHT_BUDGET: Final = 10_000
#: a Pygments theme made for dark backgrounds, like the code block's own
_CODE_THEME: Final = "monokai"

# The pre-pass grammar: a deliberately strict subset of HTML tags. No part may contain "<", so a
# failed attempt never scans past the next "<" and the pre-pass stays linear.
_START_TAG_RE: Final = re.compile(
    r"<[a-zA-Z][a-zA-Z0-9-]*+"
    r"(?:[ \t\n\r\f]++[^ \t\n\r\f\"'<>/=]++"
    r"(?:[ \t\n\r\f]*+=[ \t\n\r\f]*+(?:\"[^\"<]*+\"|'[^'<]*+'|[^ \t\n\r\f\"'<>=`]++))?+)*+"
    r"[ \t\n\r\f]*+/?>"
)
_END_TAG_RE: Final = re.compile(r"</[a-zA-Z][a-zA-Z0-9-]*+[ \t\n\r\f]*+>")


def _normalise(html: str) -> str:
    """Return ``html`` with comments and declarations removed and every stray ``<`` escaped.

    The stdlib ``HTMLParser`` rescans incomplete constructs (``<a "``, ``<!--``) and is
    quadratic on bodies full of them; after this pass it only ever sees complete tags. An
    attribute value holding a raw ``<`` makes its tag show as text: rare, and safe.
    """
    out: list[str] = []
    i, n = 0, len(html)
    last_gt = html.rfind(">")
    while i < n:
        j = html.find("<", i)
        if j < 0:
            out.append(html[i:])
            break
        out.append(html[i:j])
        m = _START_TAG_RE.match(html, j) or _END_TAG_RE.match(html, j)
        if m is not None:
            out.append(m.group())
            i = m.end()
        elif html.startswith("<!--", j):
            k = html.find("-->", j + 4)
            if k < 0:  # an unterminated comment runs to the end, as in browsers
                break
            i = k + 3
        elif html.startswith(("<!", "<?"), j) and j < last_gt:
            i = html.find(">", j) + 1  # doctype, CDATA, processing instruction: drop
        else:
            out.append("&lt;")
            i = j + 1
    return "".join(out)


def _safe_url(href: str | None) -> str | None:
    """``href`` as printable ASCII if its scheme is allowed, else ``None``."""
    if not href:
        return None
    url = clean_text(href).strip()
    m = _SCHEME_RE.match(url)
    if m is None or m.group(1).lower() not in _SCHEMES:
        return None
    url = quote(url, safe=_URL_SAFE)
    return url if len(url) <= _MAX_URL else None


def _colour(value: str | None) -> str | None:
    return value if value is not None and _HEX_RE.fullmatch(value) else None


def _lexer_for(class_attr: str | None) -> Lexer | None:
    """The Pygments lexer for ``class="language-…"``; None when there is none to use."""
    m = _LANGUAGE_RE.search(class_attr or "")
    alias = _LEXERS.get(m.group(1).lower()) if m is not None else None
    if alias is None:
        return None
    from pygments.lexers import get_lexer_by_name

    try:
        # No stripping or added newline: the code shown is exactly the code sent.
        return get_lexer_by_name(alias, stripnl=False, ensurenl=False)
    except Exception:  # ClassNotFound, or a broken lexer plugin
        return None


@lru_cache(maxsize=256)
def _token_style(token_type: object) -> Style | None:
    """The theme's colour and emphasis for a Pygments token type (its background left out:
    the code block has its own)."""
    from pygments.styles import get_style_by_name

    found = get_style_by_name(_CODE_THEME).style_for_token(token_type)
    style = Style(
        color=f"#{found['color']}" if found["color"] else None,
        bold=found["bold"] or None,
        italic=found["italic"] or None,
        underline=found["underline"] or None,
    )
    return style or None


def _highlight(code: str, lexer: Lexer) -> list[tuple[str, Style | None]] | None:
    """``code`` cut into (text, style) runs by ``lexer``; None when it cannot be highlighted
    without changing the text (too long, a lexer error, or a lexer that rewrote it)."""
    if len(code) > _MAX_HIGHLIGHT:
        return None
    try:
        runs = [(value, _token_style(kind)) for kind, value in lexer.get_tokens(code)]
    except Exception:
        return None
    if "".join(value for value, _ in runs) != code:
        return None
    return runs


class _Frame:
    """One open element: its tag, the combined style inside it, and a counter (ol, tr, span).

    A frame that is not ``live`` lies inside dropped content: it only tracks nesting.
    """

    __slots__ = ("counter", "live", "style", "tag")

    def __init__(self, tag: str, style: Style, counter: int = 0, live: bool = True) -> None:
        self.tag = tag
        self.style = style
        self.counter = counter
        self.live = live


class _Converter(HTMLParser):
    """Event-driven HTML → ``Text`` with an explicit element stack (no recursion anywhere)."""

    def __init__(self, reveal_spoilers: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self._reveal = reveal_spoilers
        self._parts: list[str] = []
        self._spans: list[Span] = []
        self._len = 0
        self._marks = 0  # combining marks ending the text written so far (to cap across tags)
        self._stack: list[_Frame] = []
        self._open: dict[str, int] = {}  # tag → open count, so a stray end tag costs O(1)
        self._lists: list[_Frame] = []
        self._rows: list[_Frame] = []
        self._quote = self._pre = self._drop = self._spoiler = 0
        self._bol = True  # at the beginning of a line: the prefix is still to be written
        # Collapsed whitespace waiting to be written before the next word, in the style it had
        # (so a space before a link is not underlined).
        self._space: Style | None = None
        self._marker: str | None = None  # list item marker waiting for the item's first text
        # A code block with a known language: its text is collected, then highlighted whole
        # when its <code> closes (with the frame of that <code> and the lexer to use).
        self._code: list[str] | None = None
        self._code_frame: _Frame | None = None
        self._code_lexer: Lexer | None = None
        self._highlight_left = _HIGHLIGHT_BUDGET

    def set_cdata_mode(self, elem: str, *args: object, **kwargs: object) -> None:
        """Never enter CDATA/RCDATA mode for script, style, title, textarea.

        Our own stack drops their content; a raw-text scanning mode would only add another
        path to reason about (and to rescan) on malformed input.
        """

    def result(self) -> Text:
        if self._code is not None:  # an unclosed code block
            self._flush_code()
        text = Text("".join(self._parts), spans=self._spans)
        text.rstrip()
        return text

    # Output.

    def _write(self, s: str, style: Style | None) -> None:
        if not s or self._len >= _MAX_OUTPUT:
            return
        s, self._marks = _cap_marks_after(s, self._marks)
        if not s:
            return
        start = self._len
        self._parts.append(s)
        self._len += len(s)
        if style:
            spans = self._spans
            if spans and spans[-1].end == start and spans[-1].style is style:
                spans[-1] = Span(spans[-1].start, self._len, style)
            else:
                spans.append(Span(start, self._len, style))

    def _start_line(self) -> None:
        if not self._bol:
            return
        self._bol = False
        if self._quote:
            self._write("│ " * min(self._quote, _MAX_NEST), _QUOTE_STYLE)
        if self._lists:
            indent = "  " * (min(len(self._lists), _MAX_NEST) - 1)
            self._write(indent + (self._marker or "  "), None)
            self._marker = None

    def _newline(self) -> None:
        if self._len == 0:
            return  # no leading blank lines
        self._start_line()  # an empty line inside a quote still shows its bars
        self._write("\n", None)
        self._bol = True
        self._space = None

    def _block(self) -> None:
        if not self._bol:
            self._newline()
        self._space = None

    def _inline(self, s: str, style: Style | None = None) -> None:
        """Write a run of inline text, after any pending space, in the current style."""
        if self._space is not None and not self._bol:
            self._write(" ", self._space)
        self._space = None
        self._start_line()
        style = style if style is not None else self._style()
        if self._spoiler:
            if self._reveal:
                style = style + _SPOILER_STYLE
            else:
                s = _NON_SPACE_RE.sub("█", s)
        self._write(s, style)

    def _style(self) -> Style:
        return self._stack[-1].style if self._stack else Style.null()

    # Parser events.

    def handle_data(self, data: str) -> None:
        if self._drop:
            return
        data = clean_text(data)
        if self._code is not None:
            self._code.append(data)
            return
        if self._pre:
            for k, line in enumerate(data.split("\n")):
                if k:
                    self._newline()
                if line:
                    self._inline(line)
            return
        data = _WS_RE.sub(" ", data)
        word = data.strip(" ")
        if data[:1] == " " and self._space is None:
            self._space = self._style()
        if word:
            self._inline(word)
        if data[-1:] == " ":
            self._space = self._style()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS and tag not in _DROP_CONTENT:
            return  # unknown tag: ignore it, keep its text
        void = tag in ("br", "hr", "img")
        if self._drop or tag in _DROP_CONTENT:
            if not void:  # inside dropped content only nesting is tracked
                self._push(_Frame(tag, Style.null(), live=False))
                self._drop += tag in _DROP_CONTENT
            return
        if self._code is not None:
            if tag == "span" and any(name == "data-mx-spoiler" for name, _ in attrs):
                # Collected text is shown without its spoiler markup, so a spoiler inside would
                # be in clear: give up highlighting and show the block through the <pre> path.
                self._flush_code(highlight=False)
            else:
                # Inside a code block being collected only its text counts (and line breaks).
                # Frames keep the code style, for the text after a spoiler drops collection.
                if tag == "br":
                    self._code.append("\n")
                elif not void:
                    self._push(_Frame(tag, self._style(), live=False))
                return
        attr = {k: v for k, v in reversed(attrs)}  # the first of duplicated attributes wins
        if void:
            self._void(tag, attr)
            return
        style = self._style()
        own = _TAG_STYLES.get(tag)
        counter = 0
        if tag in _BLOCKS:
            self._block()
        if tag == "a":
            url = _safe_url(attr.get("href"))
            if url is not None:
                mention = _MENTION_RE.match(url) is not None
                own = Style(bold=True, link=url) if mention else Style(underline=True, link=url)
        elif tag in ("font", "span"):
            fg = _colour(attr.get("data-mx-color") or (attr.get("color") if tag == "font" else ""))
            bg = _colour(attr.get("data-mx-bg-color"))
            if fg or bg:
                own = Style(color=fg, bgcolor=bg)
            if tag == "span" and "data-mx-spoiler" in attr:
                reason = clean_line(attr["data-mx-spoiler"] or "").strip()[:200]
                if reason:
                    self._inline(f"[spoiler: {reason}]", _NOTE_STYLE)
                    self._space = style
                self._spoiler += 1
                counter = 1  # marks this span as the one that raised the spoiler count
        elif tag in ("ul", "ol"):
            counter = 1
            if tag == "ol":
                try:
                    counter = max(-(10**9), min(10**9, int(attr.get("start") or 1)))
                except ValueError:
                    pass
        elif tag == "li":
            if self._marker is not None:  # an item holding only a sub-list: keep its bullet
                self._newline()
            lst = self._lists[-1] if self._lists else None
            if lst is not None and lst.tag == "ol":
                self._marker = f"{lst.counter}. "
                lst.counter += 1
            else:
                self._marker = "• "
        elif tag in ("td", "th") and self._rows:
            row = self._rows[-1]
            if row.counter:
                self._inline(" │ ", _QUOTE_STYLE)
            row.counter += 1
        frame = _Frame(tag, style + own if own else style, counter)
        self._push(frame)
        if tag in ("ul", "ol"):
            self._lists.append(frame)
        elif tag == "tr":
            self._rows.append(frame)
        elif tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "code" and self._pre:
            lexer = _lexer_for(attr.get("class"))
            if lexer is not None:
                self._code, self._code_frame, self._code_lexer = [], frame, lexer

    def _push(self, frame: _Frame) -> None:
        self._stack.append(frame)
        self._open[frame.tag] = self._open.get(frame.tag, 0) + 1

    def _void(self, tag: str, attr: dict[str, str | None]) -> None:
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self._block()
            self._inline("─" * 20, _QUOTE_STYLE)
            self._newline()
        else:  # img: never fetched; the alt text stands in
            alt = clean_line(attr.get("alt") or attr.get("title") or "").strip()[:200]
            self._inline(f"[image: {alt}]" if alt else "[image]", _NOTE_STYLE)

    def _flush_code(self, highlight: bool = True) -> None:
        """Write the collected code block, highlighted (or plain if it cannot be, or if it
        would exceed the message's highlighting budget)."""
        code, frame, lexer = "".join(self._code or ()), self._code_frame, self._code_lexer
        self._code = self._code_frame = self._code_lexer = None
        base = frame.style if frame is not None else self._style()
        runs = None
        if (
            highlight
            and lexer is not None
            and len(code) <= min(_MAX_HIGHLIGHT, self._highlight_left)
        ):
            self._highlight_left -= len(code)  # charged even if the lexer then fails: it ran
            runs = _highlight(code, lexer)
        for value, token_style in runs if runs is not None else [(code, None)]:
            style = base + token_style if token_style else base
            for k, line in enumerate(value.split("\n")):
                if k:
                    self._newline()
                if line:
                    self._inline(line, style)

    def handle_endtag(self, tag: str) -> None:
        if not self._open.get(tag):
            return  # stray or mismatched end tag
        # Close everything opened inside ``tag`` too: each frame is popped once, so linear.
        while True:
            frame = self._stack.pop()
            self._close(frame)
            if frame.tag == tag:
                return

    def _close(self, frame: _Frame) -> None:
        tag = frame.tag
        self._open[tag] -= 1
        if frame is self._code_frame:
            self._flush_code()
        if not frame.live:
            self._drop -= tag in _DROP_CONTENT
            return
        if tag == "span":
            self._spoiler -= frame.counter
        if tag == "li" and self._marker is not None:
            self._start_line()  # an empty item still shows its bullet
        if tag in ("ul", "ol"):
            self._lists.pop()
        elif tag == "tr":
            self._rows.pop()
        elif tag == "blockquote":
            self._block()
            self._quote -= 1
        elif tag == "pre":
            self._pre -= 1
        if tag in _BLOCKS:
            self._block()


def html_to_text(formatted_body: str, fallback_body: str, *, reveal_spoilers: bool = False) -> Text:
    """Render a Matrix ``formatted_body`` (the spec's HTML subset) as styled ``Text``.

    Tags outside the spec's allowlist are dropped but keep their text; ``mx-reply``, scripts,
    styles and frames are dropped with their content. Every string reaching the output goes
    through :func:`clean_text`. Spoilers (``data-mx-spoiler``) show as "█" blocks unless
    ``reveal_spoilers``. Unusable HTML (over ``MAX_HTML_LEN`` characters or 50,000 tags,
    a parser error, or no text while the plain body has some) falls back to
    ``plain(fallback_body)``.
    """
    if len(formatted_body) > MAX_HTML_LEN:
        return plain(fallback_body)
    html = clean_text(formatted_body)
    if html.count("<") > _MAX_TAGS:
        return plain(fallback_body)
    try:
        conv = _Converter(reveal_spoilers)
        conv.feed(_normalise(html))
        conv.close()
        text = conv.result()
    except Exception:
        return plain(fallback_body)
    if not text.plain.strip() and fallback_body.strip():
        return plain(fallback_body)
    return text
