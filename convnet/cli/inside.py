"""Commands that show the inside of a network: ``explain``, ``kernels``, ``show``,
``features``, ``report`` and ``serve``."""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_data, add_invert, add_json, command, path_text, port_number


def cmd_explain(args) -> None:
    from ..explain import MODES

    mode = MODES[args.what]
    result = mode.run(args)
    print(json.dumps(result, indent=2) if args.json else mode.text(result))


def add_explain(sub) -> None:
    """``explain MODE``: one subcommand per row of ``explain.MODES``, with that row's flags."""
    from ..explain import MODES

    p = command(sub, "explain", "the tutorials' arithmetic with numbers, step by step: "
                + ", ".join(MODES), cmd_explain)
    modes = p.add_subparsers(dest="what", required=True, parser_class=type(p), metavar="MODE")
    for mode in MODES.values():
        m = command(modes, mode.name, mode.summary, cmd_explain)
        for names, options in mode.flags:
            m.add_argument(*names, **options)
        add_json(m, "every step and number")


def cmd_kernels(args) -> None:
    from .. import runs
    from ..explain import parse_matrix
    from ..viz.kernels import render_kernels

    custom = parse_matrix(args.kernel, "--kernel") if args.kernel is not None else None
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


def cmd_features(args) -> None:
    from ..viz.features import features

    found = features(args.rundir, args.out, args.layer, args.top, args.channels, args.data_dir)
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return
    rows, cols = found.field
    print(f"{found.layer}: top {args.top} test patches of {len(found.shown)} of "
          f"{found.channels} channels, each {rows.size}x{cols.size} pixels (the receptive "
          f"field; step {rows.jump}); grid saved to {found.grid.path}")


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
    url = f"http://{shown}:{args.port}/"
    if args.json:  # one line a script can read before the server blocks (flushed: a pipe)
        print(json.dumps({"url": url, "runs": sorted(app.state.runs), "hosts": sorted(hosts)}),
              flush=True)
    what = (f"{len(args.rundirs)} run(s)" if args.rundirs else "each run under ./runs once it "
            "has saved a checkpoint (no RUNDIR given; with none yet the page opens on its "
            "Train tab)")
    print(f"serving {what} on {url} (Ctrl-C to stop); "
          f"answering Host {', '.join(sorted(hosts))}", file=sys.stderr)
    run(app, sock)


def add_commands(sub) -> None:
    """Register ``explain``, ``kernels``, ``show``, ``features``, ``report`` and ``serve``."""
    add_explain(sub)

    p = command(sub, "kernels", "classic kernels (edges, Sobel, blur...) applied to an image",
                cmd_kernels)
    p.add_argument("image", help="any image file (shown in grayscale)")
    p.add_argument("--out", type=path_text, metavar="DIR", required=True, help="folder for kernels.png")
    p.add_argument("--kernel", help="also apply your own, e.g. '0,-1,0;-1,5,-1;0,-1,0'")
    add_json(p, "the grid layout")

    p = command(sub, "show", "feature maps, filters, saliency, Grad-CAM and probabilities for "
                "one image, as PNGs", cmd_show)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("image")
    p.add_argument("--out", type=path_text, metavar="DIR", required=True, help="folder for the PNGs")
    add_invert(p)
    add_json(p, "the image, prediction, files and layer shapes")

    p = command(sub, "features", "what each layer learned: for every channel of a convolution, "
                "the test patches that excite it most, cropped to its receptive field",
                cmd_features)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--layer", help="a convolution's name, e.g. layer3.2.conv2 (default: the "
                   "first convolution; convnet summary lists them)")
    p.add_argument("--top", type=int, default=9, help="patches per channel")
    p.add_argument("--channels", type=int, metavar="N", help="show the first N channels "
                   "(default: all)")
    p.add_argument("--out", type=path_text, metavar="FILE.png", help="the grid to write (default: "
                   "features-<layer>.png here)")
    add_data(p, "the folder holding the run's dataset (default: the run's)")
    add_json(p, "the layer, its receptive field and each channel's patches")

    p = command(sub, "report", "one offline HTML page: summary, curves, confusion matrix, "
                "mistakes, feature maps", cmd_report)
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--out", type=path_text, metavar="FILE", required=True, help="the HTML file to write")
    p.add_argument("--indices", metavar="N,M,...", help="test-set indices for the layer-by-layer "
                   "views (default: one right and one wrong image per class, up to 10 classes)")
    p.add_argument("--inputs", dest="indices", help=argparse.SUPPRESS)  # before 0.2
    add_data(p, "the folder holding the run's dataset (default: the run's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json(p, "the file written and its size")

    p = command(sub, "serve", "draw a digit and watch every layer of your trained runs light "
                "up, in the browser", cmd_serve)
    p.add_argument("rundirs", nargs="*", metavar="RUNDIR", help="run directories to serve "
                   "(the page has a run chooser); none: start with no run, open the Train tab, "
                   "and serve each run under ./runs once it saves a checkpoint")
    add_data(p, "the folder holding the runs' datasets, for the page's test images (default: "
             "each run's own, then $CONVNET_DATA; never downloaded)")
    p.add_argument("--port", type=port_number, default=8000, help="1..65535")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this "
                   "machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host header is NAME (repeatable; without "
                   "it: only localhost, 127.0.0.1, ::1 and --host; '*' answers any, which lets "
                   "any web page read the API through DNS rebinding)")
    add_json(p, "where it serves (url), the run ids it serves now (runs) and the Host names it "
             "answers (hosts), one line before serving")
