"""Small modal prompts the commands use: pick a room or an account, type a value, confirm."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.room_names import best_score, fuzzy_score, nameable_rooms, room_label
from tuimatrix.core.sanitize import clean_line, clean_text, plain

_CSS = """
{name} {{ align: center top; }}
{name} > Vertical {{
    width: 80%; max-width: 100; height: auto; max-height: 80%;
    margin-top: 2; padding: 0 1; border: round $accent; background: $surface;
}}
{name} OptionList {{ height: auto; max-height: 20; border: none; }}
"""


class RoomPickerScreen(ModalScreen[tuple[Account, str] | None]):
    """Fuzzy search over the rooms of one account, or of all."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]
    DEFAULT_CSS = _CSS.format(name="RoomPickerScreen")

    def __init__(
        self,
        title: str,
        accounts: Accounts,
        account: Account | None = None,
        *,
        spaces_only: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.candidates: list[tuple[Account, str, str]] = []
        several = account is None and len(accounts) > 1
        for acc, room in nameable_rooms(accounts, account, spaces_only=spaces_only):
            label = room_label(acc, room.room_id)
            if several:
                label += f"  ({clean_line(acc.user_id)})"
            self.candidates.append((acc, room.room_id, label))
        self.candidates.sort(key=lambda c: -acc_latest(c[0], c[1]))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            yield Input(placeholder="type part of a room's name", id="query")
            yield OptionList(id="rooms")

    def on_mount(self) -> None:
        self._filter("")
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def _filter(self, query: str) -> None:
        scored = []
        for i, (acc, room_id, label) in enumerate(self.candidates):
            alias = acc.rooms.summaries[room_id].canonical_alias or ""
            score = best_score(query, (label, alias))
            if score is not None:
                scored.append((score, i))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(Option(Text(self.candidates[i][2]), id=str(i)) for _, i in scored[:200])
        if scored:
            options.highlighted = 0

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted or 0
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    @on(Input.Submitted)
    def _submit(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and options.option_count:
            self._pick(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option.id)

    def _pick(self, option_id: str | None) -> None:
        if option_id is not None:
            acc, room_id, _ = self.candidates[int(option_id)]
            self.dismiss((acc, room_id))


def acc_latest(account: Account, room_id: str) -> int:
    room = account.rooms.summaries.get(room_id)
    return room.latest_ts if room else 0


class AccountPickerScreen(ModalScreen[Account | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = _CSS.format(name="AccountPickerScreen")

    def __init__(self, title: str, accounts: Accounts) -> None:
        super().__init__()
        self.title_text = title
        self.accounts = list(accounts)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            yield OptionList(
                *(
                    Option(Text(clean_line(a.user_id)), id=str(i))
                    for i, a in enumerate(self.accounts)
                )
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(self.accounts[int(event.option.id)])


class TextPromptScreen(ModalScreen[str | None]):
    """One value: free text with a fuzzy-filtered list of suggestions, or a fixed choice.

    Typing filters the suggestions; ↑ ↓ pick one, and enter takes the picked suggestion, or
    else the text as typed (a value not in the list is allowed).
    """

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]
    DEFAULT_CSS = _CSS.format(name="TextPromptScreen")

    def __init__(
        self,
        title: str,
        *,
        suggestions: Sequence[str] = (),
        choices: tuple[str, ...] = (),
        initial: str = "",
        secret: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.suggestions = list(suggestions)
        self.choices = choices
        self.initial = initial
        #: a password or key: typed blind
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            if self.choices:
                yield OptionList(*(Option(plain(c), id=c) for c in self.choices))
            else:
                # An edit starts from a message's text: Input draws its value's controls raw.
                yield Input(value=clean_text(self.initial), password=self.secret)
                if self.suggestions:
                    yield OptionList(id="suggestions")

    def on_mount(self) -> None:
        if self.choices:
            options = self.query_one(OptionList)
            options.highlighted = 0  # enter takes the first choice, down moves on
            options.focus()
        else:
            self.query_one(Input).focus()
            self._filter(self.initial)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def _filter(self, query: str) -> None:
        if not self.suggestions or self.choices:
            return
        scored = [
            (score, i, s)
            for i, s in enumerate(self.suggestions)
            if (score := fuzzy_score(query, s)) is not None
        ]
        scored.sort(key=lambda t: (-t[0], t[1]))
        options = self.query_one("#suggestions", OptionList)
        options.clear_options()
        options.add_options(Option(Text(clean_line(s)), id=s) for _, _, s in scored[:100])
        options.highlighted = None  # nothing picked until the user moves into the list

    def action_move(self, step: int) -> None:
        if self.choices or not self.suggestions:
            return
        options = self.query_one("#suggestions", OptionList)
        if options.option_count:
            current = options.highlighted
            start = -1 if current is None else current
            options.highlighted = max(0, min(options.option_count - 1, start + step))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        if self.suggestions:
            options = self.query_one("#suggestions", OptionList)
            if options.highlighted is not None:
                self.dismiss(options.get_option_at_index(options.highlighted).id)
                return
        self.dismiss(event.value.strip() or None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "dismiss(True)", "Yes"),
        Binding("n", "dismiss(False)", "No"),
        Binding("escape", "dismiss(False)", "No"),
    ]
    DEFAULT_CSS = _CSS.format(name="ConfirmScreen")

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text.assemble((clean_line(self.question), "bold"), ("  [y]es / [n]o", "dim"))
            )
