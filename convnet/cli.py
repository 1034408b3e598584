"""The ``convnet`` command: each subcommand is a thin handler over the library.

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
import contextlib
import json
import os
import sys
from dataclasses import MISSING, fields

from .errors import ConvnetError, ModelError, SpecError, one_line_warnings
from .version import __version__

EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 70, 130
CONVENTIONS = """conventions:
  --out      where a command writes: train the run directory, export and report a file,
             show and kernels a folder
  --data     the folder holding datasets (else $CONVNET_DATA, else the download cache)
  --json     the result as JSON, alone on stdout; progress and notes go to stderr
  errors     one line on stderr and an exit code per kind (docs/errors.md); --debug: traceback
"""


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


def resolve_model(name_or_spec: str, shape_text: str | None):
    """A registered model (at --input-shape if given: ``create_model``'s ``in_chans`` and
    ``img_size``) or a spec line (at --input-shape, else 1x32x32)."""
    from .models import Network
    from .registry import check_model_or_spec, create_model, list_models

    shape = parse_shape(shape_text) if shape_text else None
    if name_or_spec in list_models():
        return create_model(name_or_spec, in_chans=shape[0] if shape else None,
                            img_size=shape[1:] if shape else None)
    check_model_or_spec(name_or_spec)  # one-line ModelError listing the known names
    return Network.from_spec(name_or_spec, shape or (1, 32, 32))


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


# ----------------------------------------------------------------------------- handlers

def cmd_models(args) -> None:
    from .registry import create_model, list_models, model_info
    from .summary import summarize

    names = list_models(args.pattern)
    if not names:
        raise ModelError(f"no model matches {args.pattern!r}; known: "
                         f"{', '.join(list_models())}")
    rows = []
    for name in names:
        info = model_info(name)
        params = summarize(create_model(name)).total_params if args.params else None
        rows.append({"name": name, "input_shape": list(info.input_shape),
                     "num_classes": info.num_classes, "params": params,
                     "description": info.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        shape = "x".join(map(str, r["input_shape"]))
        extra = f"{r['params']:>12,}  " if args.params else ""
        print(f"{r['name']:<16} {shape:<10} {extra}{r['description']}")


def cmd_summary(args) -> None:
    from .summary import summarize

    summary = summarize(resolve_model(args.model, args.input_shape))
    print(json.dumps(summary.to_json(), indent=2) if args.json else summary.table())


def train_values(args) -> dict:
    """The TrainConfig fields given on the command line; a flag left out is absent."""
    from .train import TrainConfig

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
    from . import distributed, train
    from .fitting import fit

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
    from .validation import summary_line

    print(json.dumps(result, indent=2) if args.json else summary_line(result))


def cmd_evaluate(args) -> None:
    from . import runs
    from .evaluate import check_plot_path, evaluate, plot_confusion

    if args.plot:  # before the evaluation: not a run's own file, a known format, a folder
        runs.check_out(args.plot)
        check_plot_path(args.plot)
    ev = evaluate(args.rundir, args.dataset, args.data_dir, flip=args.flip)
    if args.plot:
        path = plot_confusion(ev, args.plot)
        print(f"confusion matrix saved to {path}", file=sys.stderr)
    print(json.dumps(ev.to_json(), indent=2) if args.json else ev.table())


def cmd_predict(args) -> int:
    """Every image, one line each as it is done; a file that fails gives its error line and
    the others go on. Exit code: 0, or the first failure's (an unreadable image: 6)."""
    from .predict import Predictor, find_images

    predictor = Predictor.open(args.rundir, backend=args.backend)
    rows, code = [], 0
    for path, got in predictor.predict_files(find_images(args.images), args.top, args.invert):
        if isinstance(got, ConvnetError):
            print(f"error: {got}", file=sys.stderr)
            code = code or got.exit_code
            rows.append({"image": path, "error": str(got), "exit_code": got.exit_code})
        else:
            rows.append(got.to_json())
            if not args.json:
                print(f"{path}: {got}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return code


def cmd_export(args) -> None:
    from .export import export_onnx

    result = export_onnx(args.rundir, args.out)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"wrote {result.path} (onnxruntime vs torch on {result.samples} inputs: "
              f"max abs difference {result.max_abs_diff:.2g})")


