"""Composer: enter sends, the shifted enters break lines, typing is throttled, history recalls."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input

from tuimatrix.core.compose import Outgoing
from tuimatrix.widgets.composer import Composer


class ComposerApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.messages: list[Outgoing] = []
        self.refused: list[str] = []
        self.typing = 0
        self.stopped = 0

    def compose(self) -> ComposeResult:
        yield Composer()
        yield Input(id="elsewhere")

    def on_composer_submitted(self, message: Composer.Submitted) -> None:
        self.sent.append(message.text)
        self.messages.append(message.message)

    def on_composer_refused(self, message: Composer.Refused) -> None:
        self.refused.append(message.reason)

    def on_composer_typing(self, _message: Composer.Typing) -> None:
        self.typing += 1

    def on_composer_stopped_typing(self, _message: Composer.StoppedTyping) -> None:
        self.stopped += 1


async def focused(pilot: Pilot[None]) -> tuple[ComposerApp, Composer]:
    app = pilot.app
    assert isinstance(app, ComposerApp)
    composer = app.query_one(Composer)
    composer.focus()
    await pilot.pause()
    return app, composer


async def test_enter_submits_and_clears() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press(*"hi there")
        await pilot.press("enter")
        assert app.sent == ["hi there"]
        assert composer.text == ""


@pytest.mark.parametrize("key", ["shift+enter", "alt+enter", "ctrl+j"])
async def test_shifted_enters_insert_a_line_break(key: str) -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press("a", key, "b")
        assert composer.text == "a\nb"
        assert app.sent == []
        await pilot.press("enter")
        assert app.sent == ["a\nb"]


async def test_blank_enter_posts_nothing() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press("enter")
        await pilot.press("space", "space", "ctrl+j", "enter")
        assert app.sent == []
        assert composer.text == "  \n"


async def test_sent_text_loses_trailing_blank_lines() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, _composer = await focused(pilot)
        await pilot.press("ctrl+j", "x", "ctrl+j", "ctrl+j", "enter")
        assert app.sent == ["x"]


async def test_typing_is_posted_at_most_every_four_seconds() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        now = [100.0]
        composer.clock = lambda: now[0]
        await pilot.press("a", "b", "c")
        assert app.typing == 1
        now[0] += 3.9
        await pilot.press("d")
        assert app.typing == 1
        now[0] += 0.2
        await pilot.press("e")
        assert app.typing == 2
        assert app.stopped == 0


async def test_stopped_typing_when_emptied_or_sent() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, _composer = await focused(pilot)
        await pilot.press("a", "backspace")
        assert (app.typing, app.stopped) == (1, 1)
        # Typing again right away counts: the stop reset the throttle.
        await pilot.press("b", "enter")
        assert (app.typing, app.stopped) == (2, 2)
        assert app.sent == ["b"]
        await pilot.press("enter")
        assert app.stopped == 2


async def test_up_and_down_walk_the_history_like_a_shell() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press("o", "n", "e", "enter", "t", "w", "o", "enter")
        assert app.sent == ["one", "two"]
        await pilot.press("up")
        assert composer.text == "two"
        await pilot.press("up")
        assert composer.text == "one"
        await pilot.press("up")
        assert composer.text == "one"
        await pilot.press("down")
        assert composer.text == "two"
        await pilot.press("down")
        assert composer.text == ""
        # Recalled text is not the user typing.
        assert app.typing == 2
        await pilot.press("up", "enter")
        assert app.sent == ["one", "two", "two"]
        assert composer.sent_history == ["one", "two"]


async def test_up_never_replaces_a_draft() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        _app, composer = await focused(pilot)
        await pilot.press("o", "n", "e", "enter")
        await pilot.press("d", "r", "a", "f", "t", "up")
        assert composer.text == "draft"
        # In a multi-line message, up moves the cursor before it reaches history.
        composer.load_text("")
        await pilot.press("up", "ctrl+j", "x")
        assert composer.text == "one\nx"
        await pilot.press("up")
        assert composer.text == "one\nx"
        assert composer.cursor_location[0] == 0


async def test_grows_with_its_text_up_to_eight_lines() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        _app, composer = await focused(pilot)
        assert composer.content_region.height == 1
        await pilot.press("a", "ctrl+j", "b")
        await pilot.pause()
        assert composer.content_region.height == 2
        for _ in range(10):
            await pilot.press("ctrl+j", "c")
        await pilot.pause()
        assert composer.content_region.height == 8


MEMBERS = {"@alice:x": "Alice", "@alfred:x": "Alfred", "@bob:x": "Bob"}


async def test_tab_completes_a_member_into_a_pill() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        composer.mentionables = lambda: (MEMBERS, ["#lobby:x"])
        await pilot.press(*"ask @bo", "tab")
        assert composer.text == "ask Bob "
        await pilot.press(*"about #lob", "tab", *"**now**", "enter")
        assert app.sent == ["ask Bob about #lobby:x **now**"]
        message = app.messages[0]
        assert message.user_ids == ("@bob:x",)
        assert message.html == (
            '<p>ask <a href="https://matrix.to/#/@bob:x">Bob</a> about '
            '<a href="https://matrix.to/#/#lobby:x">#lobby:x</a> <strong>now</strong></p>'
        )
        # Recalled from the history, the message keeps its pills.
        await pilot.press("up", "enter")
        assert app.messages[1] == message


async def test_tab_again_cycles_and_a_message_opens_with_name_colon() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        composer.mentionables = lambda: (MEMBERS, [])
        await pilot.press("@", "a", "l", "tab")
        assert composer.text == "Alfred: "
        await pilot.press("tab")
        assert composer.text == "Alice: "
        await pilot.press("tab")
        assert composer.text == "Alfred: "
        await pilot.press(*"hi", "enter")
        assert app.messages[0].user_ids == ("@alfred:x",)
        # A name typed by hand is not a mention.
        await pilot.press(*"Alice hi", "enter")
        assert app.messages[1] == Outgoing("Alice hi")


async def test_tab_with_nothing_to_complete_moves_the_focus() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        _app, composer = await focused(pilot)
        composer.mentionables = lambda: (MEMBERS, [])
        await pilot.press(*"@zed", "tab")
        assert composer.text == "@zed"
        assert isinstance(pilot.app.focused, Input)


async def test_unknown_slash_command_is_refused_and_kept() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press(*"/frobnicate now", "enter")
        assert app.sent == []
        assert app.refused and "unknown command /frobnicate" in app.refused[0]
        assert composer.text == "/frobnicate now"
        composer.load_text("")
        await pilot.press(*"/me waves", "enter")
        assert app.messages == [Outgoing("waves", emote=True)]


async def test_private_use_characters_are_sent_as_typed() -> None:
    # U+E000/U+E001 are Nerd Font glyphs a user can type; the markdown pass once crashed on them.
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        composer.mentionables = lambda: (MEMBERS, [])
        await pilot.press(*"@bo", "tab")
        composer.insert("\ue0007\ue001 **x**")
        await pilot.press("enter")
        assert app.refused == []
        assert app.sent == ["Bob: \ue0007\ue001 **x**"]
        assert app.messages[0].user_ids == ("@bob:x",)


async def test_a_formatting_failure_is_refused_and_the_draft_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> Outgoing:
        raise IndexError("list index out of range")

    monkeypatch.setattr("tuimatrix.widgets.composer.composer_message", broken)
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        await pilot.press(*"my long draft", "enter")
        assert app.sent == []
        assert app.refused == ["could not send this text: IndexError"]
        assert composer.text == "my long draft"


async def test_cycling_past_a_name_drops_its_pill() -> None:
    async with ComposerApp().run_test(size=(80, 24)) as pilot:
        app, composer = await focused(pilot)
        composer.mentionables = lambda: (MEMBERS, [])
        await pilot.press(*"hi @al", "tab", "tab")
        assert composer.text == "hi Alice "
        # "Alfred" typed by hand later is not the pill the first tab made.
        await pilot.press(*"and Alfred", "enter")
        assert app.messages[0].user_ids == ("@alice:x",)
