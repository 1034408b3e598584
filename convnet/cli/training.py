"""``convnet train``: its flags are ``TrainConfig``'s fields, and stdout holds only the result."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields

from ..errors import ConvnetError
from .common import add_json, command, parse_shape, progress_to_stderr


def train_values(args) -> dict:
    """The TrainConfig fields given on the command line; a flag left out is absent."""
    from ..train import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if getattr(args, f.name, None) is not None}
    if args.input_shape:
        values["input_shape"] = list(parse_shape(args.input_shape))
    return values


def cmd_train(args) -> None:
    with progress_to_stderr():  # epoch rows are progress: stdout is for the result
        result = run_training(args)
    if result is not None:  # under torchrun, one rank reports
        show_result(args, result)


def run_training(args) -> dict | None:
    """Start, resume or repeat the run the flags describe and train it; its final metrics."""
    from .. import distributed, train
    from ..fitting import fit

    if args.resume:
        if args.from_manifest:
            raise ConvnetError("convnet train: give --resume or --from-manifest, not both")
        flags = train_values(args)  # each must match the run's, but --epochs, --data, --device
        run = train.resume(args.resume, flags.pop("epochs", None), not args.quiet, **flags)
    elif args.from_manifest:
        if args.model:
            raise ConvnetError("convnet train: give a MODEL or --from-manifest, not both")
        overrides = {f.name: getattr(args, f.name) for f in fields(train.TrainConfig)
                     if getattr(args, f.name, None) is not None
                     and f.name not in ("out", "classes", "input_shape")}
        run = train.from_manifest(args.from_manifest, args.out, not args.quiet, **overrides)
        if not args.quiet:
            print(f"repeating {args.from_manifest} -> {run.rundir}", file=sys.stderr)
    else:
        if not args.model:
            raise ConvnetError("convnet train: give a MODEL (see convnet models), --resume RUNDIR "
                               "or --from-manifest RUNDIR/run.json")
        values = train_values(args)  # convnet.fit's options: the same code as from Python
        result = fit(values.pop("model"), **values, progress=not args.quiet).result
        distributed.finish()  # under torchrun: leave the process group before exiting
        return result if distributed.world()[0] == 0 else None
    result = train.fit(run)
    distributed.finish()  # under torchrun: leave the process group before exiting
    return result if distributed.world()[0] == 0 else None


def show_result(args, result: dict) -> None:
    from .. import finetune, runs
    from ..validation import summary_line

    init = runs.read_manifest(result["rundir"]).get("init")  # --init/--freeze: what was done
    result = {**result, "init": init} if init else result
    line = summary_line(result) + (f"; {finetune.note(init)}" if init else "")
    print(json.dumps(result, indent=2) if args.json else line)


# `convnet train`'s flags are TrainConfig's fields (STYLE.md rule 7): each field is a flag of the
# same name, typed by its type hint and helped by its comment in convnet/config.py, so a new
# field is a new flag with nothing written here; config.CHOICES gives the names a field takes.
# What neither can say is below.
FLAG_NAMES = {"data_dir": "--data"}           # the one flag not named as its field
NOT_FLAGS = ("model", "progress")              # the positional MODEL; --quiet
METAVARS = {"data_dir": "DIR", "out": "RUNDIR", "input_shape": "CxHxW", "classes": "A,B,...",
            "limit": "N", "distributed": "N", "val": "N|F", "early_stop": "PATIENCE",
            "tensorboard": "DIR", "snapshots": "N", "init": "RUNDIR"}


def field_notes(cls) -> dict[str, str]:
    """Each dataclass field's comment in its source, with its continuation lines.

    Example:
        >>> from convnet.config import TrainConfig
        >>> field_notes(TrainConfig)["batch_size"]
        'images per update'
    """
    import inspect

    notes, name, indent = {}, None, None
    for line in inspect.getsource(cls).splitlines():
        code, _, comment = line.partition("#")
        column = len(line) - len(line.lstrip())
        field = code.strip().split(":")[0] if ":" in code else ""
        if field.isidentifier() and field in cls.__dataclass_fields__:
            name, indent = field, column
            notes[name] = comment.strip()
        elif name and not code.strip() and comment and column > indent:  # a continuation
            notes[name] = f"{notes[name]} {comment.strip()}".strip()
        else:
            name = None
    return notes


def flag_type(hint):
    """The argparse type of a field's type hint: int, float, str, bool, list[X], X | None."""
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(hint) if a is not type(None)]
        if set(kinds) == {int, float}:  # a count or a fraction: 5000 or 0.1
            return lambda text: float(text) if any(c in text for c in ".eE") else int(text)
        return flag_type(kinds[0])
    if typing.get_origin(hint) is list:  # comma-separated, e.g. --classes dog,cat
        item = typing.get_args(hint)[0]
        return lambda text: [item(v) for v in text.split(",")]
    return hint


def add_train_flags(p: argparse.ArgumentParser) -> None:
    import typing

    from ..config import CHOICES, TrainConfig
    from ..recipes import FIELDS as RECIPE_FIELDS

    notes, hints = field_notes(TrainConfig), typing.get_type_hints(TrainConfig)
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help=f"{notes['model']}; see convnet models".replace("%", "%%"))
    for f in fields(TrainConfig):
        if f.name in NOT_FLAGS:
            continue
        default = "the recipe's, see docs/models.md" if f.name in RECIPE_FIELDS else f.default
        shown = "" if default in (None, MISSING) else f" (default: {default})"
        text = (notes.get(f.name) or f.name.replace("_", " ")).replace("%", "%%") + shown
        kind = str if f.name == "input_shape" else flag_type(hints[f.name])  # CxHxW: SpecError
        flag = FLAG_NAMES.get(f.name, "--" + f.name.replace("_", "-"))
        if kind is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None, help=text)
        else:
            p.add_argument(flag, dest=f.name, type=kind, choices=CHOICES.get(f.name),
                           metavar=METAVARS.get(f.name), help=text)
    p.add_argument("--input", dest="input_shape", help=argparse.SUPPRESS)  # before 0.2
    p.add_argument("--resume", metavar="RUNDIR", help="continue a run from its last checkpoint "
                   "(a run stopped in its first epoch: from its start). Only --epochs (to extend "
                   "it), --data (the same files: checksums are compared), --device, "
                   "--tensorboard (start or move the event files), --quiet and --json may "
                   "change; any other flag must be left out or match the run's")
    p.add_argument("--from-manifest", metavar="RUN_JSON", help="repeat a run from its run.json "
                   "(same config and seed; a new run directory unless --out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    add_json(p, "the final metrics")


def add_commands(sub) -> None:
    """Register ``train``."""
    add_train_flags(command(sub, "train", "train a model by backpropagation", cmd_train))
