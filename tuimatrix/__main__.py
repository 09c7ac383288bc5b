"""The command line: ``tuimatrix [run] | login | logout | accounts | exec | shell | listen |
serve | demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from tuimatrix import __version__
from tuimatrix.cli import accounts as cli_accounts
from tuimatrix.cli import exec as cli_exec
from tuimatrix.cli import listen as cli_listen
from tuimatrix.core.errors import UserError, describe_error
from tuimatrix.core.log_redaction import RedactingFormatter


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``tuimatrix: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("tuimatrix").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"tuimatrix: {where}{message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tuimatrix", description="A terminal client for the Matrix chat network.")
    parser.add_argument("--version", action="version", version=f"tuimatrix {__version__}")
    parser.add_argument("--debug", action="store_true", help="log debugging output to stderr")
    sub = parser.add_subparsers(dest="command")
    cli_accounts.add_subcommands(sub)
    cli_exec.add_subcommands(sub)
    cli_listen.add_subcommand(sub)
    sub.add_parser(
        "serve",
        help="own the profile without a terminal: sync, run hooks, serve exec/shell/listen",
        description="Keep the saved accounts syncing and serve `tuimatrix exec`, `shell` and "
        "`listen` over the profile's local socket until stopped (SIGTERM or Ctrl-C: a clean "
        "close, exit status 0). The app takes the profile over when it starts, and serve "
        "owns it again when the app quits. Logs go to standard error.",
    )
    sub.add_parser("run", help="open the app (the default with no command)")
    sub.add_parser(
        "demo",
        help="start a throwaway local Synapse seeded with demo data, and open the app on it",
    )
    return parser


def _log_to_file(debug: bool) -> None:
    """While the app owns the terminal, log lines go to a file (stderr would garble it)."""
    from tuimatrix.core.files import ensure_private_dir
    from tuimatrix.paths import get_paths

    state = ensure_private_dir(get_paths().state_dir)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(state / "tuimatrix.log", encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def _log_to_stderr(debug: bool) -> None:
    handler = logging.StreamHandler()
    # Every handler redacts: a secret that slipped into a log line is cut from its output.
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])


def _run_app(debug: bool) -> int:
    from tuimatrix.app import TuimatrixApp
    from tuimatrix.cli.app_owner import take_profile
    from tuimatrix.paths import get_paths
    from tuimatrix.screens.image import probe_terminal

    take_profile(get_paths())  # before the terminal is the app's: a refusal is one line
    _log_to_file(debug)
    probe_terminal()  # image support is asked of the terminal before the app owns it
    TuimatrixApp().run()
    return 0


#: Commands that rewrite the profile's sessions: they own the profile while they run (and
#: refuse while another process owns it). ``exec``, ``shell``, ``listen`` and ``serve`` work
#: through the owner or become it (tuimatrix.owner); the app takes the profile over from a
#: headless owner (tuimatrix.cli.app_owner). ``accounts`` only reads files: it stays free.
#: ``demo`` owns its throwaway profile once it has made it (tuimatrix.cli.demo).
OWNING_COMMANDS = frozenset({"login", "logout"})


def _own_profile() -> None:
    from tuimatrix.core.profile_lock import own_profile
    from tuimatrix.paths import get_paths

    own_profile(get_paths())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _log_to_stderr(args.debug)
    # aiosqlite logs every statement with its parameters (message bodies, sealed secrets).
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    if not args.debug:
        # mautrix logs routine conditions as warnings; our own messages say what matters.
        logging.getLogger("mau").setLevel(logging.ERROR)
    try:
        if args.command in OWNING_COMMANDS:
            _own_profile()
        if args.command in cli_accounts.COMMANDS:
            return cli_accounts.run(args)
        if args.command == "listen":
            return cli_listen.run(args)
        if args.command == "serve":
            from tuimatrix.cli.serve import serve_command

            logging.getLogger("tuimatrix").setLevel(logging.DEBUG if args.debug else logging.INFO)
            return serve_command()
        if args.command in cli_exec.COMMANDS:
            if args.command == "shell":
                _log_to_file(args.debug)  # log lines on stderr would garble the prompt
            return cli_exec.run(args)
        if args.command == "demo":
            from tuimatrix.cli.demo import run_demo

            return run_demo(log=lambda: _log_to_file(args.debug))
        return _run_app(args.debug)
    except cli_accounts.UsageError as e:
        print(f"tuimatrix: {e}", file=sys.stderr)
        return 2
    except UserError as e:
        print(f"tuimatrix: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, at a prompt or while waiting: quietly
        return 130
    except EOFError:  # Ctrl-D at a prompt: the user gave up
        return 1
    except Exception as e:  # one line, never a traceback (--debug shows it)
        if args.debug:
            # Through the log, not Python's hook: the traceback is redacted like every line.
            logging.getLogger("tuimatrix").exception("tuimatrix failed")
        print(f"tuimatrix: {describe_error(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