def cmd_explain(args) -> None:
    from . import explain as ex

    if args.what == "train-step":
        return cmd_explain_train_step(args)
    matrix = ex.parse_matrix(args.image) if args.image else None
    if args.what == "conv":
        kernel = ex.parse_matrix(args.kernel, "--kernel") if args.kernel else ex.TUTORIAL_KERNEL
        result = ex.explain_conv(matrix or ex.TUTORIAL_IMAGE, kernel,
                                 1 if args.stride is None else args.stride,
                                 args.padding)
    elif args.what == "relu":
        result = ex.explain_relu(matrix or ex.TUTORIAL_RELU)
    else:
        result = ex.explain_pool(matrix or ex.TUTORIAL_POOL, args.mode, args.size, args.stride)
    print(json.dumps(result, indent=2) if args.json else ex.explain_text(result))


def cmd_explain_train_step(args) -> None:
    import torch

    from .explain_step import explain_train_step, resolve_target, train_step_text
    from .predict import Predictor
    from .registry import create_model, list_models

    if len(args.operands) != 2 or args.target is None:
        raise ConvnetError("usage: convnet explain train-step RUNDIR|MODEL IMAGE --target CLASS")
    source, image = args.operands
    if source in list_models():  # an untrained model: random init from --seed, plain resize
        torch.manual_seed(args.seed)
        model = create_model(source)
        predictor = Predictor(model, [str(i) for i in range(model.num_classes)])
    else:
        predictor = Predictor.from_run(source, backend="torch")
    x = torch.from_numpy(predictor.prepare(image))[None]  # (C, H, W) -> (1, C, H, W)
    target = resolve_target(args.target, predictor.classes)
    result = explain_train_step(predictor.model, x, target, predictor.classes, args.lr, args.loss)
    print(json.dumps(result, indent=2) if args.json else train_step_text(result))


def cmd_kernels(args) -> None:
    from . import runs
    from .explain import parse_matrix
    from .viz.kernels import render_kernels

    custom = parse_matrix(args.kernel, "--kernel") if args.kernel else None
    layout = render_kernels(args.image, runs.check_out(args.out, folder=True), custom)
    if args.json:
        print(json.dumps(layout, indent=2))
    else:
        print(f"{len(layout['panels']) - 1} kernels applied; grid saved to {layout['path']}")


def cmd_show(args) -> None:
    from . import runs
    from .viz.show import show

    shown = show(args.rundir, args.image, runs.check_out(args.out, folder=True), args.invert)
    if args.json:
        print(json.dumps(shown.to_json(), indent=2))
        return
    print(f"{shown.image}: {shown.prediction['label']} ({shown.prediction['probability']:.2%})",
          file=sys.stderr)
    print("\n".join(shown.files))


def cmd_report(args) -> None:
    from . import runs
    from .viz.report import parse_inputs, write_report

    path = write_report(args.rundir, runs.check_out(args.out), parse_inputs(args.indices),
                        args.data_dir, progress=not args.quiet)
    if args.json:
        print(json.dumps({"path": str(path), "bytes": path.stat().st_size}, indent=2))
    else:
        print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


def cmd_serve(args) -> None:
    from .web import create_app  # imported here: the other commands do not need the web stack
    from .web.guard import served_hosts
    from .web.listen import bind, run

    hosts = served_hosts(args.host, args.allow_host)
    app = create_app(args.rundirs, args.data_dir, hosts)  # loads every run now: a bad RUNDIR: exit 7
    sock = bind(args.host, args.port)  # a port in use: one line, exit 1, nothing served
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {len(args.rundirs)} run(s) on http://{shown}:{args.port}/ (Ctrl-C to stop); "
          f"answering Host {', '.join(sorted(hosts))}", file=sys.stderr)
    run(app, sock)


