"""The command line: ``tuimatrix [run] | login | logout | accounts | demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tuimatrix import __version__
from tuimatrix.core.errors import UserError, describe_error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuimatrix", description="A terminal client for the Matrix chat network."
    )
    parser.add_argument("--version", action="version", version=f"tuimatrix {__version__}")
    parser.add_argument("--debug", action="store_true", help="log debugging output to stderr")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("accounts", help="list saved sessions")
    demo = sub.add_parser("demo", help="start a local Synapse with demo data and log in to it")
    demo.add_argument("--reset", action="store_true", help="start the demo from scratch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.debug:
        # mautrix logs routine conditions as warnings; our own messages say what matters.
        logging.getLogger("mau").setLevel(logging.ERROR)
    try:
        if args.command == "accounts":
            return _accounts()
        if args.command == "demo":
            from tuimatrix.cli_demo import run_demo

            return run_demo(reset=args.reset)
        _parser().print_help()
        return 0
    except UserError as e:
        print(f"tuimatrix: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # one line, never a traceback (--debug shows it)
        if args.debug:
            raise
        print(f"tuimatrix: {describe_error(e)}", file=sys.stderr)
        return 1


def _accounts() -> int:
    from tuimatrix.core.session import load_sessions
    from tuimatrix.paths import get_paths

    sessions = load_sessions(get_paths())
    if not sessions:
        print("no saved sessions")
    for info in sessions:
        print(f"{info.user_id}\t{info.device_id}\t{info.homeserver}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
