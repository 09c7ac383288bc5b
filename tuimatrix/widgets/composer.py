"""The message composer: a growing text area where enter sends and shift+enter breaks the line.

Tab after ``@na`` or ``#al`` completes a member or a room alias (again: the next candidate); the
completed name becomes a pill (a mention) when the message is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from tuimatrix.core.completion import Candidate, mention_candidates, mention_word
from tuimatrix.core.compose import Outgoing, composer_message
from tuimatrix.core.errors import UserError
from tuimatrix.core.markdown import pill_pattern

#: keys that insert a line break instead of sending. Terminals report shift/alt+enter in several
#: spellings: kitty protocol ("shift+enter"), xterm modifyOtherKeys ("shift+\r"), and ctrl+j is
#: the bare line feed every terminal can send.
NEWLINE_KEYS = frozenset({"shift+enter", "alt+enter", "ctrl+j", "shift+\r", "alt+\r"})


#: Gives the room's members (user id → display name) and the room aliases known.
Mentionables = Callable[[], tuple[Mapping[str, str], Iterable[str]]]


def _no_mentionables() -> tuple[Mapping[str, str], Iterable[str]]:
    return {}, []


class Composer(TextArea):
    """Where a message is written: enter submits, history recall with up/down like a shell."""

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 1;
        /* eight lines of text plus the two border rows; compact has no border */
        max-height: 10;
        &.-textual-compact { max-height: 8; }
    }
    """

    #: seconds between two Typing messages while the user keeps typing
    TYPING_INTERVAL: ClassVar[float] = 4.0
    #: sent messages kept for recall
    HISTORY_SIZE: ClassVar[int] = 100

    @dataclass
    class Submitted(Message):
        """The user pressed enter on a non-blank message."""

        text: str
        #: what to send: markdown, emote, mentions (see ``core.compose``)
        message: Outgoing

    @dataclass
    class Refused(Message):
        """Enter on text that cannot be sent (an unknown ``/command``): it stays in place."""

        reason: str

    class Typing(Message):
        """The user is typing (posted at most every ``TYPING_INTERVAL`` seconds)."""

    class StoppedTyping(Message):
        """The user emptied the composer or sent the message, after a :class:`Typing`."""

    def __init__(
        self,
        text: str = "",
        *,
        placeholder: str = "Send a message…",
        compact: bool = False,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            text,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            highlight_cursor_line=False,
            placeholder=placeholder,
            compact=compact,
            name=name,
            id=id,
            classes=classes,
            disabled=disabled,
        )
        #: the clock the typing throttle reads (tests replace it)
        self.clock: Callable[[], float] = time.monotonic
        self._typing_since: float | None = None
        self._history: list[str] = []
        # Index into _history while recalling; None when editing a fresh message.
        self._recall: int | None = None
        # Text we loaded ourselves: its Changed message is not the user typing.
        self._loaded: str | None = None
        #: the room's members (user id → display name) and the room aliases known, for tab
        #: completion; read at each tab, so the screen's current names are used
        self.mentionables: Mentionables = _no_mentionables
        # Completed names in the draft → the Matrix id each mentions; per sent message too.
        self._pills: dict[str, str] = {}
        self._sent_pills: dict[str, dict[str, str]] = {}
        # The completion tab cycles through: candidates, index, where the insertion starts.
        self._cycle: tuple[list[Candidate], int, tuple[int, int], str] | None = None

    @property
    def sent_history(self) -> list[str]:
        """Sent messages, oldest first (a copy); ``history`` is TextArea's undo history."""
        return list(self._history)

    def submit(self) -> None:
        """Post :class:`Submitted` with the text and clear, unless the text is blank."""
        # Trailing whitespace and blank leading lines are never meant to be sent.
        text = self.text.rstrip().lstrip("\n")
        if not text.strip():
            return
        pills = self.pills
        try:
            message = composer_message(text, pills)
        except UserError as e:
            self.post_message(self.Refused(str(e)))
            return
        except Exception as e:  # a bug in formatting must not crash the app and lose the draft
            self.post_message(self.Refused(f"could not send this text: {type(e).__name__}"))
            return
        self.post_message(self.Submitted(text, message))
        if not self._history or self._history[-1] != text:
            self._history.append(text)
            del self._history[: -self.HISTORY_SIZE]
        self._sent_pills[text] = pills
        for old in set(self._sent_pills) - set(self._history):
            del self._sent_pills[old]
        self._recall = None
        self._stop_typing()
        self._load("")

    def restore(self, text: str) -> None:
        """Put back a submitted message that could not be queued, before anything typed since
        (it was never sent: it leaves the sent history)."""
        typed = self.text
        self._load(f"{text}\n{typed}" if typed.strip() else text)
        if self._history and self._history[-1] == text:
            self._history.pop()

    async def _on_key(self, event: events.Key) -> None:
        # Runs before TextArea._on_key (MRO order); prevent_default() keeps that one from
        # inserting its own "\n" for enter. Other keys fall through to it untouched.
        if self.read_only:
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
        elif event.key == "tab" and self.complete():
            event.stop()
            event.prevent_default()
        elif event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self.replace("\n", start, end, maintain_selection_offset=False)

    @property
    def pills(self) -> dict[str, str]:
        """The completed names still in the text → the ids they mention."""
        text = self.text
        return {n: t for n, t in self._pills.items() if pill_pattern(n).search(text)}

    def complete(self) -> bool:
        """Complete the ``@``/``#`` word at the cursor, or the next candidate on a second tab.

        False when there is nothing to complete (tab then moves the focus, as usual).
        """
        row, col = self.cursor_location
        if self._cycle is not None:
            candidates, index, start, inserted = self._cycle
            end = (start[0], start[1] + len(inserted))
            if (row, col) == end and self.get_text_range(start, end) == inserted:
                index = (index + 1) % len(candidates)
                self._insert(candidates, index, start, end)
                return True
        line = self.document.get_line(row)[:col]
        word = mention_word(line)
        if word is None:
            return False
        candidates = mention_candidates(word, *self.mentionables())
        if not candidates:
            return False
        start = (row, col - len(word))
        self._insert(candidates, 0, start, (row, col))
        return True

    def _insert(
        self,
        candidates: list[Candidate],
        index: int,
        start: tuple[int, int],
        end: tuple[int, int],
    ) -> None:
        candidate = candidates[index]
        # "Name: " opens a message addressed to someone, as other clients write it.
        at_start = start == (0, 0) and candidate.target.startswith("@")
        inserted = candidate.text + (": " if at_start else " ")
        self.replace(inserted, start, end, maintain_selection_offset=False)
        if self._cycle is not None and self._cycle[2] == start:
            # The name this tab replaces was no pill choice after all, unless it stands elsewhere.
            replaced = self._cycle[0][self._cycle[1]].text
            if not pill_pattern(replaced).search(self.text):
                self._pills.pop(replaced, None)
        if candidate.target != "@room":  # @room is a keyword, not a link
            self._pills[candidate.text] = candidate.target
        self._cycle = (candidates, index, start, inserted)

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area is not self:
            return
        text = self.text
        loaded, self._loaded = self._loaded, None
        if not text:
            self._stop_typing()
        elif text != loaded:
            self._typing()

    def action_cursor_up(self, select: bool = False) -> None:
        """Up on the first line of an empty composer recalls the previous sent message."""
        if select or not self.navigator.is_first_wrapped_line(self.cursor_location):
            super().action_cursor_up(select)
        elif not self._step_history(-1):
            super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        """Down on the last line of a recalled message goes forward, then back to empty."""
        if select or not self.navigator.is_last_wrapped_line(self.cursor_location):
            super().action_cursor_down(select)
        elif not self._step_history(+1):
            super().action_cursor_down(select)

    def _step_history(self, step: int) -> bool:
        """Move through the history; False when this key should move the cursor instead."""
        recalling = self._recall is not None and self.text == self._history[self._recall]
        if not recalling:
            # Only an empty composer starts a recall: never overwrite a draft.
            if step > 0 or self.text or not self._history:
                return False
            self._recall = len(self._history)
        assert self._recall is not None
        target = self._recall + step
        if target < 0:
            return True  # at the oldest: stay there
        if target >= len(self._history):
            self._recall = None
            self._load("")
            return True
        self._recall = target
        self._load(self._history[target])
        return True

    def _load(self, text: str) -> None:
        self._loaded = text
        self._pills = dict(self._sent_pills.get(text, {}))
        self._cycle = None
        self.load_text(text)
        self.move_cursor(self.document.end)

    def _typing(self) -> None:
        now = self.clock()
        if self._typing_since is None or now - self._typing_since >= self.TYPING_INTERVAL:
            self._typing_since = now
            self.post_message(self.Typing())

    def _stop_typing(self) -> None:
        if self._typing_since is not None:
            self._typing_since = None
            self.post_message(self.StoppedTyping())