def port_number(text: str) -> int:
    """--port: a whole number 1..65535 (a usage error, exit 2, otherwise)."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1..65535, got {text!r}")
    return int(text)


# ----------------------------------------------------------------------------- parser

# `convnet train`'s flags are TrainConfig's fields (STYLE.md rule 7): each field is a flag of the
# same name, typed by its type hint and helped by its comment in convnet/config.py, so a new
# field is a new flag with nothing written here; config.CHOICES gives the names a field takes.
# What neither can say is below.
FLAG_NAMES = {"data_dir": "--data"}           # the one flag not named as its field
NOT_FLAGS = ("model", "progress")              # the positional MODEL; --quiet
METAVARS = {"data_dir": "DIR", "out": "RUNDIR", "input_shape": "CxHxW", "classes": "A,B,...",
            "limit": "N", "distributed": "N", "val": "N|F", "early_stop": "PATIENCE",
            "tensorboard": "DIR"}


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

    from .config import CHOICES, TrainConfig
    from .recipes import FIELDS as RECIPE_FIELDS

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
                   "it), --data (the same files: checksums are compared), --device, --quiet and "
                   "--json may change; any other flag must be left out or match the run's")
    p.add_argument("--from-manifest", metavar="RUN_JSON", help="repeat a run from its run.json "
                   "(same config and seed; a new run directory unless --out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    add_json(p, "the final metrics")


def add_json(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as JSON, alone on stdout")


def add_data(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--data", dest="data_dir", metavar="DIR", help=text)


def add_invert(p: argparse.ArgumentParser) -> None:
    p.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                   help="the image is dark ink on light paper (--no-invert: light ink on a dark "
                   "background); left out: detected from the image")


def command(sub, name: str, text: str, handler) -> argparse.ArgumentParser:
    """A subcommand taking --debug too (``convnet CMD ... --debug``)."""
    p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    p.set_defaults(handler=handler)
    return p


def build_parser() -> Parser:
    parser = Parser(prog="convnet", description="Convolutional networks as the tutorials "
                    "describe them: define, train, evaluate, predict, and see inside.",
                    epilog=CONVENTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"convnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                metavar="COMMAND")

    p = command(sub, "models", "list registered models", cmd_models)
    p.add_argument("pattern", nargs="?", default="*",
                   help="shell pattern, e.g. 'resnet*' (quoted, so the shell leaves it alone); "
                   "no match is an error (exit 9)")
    p.add_argument("--params", action="store_true", help="also count parameters")
    add_json(p, "the list")

    p = command(sub, "summary", "layer table: shapes, parameters, multiply-adds, arithmetic",
                cmd_summary)
    p.add_argument("model", help="registered model or a spec line in quotes")
    p.add_argument("--input-shape", metavar="CxHxW", help="input size: a spec model is built "
                   "for it, a registered one rebuilt (or refused) (default: the model's, 1x32x32 "
                   "for a spec)")
    p.add_argument("--input", dest="input_shape", help=argparse.SUPPRESS)  # before 0.2
    add_json(p, "the table")

    add_train_flags(command(sub, "train", "train a model by backpropagation", cmd_train))

    p = command(sub, "evaluate", "accuracy, per-class precision/recall, confusion matrix",
                cmd_evaluate)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--dataset", help="evaluate on another dataset (e.g. semeion)")
    add_data(p, "the folder holding the dataset (default: the run's)")
    p.add_argument("--plot", metavar="PNG", help="also save the confusion matrix as a PNG")
    p.add_argument("--flip", action="store_true",
                   help="classify each image by the mean of its own and its mirror image's "
                        "probabilities (test-time augmentation; for runs trained with flips)")
    add_json(p, "the metrics")

    p = command(sub, "predict", "class probabilities for image files, folders or globs",
                cmd_predict)
    p.add_argument("rundir", metavar="RUNDIR", help="a run directory, or a .onnx file from "
                   "convnet export")
    p.add_argument("images", nargs="+", metavar="IMAGE|DIR|GLOB", help="image files, folders "
                   "(their images, sub-folders included) or quoted globs ('photos/*.jpg'); a "
                   "file that cannot be read gives its error line, the others are still "
                   "predicted, and the exit code is its error's (6)")
    p.add_argument("--top", type=int, default=5, help="how many classes to show")
    add_invert(p)
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default="auto",
                   help="what runs the network: auto = onnxruntime (converted in memory and "
                   "checked against torch), else torch")
    add_json(p, "one entry per image (its prediction, or its error)")

    p = command(sub, "export", "write a run as an ONNX file (checked against torch)",
                cmd_export)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--out", metavar="FILE", help="the .onnx file to write (default: "
                   "RUNDIR/model.onnx)")
    add_json(p, "the file written and the torch parity check")

    p = command(sub, "explain", "the tutorials' conv, relu and pool arithmetic, step by step",
                cmd_explain)
    p.add_argument("what", choices=["conv", "relu", "pool", "train-step"])
    p.add_argument("operands", nargs="*", metavar="RUNDIR|MODEL IMAGE",
                   help="train-step: a run (or a model name, randomly initialised) and an image")
    p.add_argument("--target", help="train-step: the correct class (name or index)")
    p.add_argument("--lr", type=float, default=0.1, help="train-step: learning rate")
    p.add_argument("--loss", choices=["sse", "cross-entropy"], default="sse",
                   help="train-step: the error to reduce (sse: ½Σ(target − output)²)")
    p.add_argument("--seed", type=int, default=0, help="train-step with a MODEL: init seed")
    p.add_argument("--image", help="input matrix, rows by ';', values by ',', e.g. '1,0;0,1'; "
                   "write --image=-1,2;3,4 when it starts with a minus (default: the tutorials' "
                   "example)")
    p.add_argument("--kernel", help="conv: the filter, same format (default: the tutorials' 3x3)")
    p.add_argument("--stride", type=int, help="step between windows (default: 1 for conv, "
                   "--size for pool)")
    p.add_argument("--padding", default="valid", help="conv: valid, same or N zeros")
    p.add_argument("--mode", choices=["max", "avg", "sum"], default="max", help="pool: the kind")
    p.add_argument("--size", type=int, default=2, help="pool: window side")
    add_json(p, "every step and number")

    p = command(sub, "kernels", "classic kernels (edges, Sobel, blur...) applied to an image",
                cmd_kernels)
    p.add_argument("image", help="any image file (shown in grayscale)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for kernels.png")
    p.add_argument("--kernel", help="also apply your own, e.g. '0,-1,0;-1,5,-1;0,-1,0'")
    add_json(p, "the grid layout")

    p = command(sub, "show", "feature maps, filters, saliency, Grad-CAM and probabilities for "
                "one image, as PNGs", cmd_show)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("image")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the PNGs")
    add_invert(p)
    add_json(p, "the image, prediction, files and layer shapes")

    p = command(sub, "report", "one offline HTML page: summary, curves, confusion matrix, "
                "mistakes, feature maps", cmd_report)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--out", metavar="FILE", required=True, help="the HTML file to write")
    p.add_argument("--indices", metavar="N,M,...", help="test-set indices for the layer-by-layer "
                   "views (default: one right and one wrong image per class, up to 10 classes)")
    p.add_argument("--inputs", dest="indices", help=argparse.SUPPRESS)  # before 0.2
    add_data(p, "the folder holding the run's dataset (default: the run's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json(p, "the file written and its size")

    p = command(sub, "serve", "draw a digit and watch every layer of your trained runs light "
                "up, in the browser", cmd_serve)
    p.add_argument("rundirs", nargs="+", metavar="RUNDIR", help="one or more run directories "
                   "(the page has a run chooser)")
    add_data(p, "the folder holding the runs' datasets, for the page's test images (default: "
             "each run's own, then $CONVNET_DATA; never downloaded)")
    p.add_argument("--port", type=port_number, default=8000, help="1..65535")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this "
                   "machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host header is NAME (repeatable; without "
                   "it: only localhost, 127.0.0.1, ::1 and --host; '*' answers any, which lets "
                   "any web page read the API through DNS rebinding)")
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
