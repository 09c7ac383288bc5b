"""Which events may change others: the checks every view of relations shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_redaction(evt: Mapping[str, Any]) -> bool:
    """A redaction the server checked: a plaintext ``m.room.redaction``. One that arrived
    encrypted was never checked against the sender's power level (anyone could send it)."""
    return evt.get("type") == "m.room.redaction" and "tm_e2ee" not in evt
