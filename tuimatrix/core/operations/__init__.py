"""What the commands ask of an account, one module per spec area.

Built as mautrix builds its client API (``mautrix/client/api/``): each area is a small mixin
over :class:`OperationsBase` (the attributes ``Account`` provides), and :class:`Operations`
composes them; ``Account`` subclasses it, so a caller holds one object. Each operation is one
or two requests through mautrix; messages go through the send queue so that they survive
errors and restarts. Spec references are in the docstrings.
"""

from __future__ import annotations

from tuimatrix.core.operations.base import OperationsBase
from tuimatrix.core.operations.direct import DirectChats
from tuimatrix.core.operations.directory import Directory
from tuimatrix.core.operations.ignoring import Ignoring
from tuimatrix.core.operations.media import Media
from tuimatrix.core.operations.membership import Membership
from tuimatrix.core.operations.messages import Messages
from tuimatrix.core.operations.notifications import ServerNotifications
from tuimatrix.core.operations.profile import Profile
from tuimatrix.core.operations.push_rules import PushRules
from tuimatrix.core.operations.receipts import Receipts
from tuimatrix.core.operations.reporting import Reporting
from tuimatrix.core.operations.rooms import Rooms
from tuimatrix.core.operations.server_state import (
    CREATOR_POWER,
    ServerState,
    creators_of,
    creators_outrank,
    power_level,
)
from tuimatrix.core.operations.spaces import Spaces, child_vias, server_of
from tuimatrix.core.operations.tags import FAVOURITE, LOW_PRIORITY, Tags, normalise_tag
from tuimatrix.core.push_rules import NOTIFICATION_MODES

__all__ = [
    "CREATOR_POWER",
    "FAVOURITE",
    "LOW_PRIORITY",
    "NOTIFICATION_MODES",
    "Operations",
    "OperationsBase",
    "child_vias",
    "creators_of",
    "creators_outrank",
    "normalise_tag",
    "power_level",
    "server_of",
]


class Operations(
    # The parts that build on others come first, so that each one precedes its bases.
    Spaces,
    Rooms,
    Membership,
    DirectChats,
    Media,
    ServerState,
    Messages,
    Tags,
    Receipts,
    ServerNotifications,
    Directory,
    PushRules,
    Reporting,
    Profile,
    Ignoring,
):
    """Everything the commands ask of an account; mixed into ``Account``."""
