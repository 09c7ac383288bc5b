"""A message body from standard input: ``tuimatrix exec 'send --room R -' < note.txt``.

The client side of ``-``: whether a command line asks for standard input (by the registry's
own rule, :func:`tuimatrix.commands.stdin_param`), and the body read from it — UTF-8, not
empty, and no larger than a Matrix event may be, so a wrong pipe fails with one clear line
before anything is sent.
"""

from __future__ import annotations

from typing import Any, BinaryIO, TextIO

from tuimatrix.core.errors import UsageError

#: The most standard input may hold: the spec's event size limit (64 KiB, the whole event
#: included; a body this large is refused by the server anyway).
MAX_BODY_BYTES = 65536


def wants_stdin(line: str) -> bool:
    """Whether the command line gives a bare ``-`` where a text (a message, a topic…) goes.

    A line that does not parse asks for nothing: running it reports the usage error.
    """
    from tuimatrix.commands import parse_line, stdin_param

    try:
        cmd, args = parse_line(line)
    except UsageError:
        return False
    return stdin_param(cmd, args) is not None


def read_body(stream: BinaryIO | TextIO) -> str:
    """All of ``stream`` as a message body (its final line break dropped: the one ``echo``
    adds); a UsageError naming the problem if it is not UTF-8, too large or blank."""
    # The bytes under a text stream (sys.stdin), so that bad UTF-8 is ours to report.
    source: Any = getattr(stream, "buffer", stream)
    data = source.read(MAX_BODY_BYTES + 1)
    if isinstance(data, str):  # a text stream without bytes under it (a StringIO)
        data = data.encode("utf-8")
    if len(data) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"standard input: not UTF-8 (byte {e.start}: invalid)") from None
    return check_body(text.removesuffix("\n").removesuffix("\r"))


def check_body(text: str) -> str:
    """``text`` if it can be a body read from standard input; UsageError if it is blank."""
    if not text.strip():
        raise UsageError("standard input is empty: nothing to send (`-` reads the text from it)")
    if len(text.encode("utf-8")) > MAX_BODY_BYTES:
        raise _too_large()
    return text


def _too_large() -> UsageError:
    return UsageError(
        f"standard input: more than {MAX_BODY_BYTES // 1024} KiB, the most a Matrix event may hold"
    )
