"""Commands that show the inside of a network: ``explain``, ``kernels``, ``show``, ``report``
and ``serve``."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ConvnetError
from .common import add_data, add_invert, add_json, command, port_number


def cmd_explain(args) -> None:
    from .. import explain as ex

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

    from ..explain_step import explain_train_step, resolve_target, train_step_text
    from ..predict import Predictor
    from ..registry import create_model, list_models

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
    from .. import runs
    from ..explain import parse_matrix
    from ..viz.kernels import render_kernels

    custom = parse_matrix(args.kernel, "--kernel") if args.kernel else None
    layout = render_kernels(args.image, runs.check_out(args.out, folder=True), custom)
    if args.json:
        print(json.dumps(layout, indent=2))
    else:
        print(f"{len(layout['panels']) - 1} kernels applied; grid saved to {layout['path']}")


def cmd_show(args) -> None:
    from .. import runs
    from ..viz.show import show

    shown = show(args.rundir, args.image, runs.check_out(args.out, folder=True), args.invert)
    if args.json:
        print(json.dumps(shown.to_json(), indent=2))
        return
    print(f"{shown.image}: {shown.prediction['label']} ({shown.prediction['probability']:.2%})",
          file=sys.stderr)
    print("\n".join(shown.files))


def cmd_report(args) -> None:
    from .. import runs
    from ..viz.report import parse_inputs, write_report

    path = write_report(args.rundir, runs.check_out(args.out), parse_inputs(args.indices),
                        args.data_dir, progress=not args.quiet)
    if args.json:
        print(json.dumps({"path": str(path), "bytes": path.stat().st_size}, indent=2))
    else:
        print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


def cmd_serve(args) -> None:
    from ..web import create_app  # here: the other commands need no web stack
    from ..web.guard import served_hosts
    from ..web.listen import bind, run

    hosts = served_hosts(args.host, args.allow_host)
    app = create_app(args.rundirs, args.data_dir, hosts)  # loads every run now (bad RUNDIR: exit 7)
    sock = bind(args.host, args.port)  # a port in use: one line, exit 1, nothing served
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {len(args.rundirs)} run(s) on http://{shown}:{args.port}/ (Ctrl-C to stop); "
          f"answering Host {', '.join(sorted(hosts))}", file=sys.stderr)
    run(app, sock)


def add_commands(sub) -> None:
    """Register ``explain``, ``kernels``, ``show``, ``report`` and ``serve``."""
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
