"""Hooks: the user's programs run on the events of the live feed (``[[hooks]]``).

A :class:`HookRunner` subscribes to the feed of every account a hook may use; each event
that passes a hook's filter runs its command (an argv list, no shell) with the event's JSON
on standard input (one line, then end of file) and ``TUIMATRIX_EVENT_ID``,
``TUIMATRIX_ROOM_ID`` and ``TUIMATRIX_ACCOUNT`` in its environment. Each run is a process
group of its own: at its timeout the whole group gets SIGTERM, then SIGKILL, so a hook's
children die with it. At most ``max_running`` run at once; the next ones wait in a bounded
queue, and what overflows it is dropped and reported. Failures (an exit status, a timeout,
a program not found or not executable) are reported through ``report(line)``, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuimatrix.core.event_feed import FeedFilter, FellBehind, Subscription
from tuimatrix.core.hook_config import Hook, HookSettings
from tuimatrix.core.room_names import resolve_room
from tuimatrix.core.safe_json import safe_json
from tuimatrix.core.sanitize import clean_line

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts

#: runs waiting for a free slot before new ones are dropped
MAX_WAITING = 100
#: what is kept of a hook's stdout and stderr (the rest is read and dropped)
OUTPUT_CAP = 64 * 1024
#: (hook, event) pairs remembered so that an event two accounts both see runs a hook once
REMEMBERED_RUNS = 1000
#: after SIGTERM, how long a hook's group has before SIGKILL (seconds)
KILL_GRACE = 2.0

Report = Callable[[str], None]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _read_capped(stream: asyncio.StreamReader | None) -> bytes:
    """All of ``stream`` read, its first :data:`OUTPUT_CAP` bytes kept."""
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < OUTPUT_CAP:
            kept += chunk[: OUTPUT_CAP - len(kept)]
    return bytes(kept)


async def _write_stdin(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """The event on the hook's standard input, then end of file (a hook may not read it)."""
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.close()
        await proc.stdin.wait_closed()


def _last_line(output: bytes) -> str:
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    return clean_line(lines[-1]).strip()[:200] if lines else ""


