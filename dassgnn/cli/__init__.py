"""The ``dassgnn`` command line: ``collect``, ``records``, ``meta-train``, ``bench`` and ``search``.

Errors are one readable line on stderr with a non-zero exit status (2 for bad
input); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dassgnn.cli import collect, predict, search


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dassgnn`` command."""
    description = (__doc__ or "").splitlines()[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="dassgnn", description=description)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)
    collect.add_parsers(sub)
    predict.add_parsers(sub)
    search.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dassgnn`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its own parser, so that `dassgnn bench --help` lists its options
        return predict.bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv  # for messages that give the command to run again
    try:
        return int(args.func(args))
    except (ValueError, TypeError, KeyError, ImportError, OSError) as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"dassgnn {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
