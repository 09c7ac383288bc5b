"""Render limits: what one hostile message can cost the screen (combining marks, tall bodies)."""

from __future__ import annotations

import random
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from helpers import costs_at_most, until
from rich.style import Style
from rich.text import Text
from test_widgets_timeline import TimelineApp, item, started, visible

from tuimatrix.config import load_config
from tuimatrix.core.sanitize import MAX_COMBINING_MARKS, clean_line, clean_text, html_to_text
from tuimatrix.core.timeline import FORMATS, message_body
from tuimatrix.widgets.timeline import MAX_BODY_ROWS, TimelineView

ACUTE = "\u0301"


def _longest_mark_run(s: str) -> int:
    longest = run = 0
    for ch in s:
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        longest = max(longest, run)
    return longest


def test_a_character_keeps_at_most_a_few_combining_marks() -> None:
    body = "a" + ACUTE * 200_000 + "b"
    for cleaned in (clean_text(body), clean_line(body), html_to_text(f"<b>{body}</b>", "").plain):
        assert cleaned == "a" + ACUTE * MAX_COMBINING_MARKS + "b"


def test_marks_that_tags_keep_apart_are_capped_where_they_meet() -> None:
    html = "<b>a</b>" + f"<i>{ACUTE * 4}</i>" * 1000 + "<u>b</u>"
    text = html_to_text(html, "")
    assert text.plain == "a" + ACUTE * MAX_COMBINING_MARKS + "b"
    # What stays keeps its style: the bold base, the italic marks, the underlined letter.
    assert [(text.plain[s.start : s.end], str(s.style)) for s in text.spans] == [
        ("a", "bold"),
        (ACUTE * MAX_COMBINING_MARKS, "italic"),
        ("b", "underline"),
    ]


def _styles(text: Text) -> list[Style]:
    """The style of each character of ``text``: its spans combined, in order."""
    styles = [Style.null()] * len(text.plain)
    for span in text.spans:
        for i in range(span.start, span.end):
            styles[i] += Style.parse(span.style) if isinstance(span.style, str) else span.style
    return styles


def _capped(chars: list[tuple[str, Style]]) -> list[tuple[str, Style]]:
    """A plain reference cap: each character with its style, marks past the cap left out."""
    kept, run = [], 0
    for ch, style in chars:
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        if run <= MAX_COMBINING_MARKS:
            kept.append((ch, style))
    return kept


def _reviewers_body(n: int) -> str:
    """The review's hostile body: each base letter followed by marks split over two tags."""
    return f"x<b>{ACUTE * 3}</b><i>{ACUTE * 3}</i>" * n


def test_the_reviewers_body_keeps_four_marks_per_letter_each_in_its_style() -> None:
    n = 2000
    text = html_to_text(_reviewers_body(n), "fallback")
    assert text.plain == ("x" + ACUTE * MAX_COMBINING_MARKS) * n
    bold, italic = Style(bold=True), Style(italic=True)
    assert _styles(text) == [Style.null(), bold, bold, bold, italic] * n


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # Exactly the cap, split over tags: nothing is dropped.
        (f"a<b>{ACUTE * 2}</b><i>{ACUTE * 2}</i>b", "a" + ACUTE * 4 + "b"),
        # One past the cap: the last one goes.
        (f"a<b>{ACUTE * 2}</b><i>{ACUTE * 3}</i>b", "a" + ACUTE * 4 + "b"),
        # Nested tags, the run crossing every boundary.
        (f"<b>a<i>{ACUTE}<u>{ACUTE * 2}</u>{ACUTE}</i>{ACUTE}</b>b", "a" + ACUTE * 4 + "b"),
        # Marks with no base character before them are a run too.
        (f"<b>{ACUTE * 3}</b><i>{ACUTE * 3}</i>b", ACUTE * 4 + "b"),
        # A run split by a tag in a highlighted code block (its text is collected, then written
        # token by token).
        (
            f'<pre><code class="language-python">a<b>{ACUTE * 3}</b>{ACUTE * 3}</code></pre>',
            "a" + ACUTE * 4,
        ),
        # A space ends a run: the marks after it start a new one.
        (f"a<b>{ACUTE * 3}</b> <i>{ACUTE * 6}</i>", "a" + ACUTE * 3 + " " + ACUTE * 4),
    ],
)
def test_a_run_of_marks_split_by_tags_is_capped_once(html: str, expected: str) -> None:
    assert html_to_text(html, "fallback").plain == expected


_TAGS: dict[str, Style] = {
    "b": Style(bold=True),
    "i": Style(italic=True),
    "u": Style(underline=True),
}


def test_marks_split_by_random_nested_tags_match_a_plain_reference_cap() -> None:
    rng = random.Random(12)
    alphabet = "ab" + ACUTE + "\u0302\u0903\ufe0f"  # Mn, Mn, Mc, Mn
    for _ in range(300):
        html, chars = [], []
        for _ in range(rng.randint(1, 12)):
            tags = rng.sample(sorted(_TAGS), rng.randint(0, 3))
            run = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            style = sum((_TAGS[tag] for tag in tags), Style.null())
            html.append(
                "".join(f"<{t}>" for t in tags) + run + "".join(f"</{t}>" for t in tags[::-1])
            )
            chars += [(ch, style) for ch in run]
        text = html_to_text("".join(html), "fallback")
        expected = _capped(chars)
        assert text.plain == "".join(ch for ch, _ in expected), html
        assert _styles(text) == [style for _, style in expected], html


