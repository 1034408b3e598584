"""A run directory: everything needed to inspect, resume, repeat or use a training run.

    RUNDIR/run.json              manifest: model, dataset + checksums, config, seed, versions,
                                 results
    RUNDIR/metrics.jsonl         one JSON object per epoch (train/test loss and accuracy, seconds)
    RUNDIR/model.safetensors     the weights as a plain state_dict (+ the epoch's metrics row in
                                 its metadata): ``net.load_state_dict(load_file(path))`` takes it
    RUNDIR/optimizer.safetensors the optimizer state of the same epoch, for --resume
    RUNDIR/best.safetensors      with --val: the chosen epoch's weights, which predict, evaluate,
                                 serve, export and create_model(checkpoint=) load
    RUNDIR/metrics.csv           metrics.jsonl's rows as CSV
    RUNDIR/run.lock              held (flock) by the one process that writes the run

How the two checkpoint files are kept a pair through a kill: ``runs.checkpoint``.

Weights are only ever read through safetensors: a checkpoint cannot execute code. Every file is
written whole or not at all, by one process at a time (``runs.files``), and a later step only
depends on files written so: a kill, a Ctrl-C or a full disk leaves the run resumable.
"""

from __future__ import annotations

import json
import platform
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError, RunError, SpecError
from ..models import Network, create_model
from ..version import __version__
from .checkpoint import (  # noqa: F401 -- re-exported: runs.save_checkpoint, runs.save_weights
    LEGACY_FORMAT, WEIGHTS_FORMAT, finish_checkpoint, load_checkpoint, load_optimizer,
    load_weights, save_checkpoint, save_weights, shapes)
from .files import (  # noqa: F401 -- re-exported: runs.atomic_write, runs.RunLock...
    BEST, CSV, LOCK, MANIFEST, METRICS, OPTIMIZER, OWN_FILES, PENDING, WEIGHTS, RunLock,
    atomic_write, check_out, claim_rundir, has_progress, make_dir, reason, refuse_to_replace,
    released_on_error, remove_stale_temps)
from .schema import (  # noqa: F401 -- re-exported: runs.check_onnx (export.OnnxModel)
    METRICS_ROW, check, check_checkpoint, check_manifest, check_onnx)

FORMAT = "convnet-run/1"
MAX_TEXT_BYTES = 512 * 2**20  # run.json lists a folder dataset's files (~120 bytes each: 4 M
#   files), metrics.jsonl ~200 bytes a row at MAX_EPOCHS; a 30 GB one read whole: MemoryError


def _read_text(path: Path) -> str:
    """A run's JSON file as text, refused from its size first when no run writes one so large.

    Raises:
        OSError: it cannot be read. ValueError: not UTF-8.
    """
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise RunError(f"{path}: {size:,} bytes, more than a run writes "
                       f"({MAX_TEXT_BYTES:,}); a damaged or foreign file")
    return path.read_text()


def write_json(path: Path, data: dict) -> None:
    """The run's manifest (RUNDIR/run.json), written atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"),
                 own_file=True)


def describe_model(model: Network) -> dict:
    """What is needed to rebuild ``model``: its registry name or its spec, and its shapes."""
    return {"name": getattr(model, "name", None), "spec": model.spec,
            "input_shape": list(model.input_shape), "num_classes": model.num_classes}


def build_model(desc: dict) -> Network:
    """Rebuild a model from ``describe_model``'s output (registry name first, else the spec)."""
    try:
        c, h, w = desc["input_shape"]
        if desc.get("name"):
            return create_model(desc["name"], num_classes=desc["num_classes"], in_chans=c)
        return Network.from_spec(desc["spec"], (c, h, w))
    except (KeyError, TypeError, ValueError) as e:
        raise RunError(f"run manifest has an unusable model description: {e}") from None
    except (ModelError, SpecError) as e:
        raise RunError(f"run manifest names a model this version cannot build: {e}") from None


def read_manifest(rundir: Path) -> dict:
    """RUNDIR/run.json, checked against its schema (``runs.schema``) before anything uses it.

    Raises:
        RunError: no run.json, not JSON, another version's, or a field of the wrong type or
            range, or fields that disagree (e.g. 3 class names for 10 outputs): one line.
    """
    path = Path(rundir) / MANIFEST
    if not path.is_file():
        raise RunError(f"{rundir}: not a run directory (no {MANIFEST})")
    try:
        manifest = json.loads(_read_text(path))
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise RunError(f"{path}: corrupt manifest ({str(e)[:80]})") from None
    except OSError as e:
        raise RunError(f"{path}: cannot read it ({e.strerror or e})") from None
    if isinstance(manifest, dict) and manifest.get("format") != FORMAT:
        raise RunError(f"{path}: run from another version (format "
                       f"{str(manifest.get('format'))[:40]!r}, expected {FORMAT!r})")
    return check_manifest(manifest, str(path))


