"""A found message that is not in the room's loaded timeline, shown read-only with the
messages around it (as the server sent them, in a timeline model of their own), over the
room."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tuimatrix.core.room_timeline import RoomTimeline
from tuimatrix.core.sanitize import plain
from tuimatrix.core.timeline import build_items
from tuimatrix.screens.prompts import _CSS
from tuimatrix.widgets.timeline import TimelineView

NOTE = "not in the loaded timeline: shown with the messages around it (escape closes)"


class MessageContextScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = (
        _CSS.format(name="MessageContextScreen")
        + """
    MessageContextScreen TimelineView { height: 20; }
    MessageContextScreen #context-note { color: $text-muted; }
    """
    )

    def __init__(
        self, title: str, timeline_model: RoomTimeline, event_id: str, message_format: str
    ) -> None:
        """``title`` is already clean; ``timeline_model`` holds ``event_id`` and the events
        around it (:meth:`RoomTimeline.load_context`)."""
        super().__init__()
        self.title_text = title
        self.timeline_model = timeline_model
        self.event_id = event_id
        self.message_format = message_format

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            yield Label(Text(NOTE), id="context-note")
            yield TimelineView()

    def on_mount(self) -> None:
        timeline = self.query_one(TimelineView)
        timeline.set_format(self.message_format)
        model = self.timeline_model
        timeline.set_items(build_items(model.events, model.names, model.account.user_id))
        timeline.focus()
        # Once laid out, so the found message can be scrolled to.
        self.call_after_refresh(timeline.select, self.event_id)

    @property
    def timeline(self) -> TimelineView:
        return self.query_one(TimelineView)
