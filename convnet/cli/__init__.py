"""The ``convnet`` command: each subcommand is a thin handler over the library.

One module per group of commands: ``define`` (models, summary), ``training`` (train),
``use`` (evaluate, predict, export), ``inside`` (explain, kernels, show, report, serve);
``common`` holds what they share.

Conventions, the same in every command (and in ``convnet --help``):

- ``--out`` is where a command writes: ``train`` the run directory it creates, ``export`` and
  ``report`` one file, ``show`` and ``kernels`` a folder of PNGs.
- ``--data DIR`` is where datasets are (else ``$CONVNET_DATA``, else the download cache).
- ``--json`` prints the result as JSON and nothing else on stdout; progress and notes go to
  stderr, as they do without it.
- Errors become one line on stderr and a distinct exit code (convnet/errors.py,
  docs/errors.md); a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConvnetError, one_line_warnings
from ..version import __version__
from . import define, inside, training, use
from .common import EXIT_INTERNAL, EXIT_INTERRUPTED, Parser

CONVENTIONS = """conventions:
  --out      where a command writes: train the run directory, export and report a file,
             show and kernels a folder
  --data     the folder holding datasets (else $CONVNET_DATA, else the download cache)
  --json     the result as JSON, alone on stdout; progress and notes go to stderr
  errors     one line on stderr and an exit code per kind (docs/errors.md); --debug: traceback
"""


def build_parser() -> Parser:
    parser = Parser(prog="convnet", description="Convolutional networks as the tutorials "
                    "describe them: define, train, evaluate, predict, and see inside.",
                    epilog=CONVENTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"convnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                metavar="COMMAND")
    for group in (define, training, use, inside):  # the order `convnet --help` lists them in
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # `convnet` alone: what it can do, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    one_line_warnings()
    try:
        code = args.handler(args)
    except ConvnetError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `convnet ... | head`: the reader left; that is not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- lives until exit: no flush error
        return 0
    except Exception as e:  # a bug of ours: still one line, with the way to see more
        if args.debug:
            raise
        print(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
