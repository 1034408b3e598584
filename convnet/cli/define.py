"""``convnet models`` and ``convnet summary``: networks by name or spec line, before training."""

from __future__ import annotations

import argparse
import json

from ..errors import ModelError
from .common import add_json, command, parse_shape


def resolve_model(name_or_spec: str, shape_text: str | None):
    """A registered model (at --input-shape if given: ``create_model``'s ``in_chans`` and
    ``img_size``) or a spec line (at --input-shape, else 1x32x32)."""
    from ..models import Network
    from ..registry import check_model_or_spec, create_model, list_models

    shape = parse_shape(shape_text) if shape_text else None
    if name_or_spec in list_models():
        return create_model(name_or_spec, in_chans=shape[0] if shape else None,
                            img_size=shape[1:] if shape else None)
    check_model_or_spec(name_or_spec)  # one-line ModelError listing the known names
    return Network.from_spec(name_or_spec, shape or (1, 32, 32))


def cmd_models(args) -> None:
    from ..registry import create_model, list_models, model_info
    from ..summary import summarize

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
    from ..summary import summarize

    summary = summarize(resolve_model(args.model, args.input_shape))
    print(json.dumps(summary.to_json(), indent=2) if args.json else summary.table())


def add_commands(sub) -> None:
    """Register ``models`` and ``summary``."""
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
