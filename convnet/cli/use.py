"""Commands that use a trained run: ``evaluate``, ``predict`` (a batch tool over files, folders
and globs) and ``export``."""

from __future__ import annotations

import json
import sys

from ..errors import ConvnetError
from .common import add_data, add_invert, add_json, command, path_text


def cmd_evaluate(args) -> None:
    from .. import runs
    from ..evaluate import check_plot_path, evaluate, plot_confusion

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
    from ..predict import Predictor, find_images
    from ..runs import weights_note

    predictor = Predictor.open(args.rundir, backend=args.backend)
    loaded = getattr(predictor, "weights", None)  # a run's (an .onnx file has none)
    weights = {"weights": loaded["file"]} if loaded else {}
    if weights and weights["weights"] == "best.safetensors" and not args.json:
        print(weights_note(loaded), file=sys.stderr)  # not the last epoch's: say so
    rows, code = [], 0
    for path, got in predictor.predict_files(find_images(args.images), args.top, args.invert):
        if isinstance(got, ConvnetError):
            print(f"error: {got}", file=sys.stderr)
            code = code or got.exit_code
            rows.append({"image": path, "error": str(got), "exit_code": got.exit_code})
        else:
            rows.append({**got.to_json(), **weights})
            if not args.json:
                print(f"{path}: {got}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return code


def cmd_export(args) -> None:
    from ..export import export_onnx

    result = export_onnx(args.rundir, args.out)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"wrote {result.path} (onnxruntime vs torch on {result.samples} inputs: "
              f"max abs difference {result.max_abs_diff:.2g})")


def add_commands(sub) -> None:
    """Register ``evaluate``, ``predict`` and ``export``."""
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
    p.add_argument("--out", type=path_text, metavar="FILE", help="the .onnx file to write (default: "
                   "RUNDIR/model.onnx)")
    add_json(p, "the file written and the torch parity check")
