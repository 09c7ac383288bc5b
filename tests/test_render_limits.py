"""Render limits: what one hostile message can cost the screen (combining marks, tall bodies)."""

from __future__ import annotations

import time
import unicodedata

from tuimatrix.core.sanitize import MAX_COMBINING_MARKS, clean_line, clean_text, html_to_text

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
    timings = []
    for n in (250_000, 1_000_000):
        body = ("a" + ACUTE * 50) * (n // 51) + ACUTE * n  # long runs and many short ones
        start = time.perf_counter()
        clean_text(body)
        timings.append(time.perf_counter() - start)
    # Four times the input: about four times the time (a quadratic cap would be ~16 times).
    assert timings[1] < max(timings[0], 0.01) * 10, timings
