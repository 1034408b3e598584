"""The ``convnet`` command: each subcommand is a thin handler over the library.

Errors become one line on stderr and a distinct exit code (see convnet/errors.py); a
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields

from .errors import ConvnetError, SpecError, one_line_warnings

EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 70, 130


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), like every other error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_shape(text: str) -> tuple[int, int, int]:
    """'1x32x32' -> (1, 32, 32)."""
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SpecError(f"--input must look like CxHxW, e.g. 1x32x32, got {text!r}") from None
    if min(c, h, w) < 1:
        raise SpecError(f"--input sizes must be positive, got {text!r}")
    return c, h, w


def resolve_model(name_or_spec: str, input_text: str | None):
    """A registered model (rebuilt for --input if it is spec-based) or a spec line.

    A block-built model (ResNet, DenseNet...) has no spec line to rebuild: it is returned as
    built, and ``cmd_summary`` tries it at the --input size.
    """
    from .models import Network
    from .registry import check_model_or_spec, create_model, list_models

    shape = parse_shape(input_text) if input_text else None
    if name_or_spec in list_models():
        model = create_model(name_or_spec, in_chans=shape[0] if shape else None)
        if shape and tuple(shape) != model.input_shape and model.spec is not None:
            return Network.from_spec(model.spec, shape)  # with its own shape checks
        return model
    check_model_or_spec(name_or_spec)  # one-line ModelError listing the known names
    return Network.from_spec(name_or_spec, shape or (1, 32, 32))


# ----------------------------------------------------------------------------- handlers

def cmd_models(args) -> None:
    from .registry import create_model, list_models, model_info
    from .summary import summarize

    rows = []
    for name in list_models(args.pattern):
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

    model = resolve_model(args.model, args.input)
    shape = parse_shape(args.input) if args.input else model.input_shape
    try:
        summary = summarize(model, shape)
    except RuntimeError as e:  # only a block-built model meets --input unchecked (see above)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        built = "x".join(map(str, model.input_shape))
        raise SpecError(f"{args.model} (built for {built}) cannot take --input {args.input}: "
                        f"{reason}") from None
    print(json.dumps(summary.to_json(), indent=2) if args.json else summary.table())


def train_values(args) -> dict:
    """The TrainConfig fields given on the command line; a flag left out is absent."""
    from .train import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if getattr(args, f.name, None) is not None}
    if args.classes:
        values["classes"] = args.classes.split(",")
    if args.input:
        values["input_shape"] = list(parse_shape(args.input))
    return values


def cmd_train(args) -> None:
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
        if distributed.world()[0] == 0:  # under torchrun, one rank reports
            show_result(args, result)
        return
    result = train.fit(run)
    distributed.finish()  # under torchrun: leave the process group before exiting
    if distributed.world()[0] == 0:  # under torchrun, one rank reports
        show_result(args, result)


def show_result(args, result: dict) -> None:
    from .validation import summary_line

    print(json.dumps(result, indent=2) if args.json else summary_line(result))


def cmd_evaluate(args) -> None:
    from . import runs
    from .evaluate import check_plot_path, evaluate, plot_confusion

    if args.plot:  # before the evaluation: not a run's own file, a known format, a folder
        runs.check_out(args.plot)
        check_plot_path(args.plot)
    ev = evaluate(args.rundir, args.dataset, args.data, flip=args.flip)
    if args.plot:
        path = plot_confusion(ev, args.plot)
        print(f"confusion matrix saved to {path}", file=sys.stderr)
    print(json.dumps(ev.to_json(), indent=2) if args.json else ev.table())


def cmd_predict(args) -> None:
    from .predict import Predictor

    predictor = Predictor.open(args.rundir, backend=args.backend)
    results = predictor.predict(list(args.images), top=args.top, invert=args.invert)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return
    for r in results:
        print(f"{r.image}: {r}")


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

    if len(args.inputs) != 2 or args.target is None:
        raise ConvnetError("usage: convnet explain train-step RUNDIR|MODEL IMAGE --target CLASS")
    source, image = args.inputs
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

    path = write_report(args.rundir, runs.check_out(args.out), parse_inputs(args.inputs),
                        args.data, progress=not args.quiet)
    print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


def cmd_serve(args) -> None:
    from .web import create_app  # imported here: the other commands do not need the web stack
    from .web.guard import served_hosts
    from .web.listen import bind, run

    hosts = served_hosts(args.host, args.allow_host)
    app = create_app(args.rundirs, args.data, hosts)  # loads every run now: a bad RUNDIR: exit 7
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

def add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="registered model (convnet models) or a spec line")
    p.add_argument("--dataset", help="mnist, fashion-mnist, cifar10, semeion or an image folder "
                   "(default: mnist)")
    p.add_argument("--data", dest="data_dir", help="local dataset directory (else $CONVNET_DATA, "
                   "else download to ~/.cache/convnet)")
    p.add_argument("--classes", help="subset of classes, e.g. dog,cat,ship,bird (CIFAR-10)")
    p.add_argument("--input", help="input CxHxW for a spec model (default: the dataset's)")
    p.add_argument("--epochs", type=int, help="passes over the training set (default: the recipe's, "
                   "e.g. 2 for LeNet-5 on MNIST; see docs/models.md)")
    p.add_argument("--batch-size", type=int, help="images per update (default: the recipe's)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adam"],
                   help="default: the recipe's")
    p.add_argument("--momentum", type=float, help="for momentum and nesterov (default: 0.9)")
    p.add_argument("--weight-decay", type=float, help="L2 penalty (default: the recipe's)")
    p.add_argument("--schedule", choices=["onecycle", "constant"], help="default: onecycle")
    p.add_argument("--loss", choices=["cross-entropy", "sse"], help="default: cross-entropy; sse "
                   "is the tutorials' total error ½Σ(target − output)²")
    p.add_argument("--label-smoothing", type=float, help="cross-entropy only (default: the "
                   "recipe's)")
    p.add_argument("--shift", type=int, help="random shift augmentation in pixels "
                   "(default: the recipe's: 1 for digits, 4 for photos)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="random left-right mirroring (default: the recipe's; on for photos)")
    p.add_argument("--seed", type=int, help="fixes init, shuffling, augmentation (default: 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: auto")
    p.add_argument("--engine", choices=["torch", "numpy"], help="torch (autograd) or numpy (the "
                   "from-scratch engine, same batches and schedule; CPU) (default: torch)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout for the torch engine (default: on, faster on CPU)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="bf16 autocast for "
                   "convolutions and matmuls, weights in fp32 (default: the recipe's: bf16 for "
                   "photos; auto = bf16 on a GPU, fp32 on CPU, for digits)")
    p.add_argument("--distributed", type=int, metavar="N", help="train on N processes on this "
                   "machine with DistributedDataParallel, each global batch split across them "
                   "(gloo on CPU, NCCL on GPU); under torchrun the world is torchrun's")
    p.add_argument("--val", type=lambda t: float(t) if any(c in t for c in ".eE") else int(t),
                   metavar="N|F", help="hold out N training images (or a fraction F, e.g. 0.1), "
                   "chosen by --seed, to choose the epoch on instead of the test split")
    p.add_argument("--early-stop", type=int, metavar="PATIENCE", help="stop after PATIENCE "
                   "epochs without a better validation score (needs --val)")
    p.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard events to DIR "
                   "(pip install 'convnet[tensorboard]')")
    p.add_argument("--out", help="run directory (default: runs/<model>-<dataset>)")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--resume", metavar="RUNDIR", help="continue a run from its last checkpoint "
                   "(a run stopped in its first epoch: from its start). Only --epochs (to extend "
                   "it), --data (the same files: checksums are compared), --device, --quiet and "
                   "--json may change; any other flag must be left out or match the run's")
    p.add_argument("--from-manifest", metavar="RUN_JSON", help="repeat a run from its run.json "
                   "(same config and seed; a new run directory unless --out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")


def build_parser() -> Parser:
    parser = Parser(prog="convnet", description="Convolutional networks as the tutorials "
                    "describe them: define, train, evaluate, predict, and see inside.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    common = argparse.ArgumentParser(add_help=False)  # so `convnet CMD ... --debug` works too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")

    p = sub.add_parser("models", parents=[common], help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'lenet*'")
    p.add_argument("--params", action="store_true", help="also count parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("summary", parents=[common], help="layer table: shapes, parameters, multiply-adds, arithmetic")
    p.add_argument("model", help="registered model or a spec line in quotes")
    p.add_argument("--input", help="input CxHxW (default: the model's, 1x32x32 for specs)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_summary)

    p = sub.add_parser("train", parents=[common], help="train a model by backpropagation")
    add_train_flags(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="accuracy, per-class precision/recall, confusion matrix")
    p.add_argument("rundir")
    p.add_argument("--dataset", help="evaluate on another dataset (e.g. semeion)")
    p.add_argument("--data", help="local dataset directory")
    p.add_argument("--plot", metavar="PNG", help="also save the confusion matrix as a PNG")
    p.add_argument("--flip", action="store_true",
                   help="classify each image by the mean of its own and its mirror image's "
                        "probabilities (test-time augmentation; for runs trained with flips)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("predict", parents=[common], help="class probabilities for image files")
    p.add_argument("rundir", help="a run directory, or a .onnx file from convnet export")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default: 5)")
    polarity = p.add_mutually_exclusive_group()
    polarity.add_argument("--invert", action="store_true", default=None,
                          help="the image is dark ink on light paper (default: detect)")
    polarity.add_argument("--no-invert", dest="invert", action="store_false",
                          help="the image is light ink on a dark background")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default="auto",
                   help="what runs the network: auto = onnxruntime (converted in memory and "
                   "checked against torch), else torch (default: auto)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("export", parents=[common], help="write a run as an ONNX file (checked against torch)")
    p.add_argument("rundir")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="default: onnx")
    p.add_argument("--out", help="output file (default: RUNDIR/model.onnx)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("explain", parents=[common], help="the tutorials' conv, relu and pool arithmetic, "
                       "step by step")
    p.add_argument("what", choices=["conv", "relu", "pool", "train-step"])
    p.add_argument("inputs", nargs="*", metavar="RUNDIR|MODEL IMAGE",
                   help="train-step: a run (or a model name, randomly initialised) and an image")
    p.add_argument("--target", help="train-step: the correct class (name or index)")
    p.add_argument("--lr", type=float, default=0.1, help="train-step: learning rate (0.1)")
    p.add_argument("--loss", choices=["sse", "cross-entropy"], default="sse",
                   help="train-step: the error to reduce (default: sse, ½Σ(target − output)²)")
    p.add_argument("--seed", type=int, default=0, help="train-step with a MODEL: init seed")
    p.add_argument("--image", help="input matrix, rows by ';', values by ',', e.g. '1,0;0,1'; "
                   "write --image=-1,2;3,4 when it starts with a minus (default: the tutorials' "
                   "example)")
    p.add_argument("--kernel", help="conv: the filter, same format (default: the tutorials' 3x3)")
    p.add_argument("--stride", type=int, help="step between windows (default: 1 for conv, "
                   "--size for pool)")
    p.add_argument("--padding", default="valid", help="conv: valid, same or N zeros (default: "
                   "valid)")
    p.add_argument("--mode", choices=["max", "avg", "sum"], default="max", help="pool: default max")
    p.add_argument("--size", type=int, default=2, help="pool: window side (default: 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_explain)

    p = sub.add_parser("kernels", parents=[common], help="classic kernels (edges, Sobel, blur...) applied to "
                       "an image")
    p.add_argument("image", help="any image file (shown in grayscale)")
    p.add_argument("--out", required=True, help="folder for kernels.png")
    p.add_argument("--kernel", help="also apply your own, e.g. '0,-1,0;-1,5,-1;0,-1,0'")
    p.add_argument("--json", action="store_true", help="print the grid layout as JSON")
    p.set_defaults(handler=cmd_kernels)

    p = sub.add_parser("show", parents=[common], help="feature maps, filters, saliency, Grad-CAM and probabilities "
                       "for one image, as PNGs")
    p.add_argument("rundir")
    p.add_argument("image")
    p.add_argument("--out", required=True, help="folder for the PNGs")
    polarity = p.add_mutually_exclusive_group()
    polarity.add_argument("--invert", action="store_true", default=None,
                          help="the image is dark ink on light paper (default: detect)")
    polarity.add_argument("--no-invert", dest="invert", action="store_false",
                          help="the image is light ink on a dark background")
    p.add_argument("--json", action="store_true", help="print image, prediction, files and "
                   "layer shapes as JSON")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("report", parents=[common], help="one offline HTML page: summary, curves, "
                       "confusion matrix, mistakes, feature maps")
    p.add_argument("rundir")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--inputs", metavar="N,M,...", help="test-set indices for the layer-by-layer "
                   "views (default: one right and one wrong image per class, up to 10 classes)")
    p.add_argument("--data", help="local dataset directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("serve", parents=[common], help="draw a digit and watch every layer of "
                       "your trained runs light up, in the browser")
    p.add_argument("rundirs", nargs="+", metavar="RUNDIR", help="one or more run directories "
                   "(the page has a run chooser)")
    p.add_argument("--data", help="local dataset directory, for the page's test images "
                   "(default: each run's own, then CONVNET_DATA; never downloaded)")
    p.add_argument("--port", type=port_number, default=8000, help="1..65535 (default: 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                   "127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host header is NAME (repeatable; default: "
                   "only localhost, 127.0.0.1, ::1 and --host; '*' answers any, which lets "
                   "any web page read the API through DNS rebinding)")
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    one_line_warnings()
    try:
        args.handler(args)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
