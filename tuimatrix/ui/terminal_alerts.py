"""The escape sequences of an alert: terminal notifications, the bell, the title mark.

Pure (no Textual): ``ui/alerts.py`` writes what these return through the driver. An alert's
text came from the network, and here it goes inside an escape sequence, so every field is made
inert first (:func:`sequence_field`): sanitised, then stripped of whatever could end or split
the sequence — ESC, BEL, ST (``\\x9c``) and every other C0/C1 control, and ``;``, which OSC 777
uses between its fields and OSC 9 between a ConEmu sub-command and its arguments. kitty's
OSC 99 payload goes base64-encoded (``e=1``), so its text cannot touch the metadata at all.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from tuimatrix.core.alert_policy import MAX_BODY, MAX_TITLE, capped

OSC = "\x1b]"
BEL = "\x07"
ST = "\x1b\\"
#: The terminal title while nothing is marked.
APP_TITLE = "tuimatrix"
# xterm's title stack (XTWINOPS 22/23, mode 2: the window title), kept by xterm, VTE, kitty,
# foot, WezTerm and tmux: the user's own title comes back when the mark goes; elsewhere the
# sequences are ignored and the title reads "tuimatrix".
_PUSH_TITLE = "\x1b[22;2t"
_POP_TITLE = "\x1b[23;2t"


def sequence_field(text: str, limit: int) -> str:
    """``text`` as one printable line of at most ``limit`` characters, with nothing in it that
    a terminal could read as the end of a sequence or a separator."""
    line = capped(text, limit).replace(";", ",")
    return "".join(ch for ch in line if ch.isprintable())


def terminal_kind(choice: str, env: Mapping[str, str]) -> str | None:
    """The notification sequence to use (``osc9``, ``osc777``, ``osc99``), None for none.

    ``choice`` is the config's ``terminal``; ``auto`` reads the environment. Inside tmux
    ``TERM`` names tmux, but the outer terminal's own variables usually come through.
    """
    if choice != "auto":
        return None if choice == "off" else choice
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if "KITTY_WINDOW_ID" in env or term == "xterm-kitty":
        return "osc99"
    if (
        term.startswith(("foot", "rxvt-unicode", "xterm-ghostty"))
        or program == "ghostty"
        or "GHOSTTY_RESOURCES_DIR" in env
    ):
        return "osc777"
    if (
        program in ("iTerm.app", "WezTerm")
        or env.get("LC_TERMINAL") == "iTerm2"
        or any(name in env for name in ("ITERM_SESSION_ID", "WEZTERM_PANE", "WT_SESSION"))
    ):
        return "osc9"
    return None


def notification(kind: str, title: str, body: str, ident: int) -> str:
    """A desktop notification asked of the terminal: ``title`` and ``body`` (raw text is
    fine: it is made inert here). ``ident`` tells kitty which parts belong together."""
    title, body = sequence_field(title, MAX_TITLE), sequence_field(body, MAX_BODY)
    if kind == "osc9":
        # One text only: "title: body".
        return f"{OSC}9;{title}: {body}{BEL}"
    if kind == "osc777":
        return f"{OSC}777;notify;{title};{body}{BEL}"
    if kind == "osc99":
        b64 = base64.b64encode
        return (
            f"{OSC}99;i={ident}:d=0:e=1:p=title;{b64(title.encode()).decode()}{ST}"
            f"{OSC}99;i={ident}:d=1:e=1:p=body;{b64(body.encode()).decode()}{ST}"
        )
    raise ValueError(f"unknown terminal notification kind {kind!r}")


def through_tmux(sequence: str, env: Mapping[str, str]) -> str:
    """``sequence`` wrapped to reach the terminal outside tmux (tmux must have
    ``allow-passthrough on``; without it tmux drops it, harmlessly)."""
    if "TMUX" not in env:
        return sequence
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + ST


def title_mark(count: int, first: bool) -> str:
    """The terminal title with ``count`` unseen alerts; ``first``: save the user's title."""
    return (_PUSH_TITLE if first else "") + f"{OSC}2;({count}) {APP_TITLE}{BEL}"


def title_restored() -> str:
    """The title as it was before the mark (or plain "tuimatrix" where there is no stack)."""
    return f"{OSC}2;{APP_TITLE}{BEL}{_POP_TITLE}"
