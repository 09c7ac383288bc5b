"""The process the crash test kills: resume the saved session and sync, forever or until done.

Usage: python crash_receiver.py USER_ID ROOM_ID [UNTIL]
With UNTIL, exit 0 once the room holds UNTIL messages (and no gap is left).
"""

from __future__ import annotations

import asyncio
import sys

from tuimatrix.core.account import Account
from tuimatrix.core.session import load_sessions
from tuimatrix.paths import get_paths


async def main(user_id: str, room_id: str, until: int | None) -> None:
    paths = get_paths()
    [info] = [s for s in load_sessions(paths) if s.user_id == user_id]
    account = await Account.open(info, paths)
    await account.start()
    try:
        while True:
            await asyncio.sleep(0.05)
            if until is None:
                continue
            count = await account.store.count_events(room_id, "m.room.message")
            if count >= until and not await account.store.gaps(room_id):
                return
    finally:
        await account.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None))