def _lines_run(work: Callable[[], object]) -> int:
    """How many lines of Python ``work`` runs: a measure of its cost that no load can skew."""
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        nonlocal count
        count += event == "line"
        return trace

    before = sys.gettrace()
    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(before)
    return count


def test_capping_marks_split_by_tags_is_linear() -> None:
    html_to_text(_reviewers_body(2), "warm up the patterns")
    small = _lines_run(lambda: html_to_text(_reviewers_body(100), ""))
    large = _lines_run(lambda: html_to_text(_reviewers_body(400), ""))
    # Four times the runs and spans: about four times the work. Cutting each run out of the
    # finished text sliced all its spans each time: sixteen times.
    assert large < small * 6, (small, large)


def test_real_scripts_and_emoji_keep_their_marks() -> None:
    for text in ("Việt Nam", "e\u0301\u0302", "1\ufe0f\u20e3", "हिन्दी", "ཧཱུྃ"):
        assert clean_text(text) == text


def test_every_run_of_marks_is_capped_not_only_the_first() -> None:
    body = "".join(base + "\u0300\u0301\u0302\u0303\u0304\u0305\u0306" for base in "xyz") * 1000
    cleaned = clean_text(body)
    assert _longest_mark_run(cleaned) == MAX_COMBINING_MARKS
    assert len(cleaned) == 3000 * (1 + MAX_COMBINING_MARKS)


def test_the_cap_is_linear_time() -> None:
    clean_text("warm up the pattern")
    # Long runs and many short ones.
    small, large = (("a" + ACUTE * 50) * (n // 51) + ACUTE * n for n in (250_000, 1_000_000))
    # Four times the input: about four times the time (a quadratic cap would be ~16 times).
    costs_at_most(10, lambda: clean_text(small), lambda: clean_text(large))


TALL = "\n".join(f"line {n}" for n in range(30_000))


def all_rows(view: TimelineView) -> list[str]:
    """Every row of the timeline as drawn (not just the visible ones), as plain text."""
    return [view._row(r).text.rstrip() for r in range(view.virtual_size.height)]


async def test_a_tall_message_shows_a_screenful_until_expanded_and_folds_again() -> None:
    items = [item("$a", body="before"), item("$tall", "bob", 1, TALL), item("$b", minute=2)]
    app = TimelineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await started(pilot, items)
        rows = all_rows(view)
        # The sender header, MAX_BODY_ROWS rows of the body, the "more" row; not 30,000.
        assert len(rows) < MAX_BODY_ROWS + 10
        assert f"  line {MAX_BODY_ROWS - 1}" in rows
        assert f"  line {MAX_BODY_ROWS}" not in rows
        assert f"  … {30_000 - MAX_BODY_ROWS:,} more lines" in rows

        view.focus()
        view.select("$tall")
        await pilot.press("space")
        await until(pilot, lambda: view.virtual_size.height > 30_000)
        assert "  line 29999" in all_rows(view)
        assert not any("more lines" in row for row in all_rows(view))

        await pilot.press("space")
        await until(pilot, lambda: view.virtual_size.height < MAX_BODY_ROWS + 10)
        assert view.selected_item is not None and view.selected_item.key == "$tall"
        # Folding it brings it back into view rather than leaving the reader lost below.
        assert "  line 0" in visible(view)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_folded_message_measures_what_it_renders_and_keeps_its_marks(fmt: str) -> None:
    tall = item("$tall", body=TALL, edited=True, e2ee_warning="unverified device")
    long_line = item("$wide", body="word " * 20_000)
    app = TimelineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [tall, long_line])
        view.set_format(fmt)
        await pilot.pause()
        for key in ("$tall", "$wide"):
            i = view._index[key]
            heads = view._heads[i]
            chosen = view._items[i]
            rendered = view.render_item(chosen, date=heads[0], header=heads[1], width=80)
            assert view._blocks[i] == len(rendered) < MAX_BODY_ROWS + 5
        text = "\n".join(all_rows(view))
        # The annotations of the hidden end move to the "more" row: the warning stays seen.
        assert "more lines (edited) ⚠ unverified device" in text


async def test_a_character_with_200k_combining_marks_draws_a_few() -> None:
    body = message_body({"msgtype": "m.text", "body": "a" + "\u0301" * 200_000 + "b"})
    app = TimelineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("$zalgo", body=body)])
        drawn = "".join(strip.text for strip in (view._row(r) for r in range(3)))
        assert drawn.count("\u0301") == MAX_COMBINING_MARKS


async def test_the_rows_shown_come_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[room]\nmax-message-lines = 5\n")
    config = load_config(path)
    assert (config.room.max_message_lines, config.errors) == (5, [])
    path.write_text('[room]\nformat = "irc"\nmax-message-lines = "lots"\n')
    config = load_config(path)
    assert config.room.max_message_lines == MAX_BODY_ROWS
    assert config.errors == [f"{path}:3: max-message-lines: a whole number above 0, not 'lots'"]

    app = TimelineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("$tall", body=TALL)])
        view.set_max_body_rows(5)
        await pilot.pause()
        rows = all_rows(view)
        assert len(rows) == 1 + 1 + 5 + 1  # date line, header, five rows, the "more" row
        assert rows[-1] == f"  … {30_000 - 5:,} more lines"