class HookRunner:
    """Runs ``hooks`` on the events of ``accounts``; ``start()`` to begin, ``stop()`` to end
    (which kills what still runs)."""

    def __init__(self, accounts: Accounts, hooks: HookSettings, report: Report) -> None:
        self._accounts = accounts
        self._settings = hooks
        self._report = report
        #: each hook that runs, with the filter its table became
        self.active: list[tuple[Hook, FeedFilter]] = []
        self._queue: asyncio.Queue[tuple[Hook, dict[str, Any]]] = asyncio.Queue(MAX_WAITING)
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.subprocess.Process] = set()
        #: how many hooks run now, and the most that ran at once (for tests and diagnostics)
        self.running = 0
        self.most_running = 0
        self._queued: OrderedDict[tuple[int, str, bool], None] = OrderedDict()

    def report(self, line: str) -> None:
        self._report(clean_line(line))

    async def start(self) -> None:
        """Resolve the hooks' rooms and accounts, subscribe to the feeds, start the workers.

        A hook whose room or account is unknown is reported and left off."""
        for hook in self._settings.hooks:
            try:
                self.active.append((hook, await self._filter(hook)))
            except Exception as e:  # a UsageError / UserError: one line
                self.report(f"{hook.name}: {getattr(e, 'message', None) or e} (this hook is off)")
        if not self.active:
            return
        wanted = {f.account for _, f in self.active}
        for account in self._accounts:
            if "" in wanted or account.user_id in wanted:
                self._tasks.append(
                    asyncio.create_task(self._follow(account), name=f"hooks {account.user_id}")
                )
        for i in range(self._settings.max_running):
            self._tasks.append(asyncio.create_task(self._work(), name=f"hook worker {i}"))

    async def stop(self) -> None:
        """Stop following the feeds, drop what waits, kill what runs (the whole groups)."""
        for proc in list(self._running):
            _signal_group(proc.pid, signal.SIGKILL)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _filter(self, hook: Hook) -> FeedFilter:
        account: Account | None = None
        if hook.account:
            account = self._accounts.get(hook.account)
            if account is None:
                raise ValueError(f"no account {hook.account} is logged in")
        rooms: frozenset[str] = frozenset()
        if hook.room:
            found, room_id = await resolve_room(self._accounts, hook.room, account)
            rooms = frozenset({room_id})
            account = account or found
        return FeedFilter(
            rooms=rooms,
            types=frozenset({hook.type}) if hook.type else frozenset(),
            senders=frozenset({hook.sender}) if hook.sender else frozenset(),
            mentions=hook.mention,
            notifying=hook.notify,
            keyword=hook.keyword,
            account=account.user_id if account is not None else "",
        )

    async def _follow(self, account: Account) -> None:
        """Queue a run for every hook each event of ``account``'s feed passes."""
        while True:
            subscription: Subscription = account.feed.subscribe()
            try:
                async for event in subscription:
                    for hook, event_filter in self.active:
                        if event_filter.matches(event):
                            self._enqueue(hook, event)
                return  # the account closed
            except FellBehind as e:
                self.report(f"hooks of {account.user_id}: {e}")
            finally:
                subscription.close()

    def _enqueue(self, hook: Hook, event: dict[str, Any]) -> None:
        # The same event seen by two accounts runs a hook once; decrypted late, once more.
        key = (hook.number, str(event.get("event_id") or ""), bool(event.get("late_decryption")))
        if key[1]:
            if key in self._queued:
                return  # another account of the profile saw the same event
            self._queued[key] = None
            while len(self._queued) > REMEMBERED_RUNS:
                self._queued.popitem(last=False)
        try:
            self._queue.put_nowait((hook, event))
        except asyncio.QueueFull:
            self.report(
                f"{hook.name}: not run for {event.get('event_id')}: {MAX_WAITING} runs already wait"
            )

    async def _work(self) -> None:
        while True:
            hook, event = await self._queue.get()
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            try:
                await self.run(hook, event)
            except Exception as e:  # never fatal: the next event runs
                self.report(f"{hook.name}: {e}")
            finally:
                self.running -= 1

    async def run(self, hook: Hook, event: dict[str, Any]) -> int | None:
        """Run ``hook`` on ``event``; its exit status, or None if it did not run or was
        killed. Every failure is reported."""
        env = {
            **os.environ,
            "TUIMATRIX_EVENT_ID": str(event.get("event_id") or ""),
            "TUIMATRIX_ROOM_ID": str(event.get("room_id") or ""),
            "TUIMATRIX_ACCOUNT": str(event.get("account") or ""),
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *hook.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # a process group of its own, killed as one
            )
        except FileNotFoundError:
            self.report(f"{hook.name}: program not found")
            return None
        except PermissionError:
            self.report(f"{hook.name}: program not executable")
            return None
        except OSError as e:
            self.report(f"{hook.name}: cannot run: {e.strerror or e}")
            return None
        self._running.add(proc)
        try:
            line = (safe_json(event) + "\n").encode("utf-8")
            try:
                async with asyncio.timeout(hook.timeout):
                    _, _, err = await asyncio.gather(
                        _write_stdin(proc, line),
                        _read_capped(proc.stdout),
                        _read_capped(proc.stderr),
                    )
                    status = await proc.wait()
            except TimeoutError:
                await self._kill(proc)
                self.report(f"{hook.name}: still running after {hook.timeout:g} s: killed")
                return None
            if status != 0:
                why = _last_line(err)
                self.report(f"{hook.name}: exit status {status}" + (f": {why}" if why else ""))
            return status
        finally:
            self._running.discard(proc)
            if proc.returncode is None:  # cancelled (stop): nothing of it stays
                _signal_group(proc.pid, signal.SIGKILL)
                with contextlib.suppress(asyncio.CancelledError):
                    await proc.wait()

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM to the hook's whole group, then SIGKILL to what is left of it."""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(KILL_GRACE):
                await proc.wait()
        except TimeoutError:
            pass
        # Its children may outlive it (or ignore SIGTERM): the group goes whatever they do.
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
