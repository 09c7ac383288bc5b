"""Ignoring users (spec "Ignoring Users"): the ``m.ignored_user_list`` account data."""

from __future__ import annotations

from tuimatrix.core.operations.base import OperationsBase, as_json


class Ignoring(OperationsBase):
    async def ignored_users(self) -> list[str]:
        try:
            resp = await self.client.get_account_data("m.ignored_user_list")
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return []
            raise
        ignored = resp.get("ignored_users") if isinstance(resp, dict) else None
        return sorted(ignored) if isinstance(ignored, dict) else []

    async def ignore_user(self, user_id: str) -> None:
        await self._set_ignored(set(await self.ignored_users()) | {user_id})

    async def unignore_user(self, user_id: str) -> None:
        await self._set_ignored(set(await self.ignored_users()) - {user_id})

    async def _set_ignored(self, users: set[str]) -> None:
        await self.client.set_account_data(
            "m.ignored_user_list", as_json({"ignored_users": {u: {} for u in sorted(users)}})
        )