def read_metrics(rundir: Path) -> list[dict]:
    """RUNDIR/metrics.jsonl as a list of rows ([] if there is none).

    Raises:
        RunError: a line is not a JSON object (a damaged or hand-edited file).
    """
    path = Path(rundir) / METRICS
    if not path.is_file():
        return []
    try:
        text = _read_text(path)
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line) if line.strip() else {}
        except (ValueError, RecursionError):  # not JSON, a 5,000-digit number, [[[[...
            row = None
        if not isinstance(row, dict):
            raise RunError(f"{path}: line {i} is not a metrics row (a damaged file?)")
        rows += [check(row, METRICS_ROW, f"{path}: line {i}")] if row else []
    return rows


def write_metrics(rundir: Path, rows: list[dict]) -> None:
    """Rewrite metrics.jsonl atomically: it is whole, with or without its newest row."""
    text = "".join(json.dumps(r) + "\n" for r in rows)
    atomic_write(Path(rundir) / METRICS, lambda tmp: Path(tmp).write_text(text), own_file=True)


def append_metrics(rundir: Path, row: dict) -> None:
    """Add one epoch's row by rewriting the file (an append could leave half a line on a full
    disk); the checkpoint written just before carries the row too (see ``reconcile_metrics``)."""
    write_metrics(rundir, read_metrics(rundir) + [row])


def reconcile_metrics(rundir: Path, done: int, meta: dict) -> None:
    """Make metrics.jsonl agree with a checkpoint at epoch ``done`` before a resume.

    Rows past the checkpoint are dropped (they will be replayed); the checkpoint's own row is
    put back if a crash or a full disk came between the checkpoint and the metrics write.

    Raises:
        RunError: the rows cannot be made to agree (epochs missing before the checkpoint's,
            or repeated): the file was edited or mixed with another run's.
    """
    rows = [r for r in read_metrics(rundir) if r.get("epoch", 0) <= done]
    last = meta.get("metrics") or {}
    if [r.get("epoch") for r in rows] == list(range(1, done)) and last.get("epoch") == done > 0:
        rows.append(last)  # the crash came between the checkpoint and the metrics
    epochs = [r.get("epoch") for r in rows]
    if epochs != list(range(1, done + 1)):
        raise RunError(f"{Path(rundir) / METRICS} has epochs {epochs or 'none'} but the "
                       f"checkpoint is at epoch {done}; restore the file, or repeat the run with "
                       f"--from-manifest {Path(rundir) / MANIFEST}")
    write_metrics(rundir, rows)


