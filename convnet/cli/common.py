"""What every ``convnet`` command shares: the parser that turns a usage error into one line,
the help formatter that shows defaults, the flags spelt one way (--json, --data, --invert) and
stdout kept for the result."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from ..errors import SpecError

EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 70, 130


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's help ends with its default, read from the flag itself, so no help text
    restates one by hand; a default of None (the command decides) or False (a switch) is not
    shown."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), like every other error."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def command(sub, name: str, text: str, handler) -> argparse.ArgumentParser:
    """A subcommand taking --debug too (``convnet CMD ... --debug``)."""
    p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    p.set_defaults(handler=handler)
    return p


def add_json(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as JSON, alone on stdout")


def path_text(text: str) -> str:
    """A file or folder argument: '' (an unset shell variable) must not mean the default.

    >>> path_text("runs/a")
    'runs/a'
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file or folder, got {text!r}")
    return text


def add_data(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--data", dest="data_dir", metavar="DIR", type=path_text, help=text)


def add_invert(p: argparse.ArgumentParser) -> None:
    p.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                   help="the image is dark ink on light paper (--no-invert: light ink on a dark "
                   "background); left out: detected from the image")


def parse_shape(text: str) -> tuple[int, int, int]:
    """'1x32x32' -> (1, 32, 32)."""
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SpecError(f"--input-shape must look like CxHxW, e.g. 1x32x32, got {text!r}") \
            from None
    if min(c, h, w) < 1:
        raise SpecError(f"--input-shape sizes must be positive, got {text!r}")
    return c, h, w


@contextlib.contextmanager
def progress_to_stderr():
    """Lines printed while this runs (a trainer's per-epoch rows, a spawned rank's) go to
    stderr, so that stdout holds the result alone (``--json`` output stays parseable)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)  # file descriptor 1 too: spawned training processes inherit it
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def port_number(text: str) -> int:
    """--port: a whole number 1..65535 (a usage error, exit 2, otherwise)."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1..65535, got {text!r}")
    return int(text)
