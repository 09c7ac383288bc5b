"""Which events change others, and how: the rules every view of relations shares.

Edits (``m.replace``), redactions, reactions and thread replies are decided here once, so the
room timeline, the thread view, the commands and the store agree on them. One module per kind:

- :mod:`.kinds`: the shape of relations (which event relates to which, and how; a checked
  redaction's target included)
- :mod:`.edits`: the edit that is shown (newest valid ``m.replace`` by the original's sender)
- :mod:`.redactions`: who may remove what, and which redactions a view applies
- :mod:`.reactions`: who reacted to what, each sender counted once
- :mod:`.threads`: thread membership and summaries
"""

from __future__ import annotations

from tuimatrix.core.relations.edits import (
    Edits,
    bundled_edit,
    edit_order,
    edit_target,
    new_content,
    newest_edit,
    shown_content,
    shown_edits,
)
from tuimatrix.core.relations.kinds import (
    ANNOTATION,
    EDIT,
    REDACTION,
    THREAD,
    content_of,
    is_redaction,
    is_relation,
    redaction_target,
    relates_to,
    relation,
    relation_targets,
    reply_target,
)
from tuimatrix.core.relations.reactions import Reactions, reactions
from tuimatrix.core.relations.redactions import may_redact, shown_redactions
from tuimatrix.core.relations.threads import (
    ThreadSummary,
    relates_to_any,
    thread_bundle,
    thread_root,
    thread_summaries,
)

__all__ = [
    "ANNOTATION",
    "EDIT",
    "REDACTION",
    "THREAD",
    "Edits",
    "Reactions",
    "ThreadSummary",
    "bundled_edit",
    "content_of",
    "edit_order",
    "edit_target",
    "is_redaction",
    "is_relation",
    "may_redact",
    "new_content",
    "newest_edit",
    "reactions",
    "redaction_target",
    "relates_to",
    "relates_to_any",
    "relation",
    "relation_targets",
    "reply_target",
    "shown_content",
    "shown_edits",
    "shown_redactions",
    "thread_bundle",
    "thread_root",
    "thread_summaries",
]
