"""The test helpers that wait on state and compare costs: they must neither pass too early nor
hide a regression."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from helpers import busy, costs_at_most, eventually, palette_search, until, wait_for
from textual.app import App
from textual.command import CommandInput, CommandList, CommandPalette


async def test_wait_for_returns_once_the_condition_holds() -> None:
    flag = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, flag.set)
    await wait_for(flag.is_set, timeout=5)
    assert flag.is_set()


async def test_wait_for_gives_up_at_its_timeout() -> None:
    with pytest.raises(TimeoutError):
        await wait_for(lambda: False, timeout=0.2)


async def test_eventually_fetches_the_condition_until_it_holds() -> None:
    looks = 0

    async def third_time() -> bool:
        nonlocal looks
        looks += 1
        return looks == 3

    await eventually(third_time, timeout=5)
    assert looks == 3
    with pytest.raises(TimeoutError):
        await eventually(lambda: asyncio.sleep(0, result=False), timeout=0.2)


def test_costs_at_most_returns_the_work_s_result() -> None:
    assert costs_at_most(10, lambda: sum(range(10_000)), lambda: "done") == "done"


def test_costs_at_most_fails_work_far_costlier_than_its_baseline() -> None:
    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    with pytest.raises(AssertionError, match="more than 2"):
        costs_at_most(2, lambda: spin(0.002), lambda: spin(0.05))


def test_costs_at_most_measures_with_the_collector_off_and_turns_it_back_on() -> None:
    seen: list[bool] = []
    costs_at_most(10, lambda: None, lambda: seen.append(gc.isenabled()))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        costs_at_most(10, lambda: None, lambda: None)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


async def test_busy_sees_a_group_s_worker_until_it_is_done() -> None:
    release = asyncio.Event()
    app: App[None] = App()
    async with app.run_test() as pilot:
        app.run_worker(release.wait(), group="saving")
        assert busy(app, "saving") and not busy(app, "other")
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not busy(app, "saving")


async def test_until_lets_the_app_handle_its_messages_between_looks() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        shown: list[str] = []
        app.call_later(shown.append, "handled")  # runs only when the app gets to its queue
        await until(pilot, lambda: shown == ["handled"], timeout=5)


async def test_palette_search_returns_with_the_typed_query_searched_and_a_hit_highlighted() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        await palette_search(pilot, "quit")
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        assert palette.query_one(CommandInput).value == "quit"
        hits = palette.query_one(CommandList)
        assert hits.highlighted is not None
        assert "Quit" in str(hits.get_option_at_index(hits.highlighted).prompt)
