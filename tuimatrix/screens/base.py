"""Typed access to the app from screens and widgets."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp


class UsesApp:
    """Mixed into our screens: ``self.tm`` is ``self.app``, typed as the tuimatrix app."""

    @property
    def tm(self) -> TuimatrixApp:
        return cast("TuimatrixApp", self.app)  # type: ignore[attr-defined]