def versions() -> dict:
    return {"convnet": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


@contextmanager
def eval_mode(model: torch.nn.Module):
    """``model`` in eval mode inside the block; every submodule's own flag restored after it.

    Batch norm then uses its running statistics and dropout is off, whatever the caller's mode,
    and the caller's model leaves the block as it came (``model.train(flag)`` afterwards would
    not do: it sets every submodule to the root's flag).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.BatchNorm1d(2)).train()
        >>> with eval_mode(net):
        ...     net[0].training
        False
        >>> net[0].training
        True
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def load_model(rundir: Path) -> tuple[Network, dict]:
    """The trained model of a run, in eval mode (what every user path runs), and its manifest.

    The model is the one the run delivers: with a validation split, the epoch it chose
    (RUNDIR/best.safetensors), else the last (model.safetensors, which --resume continues).
    ``manifest["weights"]`` says which: ``{"file": "best.safetensors", "epoch": 3}``.
    """
    manifest = read_manifest(rundir)
    model = build_model(manifest["model"])
    if model.spec is not None and model.num_classes != manifest["model"]["num_classes"]:
        raise RunError(f"{Path(rundir) / MANIFEST}: model.spec ends in {model.num_classes} "
                       f"outputs but model.num_classes is {manifest['model']['num_classes']}")
    name = chosen_weights(rundir)
    weights, _, meta = load_checkpoint(rundir, with_optimizer=False, expected=shapes(model),
                                       name=name)
    load_weights(model, weights, Path(rundir) / name)
    manifest["weights"] = {"file": name, "epoch": meta.get("epoch")}
    return model.eval(), manifest


def weights_note(weights: dict) -> str:
    """Which of a run's weights a command uses, in words (``load_model``'s ``weights``).

    Example:
        >>> weights_note({"file": "best.safetensors", "epoch": 3})
        'weights: best.safetensors (epoch 3, chosen on the validation split)'
    """
    why = "chosen on the validation split" if weights["file"] == BEST else "the last epoch"
    return f"weights: {weights['file']} (epoch {weights['epoch']}, {why})"


def chosen_weights(rundir: Path) -> str:
    """The file of the weights a run delivers: best.safetensors when a validation split chose
    an epoch, else model.safetensors."""
    return BEST if (Path(rundir) / BEST).is_file() else WEIGHTS


# --- resuming -------------------------------------------------------------------------------------

# What `train --resume` may change: the run's maths is fixed by its run.json config, so any
# other flag must be left out or equal the recorded value (README "Train", train --help).
# --tensorboard only adds a copy of the metrics, so a resume may start or move it.
RESUME_MAY_CHANGE = ("epochs", "data_dir", "device", "progress", "tensorboard")
FLAG_NAMES = {"model": "MODEL", "data_dir": "--data", "input_shape": "--input"}


def _shown(value) -> str:  # as typed on the command line: 1x32x32, dog,cat
    if isinstance(value, (list, tuple)):
        return ("x" if all(isinstance(v, int) for v in value) else ",").join(map(str, value))
    return str(value)


def check_resume_flags(rundir: Path, config: dict, flags: dict) -> dict:
    """The flags a resume applies (``--data``, ``--device``, ``--tensorboard``); one line for
    any that would change the run's recorded config.

    Example:
        >>> check_resume_flags(Path("r"), {"lr": 0.01, "seed": 0}, {"seed": 0, "device": "cpu"})
        {'device': 'cpu'}
        >>> check_resume_flags(Path("r"), {"lr": 0.01}, {"lr": 0.1})
        Traceback (most recent call last):
        ...
        convnet.errors.RunError: --resume r: --lr 0.1 differs from the run's 0.01; ...
    """
    for name, value in flags.items():
        if value is None or name in RESUME_MAY_CHANGE:
            continue
        if name == "out":
            if Path(value).resolve() != Path(rundir).resolve():
                raise RunError(f"--resume {rundir} continues in {rundir}, not in --out {value}")
            continue
        recorded = config.get(name)
        if isinstance(value, (list, tuple)) and isinstance(recorded, (list, tuple)):
            value, recorded = list(value), list(recorded)
        if value != recorded:
            flag = FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
            raise RunError(f"--resume {rundir}: {flag} {_shown(value)} differs from the run's "
                           f"{_shown(recorded)}; a resume may change only --epochs, --data (same "
                           f"files), --device, --tensorboard, --quiet and --json (another run: "
                           f"--from-manifest)")
    return {k: flags[k] for k in ("data_dir", "device", "tensorboard")
            if flags.get(k) is not None}


def restore(rundir: Path, model: torch.nn.Module, epochs: int) -> tuple[dict, dict]:
    """The last checkpoint's weights put into ``model``; (optimizer state, meta).

    A run stopped before its first checkpoint gives ({}, {}) and ``model`` is left as it is
    (its seeded initial weights). ``epochs`` fewer than the checkpoint's is refused. The caller
    holds the run's lock: a checkpoint a kill left half-renamed is finished here.
    """
    if not has_progress(rundir):
        return {}, {}
    weights, optim, meta = load_checkpoint(rundir, expected=shapes(model))
    finish_checkpoint(rundir)
    done = int(meta.get("epoch", 0))
    if epochs < done:
        raise RunError(f"--epochs {epochs} is fewer than the {done} epochs {rundir} has "
                       f"already done; give a larger --epochs to extend it")
    load_weights(model, weights, Path(rundir) / WEIGHTS)
    return optim, meta


def check_same_data(rundir: Path, recorded: dict | None, found: dict) -> None:
    """Refuse to resume on files whose checksums differ from those the run recorded.

    Raises:
        RunError: naming the first file that is missing, extra or has other bytes.
    """
    if not recorded:  # a manifest without checksums (none to compare)
        return
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = ("is not one of the run's files" if name not in recorded else
                    "is missing" if name not in found else
                    "has other bytes than the run's (its sha256 differs from run.json's)")
            raise RunError(f"--resume {rundir}: the data are not the run's: {name} {what}; "
                           "resume on the run's own files (--data DIR)")
