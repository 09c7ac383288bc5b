"""Delays a server gives (429 ``Retry-After``, ``retry_after_ms``) are clamped where parsed."""

from __future__ import annotations

import math
import time
from email.utils import formatdate
from typing import Any

import pytest

from tuimatrix.core import errors
from tuimatrix.core.errors import retry_after
from tuimatrix.core.http import parse_retry_after

#: what any client could sleep on without looking hung: an hour at most
SANE = 3600.0


def sane(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0 <= value <= SANE)


@pytest.mark.parametrize(
    "header",
    ["inf", "-inf", "Infinity", "nan", "NaN", "1e309", "-1e309", "-5", "99999999999", "junk", " "],
)
def test_absurd_retry_after_headers_give_a_sane_wait(header: str) -> None:
    assert sane(parse_retry_after(header, None)), header


@pytest.mark.parametrize(
    "ms",
    [
        pytest.param(10**400, id="10**400"),
        pytest.param(-(10**400), id="-10**400"),
        *(1e308, -1, float("inf"), float("nan"), "1500", "NaN", True, None),
    ],
)
def test_absurd_retry_after_ms_gives_a_sane_wait(ms: Any) -> None:
    assert sane(parse_retry_after(None, {"retry_after_ms": ms})), ms


def test_retry_after_values_within_range_are_kept() -> None:
    MAX = errors.MAX_SERVER_DELAY
    assert parse_retry_after("7", None) == 7.0
    assert parse_retry_after("2.5", None) == 2.5
    assert parse_retry_after(None, {"retry_after_ms": 1500}) == 1.5
    # The header wins over the body; an unusable header falls back to the body.
    assert parse_retry_after("3", {"retry_after_ms": 9000}) == 3.0
    assert parse_retry_after("inf", {"retry_after_ms": 9000}) == 9.0
    assert parse_retry_after("-5", None) == 0.0
    assert parse_retry_after("1e309", None) == MAX
    assert parse_retry_after(None, {"retry_after_ms": 10**400}) == MAX


def test_retry_after_as_an_http_date() -> None:
    MAX = errors.MAX_SERVER_DELAY
    soon = parse_retry_after(formatdate(time.time() + 30, usegmt=True), None)
    assert soon is not None and 25 <= soon <= 31
    assert parse_retry_after(formatdate(time.time() - 3600, usegmt=True), None) == 0.0
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", None) == MAX


class Limited(Exception):
    def __init__(self, value: object) -> None:
        self.retry_after = value


@pytest.mark.parametrize(
    "value",
    [
        *(float("inf"), float("-inf"), float("nan"), 1e300, -3.0, "inf", "soon"),
        pytest.param(10**400, id="10**400"),
    ],
)
def test_retry_after_of_an_error_is_sane(value: object) -> None:
    """Whatever ended up on an exception, the sync loop never sleeps on it unclamped."""
    assert sane(retry_after(Limited(value)))


def test_the_maximum_is_an_attribute_tests_can_lower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "MAX_SERVER_DELAY", 1.0)
    assert parse_retry_after("600", None) == 1.0


@pytest.mark.parametrize("header", [None, "inf", "soon"])
def test_a_rate_limit_is_always_try_again_later(header: str | None) -> None:
    """Whatever its delay said, a 429 must leave a message queued, never mark it failed."""
    from mautrix.errors import make_request_error

    from tuimatrix.core.errors import is_connection_error

    err = make_request_error(429, "", "M_LIMIT_EXCEEDED", "slow down")
    err.retry_after = parse_retry_after(header, None)  # type: ignore[attr-defined]
    assert is_connection_error(err)
