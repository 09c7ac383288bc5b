"""Threads (spec "Threading"): which thread an event belongs to, and each thread's summary.

A thread reply is an event whose ``m.relates_to`` has ``rel_type: m.thread`` and the root's
``event_id``. Counts combine the server's bundled aggregation (``unsigned.m.relations.m.thread``)
with the replies loaded since it was computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tuimatrix.core.relations.edits import Edits
from tuimatrix.core.relations.kinds import THREAD, relates_to, relation
from tuimatrix.core.relations.redactions import shown_redactions


def thread_root(evt: Mapping[str, Any]) -> str | None:
    """The root's event id if ``evt`` (an event, or a message's content) is a thread reply."""
    relates = relates_to(evt) or relates_to({"content": evt})
    root = relates.get("event_id")
    return root if relates.get("rel_type") == THREAD and isinstance(root, str) else None


def relates_to_any(evt: Mapping[str, Any], event_ids: set[str]) -> bool:
    """Whether ``evt`` edits, reacts to or redacts one of ``event_ids``."""
    rel = relation(evt)
    return rel is not None and rel[0] != THREAD and rel[1] in event_ids


def thread_bundle(evt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The thread summary the server bundled with a root (``unsigned.m.relations.m.thread``)."""
    unsigned = evt.get("unsigned")
    relations = unsigned.get("m.relations") if isinstance(unsigned, dict) else None
    bundle = relations.get(THREAD) if isinstance(relations, dict) else None
    return bundle if isinstance(bundle, dict) else None


@dataclass(slots=True)
class ThreadSummary:
    count: int = 0
    latest: Mapping[str, Any] | None = None
    #: ids of the replies among the loaded events, oldest first
    loaded: list[str] = field(default_factory=list)


def thread_summaries(events: Iterable[Mapping[str, Any]]) -> dict[str, ThreadSummary]:
    """Root id → summary, for every thread with a root or a reply among ``events`` (in order).

    The bundle counts the replies up to its ``latest_event``; loaded replies after that one
    are newer and add to it. Without that anchor, the larger of the two counts is the best
    guess (the bundle may be stale, the loaded replies may be few). The latest reply is
    quoted as shown: its newest edit (:class:`Edits`), or nothing once deleted.
    """
    events = events if isinstance(events, (list, tuple)) else list(events)
    replies: dict[str, list[Mapping[str, Any]]] = {}
    bundles: dict[str, dict[str, Any]] = {}
    for evt in events:
        root = thread_root(evt)
        if root is not None:
            replies.setdefault(root, []).append(evt)
        bundle = thread_bundle(evt)
        if bundle is not None and isinstance(evt.get("event_id"), str):
            bundles[str(evt["event_id"])] = bundle
    if not replies and not bundles:
        return {}
    # Taken back as the thread's own view takes them back (build_items' rule).
    redacted = shown_redactions(events, {str(e.get("event_id")): e for e in events})
    edits = Edits(events, redacted)
    out: dict[str, ThreadSummary] = {}
    for root in replies.keys() | bundles.keys():
        loaded = [e for e in replies.get(root, []) if e.get("event_id") not in redacted]
        ids = [str(e.get("event_id")) for e in loaded]
        bundle = bundles.get(root, {})
        count = bundle.get("count")
        count = count if isinstance(count, int) and count >= 0 else 0
        latest = bundle.get("latest_event")
        latest = latest if isinstance(latest, dict) else None
        anchor = latest.get("event_id") if latest else None
        if anchor in ids:
            count += len(ids) - ids.index(anchor) - 1
        else:
            count = max(count, len(ids))
        if loaded:
            latest = loaded[-1]
            if edits.shown(latest) is not None:
                latest = {**latest, "content": edits.shown_content(latest)}
        elif latest is not None and latest.get("event_id") in redacted:
            latest = {**latest, "content": {}}  # the bundle quotes a reply since deleted
        if count:
            out[root] = ThreadSummary(count, latest, ids)
    return out
