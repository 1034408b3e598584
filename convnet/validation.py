"""A validation split: choose the epoch (and stop early) on held-out training images, not on
the test set.

``--val N`` (images) or ``--val F`` (a fraction, 0 < F < 1) holds out a part of the training
set chosen by the seed; it is neither trained on nor used for the normalisation statistics.
Each epoch's metrics row then gains ``val_loss`` and ``val_accuracy``, the best epoch's weights
are kept in ``RUNDIR/best.safetensors`` beside the last ones (``model.safetensors``, which
``--resume`` continues from), and ``--early-stop P`` ends the run after P epochs without a
better one. Best means the highest validation accuracy, the lower validation loss breaking a
tie. The test split is still measured every epoch (``test_accuracy``: the metrics contract),
but it chooses nothing.

Everything here is a function of the seed and of the metrics rows, so a resumed run holds out
the same images and knows its best epoch and its patience from ``metrics.jsonl`` alone.

Example:
    >>> rows = [{"epoch": 1, "val_accuracy": 0.90, "val_loss": 0.4},
    ...         {"epoch": 2, "val_accuracy": 0.93, "val_loss": 0.3},
    ...         {"epoch": 3, "val_accuracy": 0.93, "val_loss": 0.35},
    ...         {"epoch": 4, "val_accuracy": 0.92, "val_loss": 0.3}]
    >>> best_row(rows)["epoch"], should_stop(rows, 2), should_stop(rows, 3)
    (2, True, False)
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from . import runs
from .errors import ConvnetError

BEST = runs.BEST  # "best.safetensors": the best epoch's weights, a plain state_dict
SPLIT_STREAM = 7_919  # the held-out images' generator is seeded apart from shuffling's


def val_size(val: int | float, n: int) -> int:
    """How many of ``n`` training images ``--val`` holds out: a count, or a fraction of ``n``
    (rounded, at least 1). At least one image must be left to train on.

    Example:
        >>> val_size(0.1, 600), val_size(50, 600)
        (60, 50)
    """
    k = val if isinstance(val, int) else max(1, round(val * n))
    if k >= n:
        raise ConvnetError(f"--val {val} holds out {k:,} images but the training set has only "
                           f"{n:,}: give a smaller --val")
    return k


def hold_out(n: int, val: int | float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices kept for training, indices held out), each in ascending order, chosen by the
    seed alone: a resumed or repeated run holds out the same images.

    Example:
        >>> keep, held = hold_out(10, 0.3, seed=0)
        >>> len(keep), len(held), sorted(keep.tolist() + held.tolist()) == list(range(10))
        (7, 3, True)
    """
    gen = torch.Generator().manual_seed(seed * 100_003 + SPLIT_STREAM)
    order = torch.randperm(n, generator=gen)
    k = val_size(val, n)
    return order[k:].sort().values, order[:k].sort().values


def _score(row: dict) -> tuple[float, float]:
    """Higher is better: (validation accuracy, minus validation loss); a NaN loss is worst."""
    loss = row["val_loss"]
    return row["val_accuracy"], -loss if math.isfinite(loss) else -math.inf


def best_row(history: list[dict]) -> dict | None:
    """The row of the best epoch so far (the earliest of equals), None without validation."""
    best = None
    for row in history:
        if "val_accuracy" in row and (best is None or _score(row) > _score(best)):
            best = row
    return best


def should_stop(history: list[dict], patience: int | None) -> bool:
    """Whether ``patience`` epochs have passed since the best one (never without patience)."""
    best = best_row(history)
    return bool(patience and best and history[-1]["epoch"] - best["epoch"] >= patience)


def save_best(rundir: Path, model: torch.nn.Module, row: dict) -> None:
    """The model's weights as a plain state_dict in RUNDIR/best.safetensors (atomically, in the
    layout of model.safetensors: ``runs.save_weights``), the epoch's metrics row in its
    metadata; ``load_state_dict(load_file(...))`` takes it."""
    runs.save_weights(Path(rundir) / BEST, model, {"epoch": row["epoch"], "metrics": row})


def final(history: list[dict], epochs: int) -> dict:
    """What a run delivers, for run.json's ``final`` and ``convnet train``'s result: the last
    epoch's row, or with validation the best epoch's row (its weights are in best.safetensors)
    with ``chosen_by``, ``epochs_run``, ``stopped_early`` and the whole run's ``seconds``.

    Example:
        >>> rows = [{"epoch": 1, "val_accuracy": 0.9, "val_loss": 0.3, "seconds": 1.0},
        ...         {"epoch": 2, "val_accuracy": 0.8, "val_loss": 0.5, "seconds": 2.0}]
        >>> r = final(rows, epochs=5)
        >>> r["epoch"], r["epochs_run"], r["seconds"], r["chosen_by"]
        (1, 2, 2.0, 'val_accuracy')
    """
    best, last = best_row(history), history[-1]
    if best is None:
        return dict(last)
    return {**best, "seconds": last["seconds"], "chosen_by": "val_accuracy",
            "epochs_run": last["epoch"], "stopped_early": last["epoch"] < epochs}


def summary_line(result: dict) -> str:
    """The line ``convnet train`` ends with: the test accuracy of the model the run delivers,
    and which split chose it.

    Example:
        >>> print(summary_line({"test_accuracy": 0.99, "epoch": 2, "seconds": 7.61, "rundir": "r"}))
        test accuracy 99.00% after 2 epochs (7.6 s of training; the last epoch: no validation
        split chose it); run saved in r
    """
    flip = result.get("test_accuracy_flip")
    flips = "" if flip is None else f" (with flips {flip:.2%})"
    head = f"test accuracy {result['test_accuracy']:.2%}{flips}"
    seconds = f"{result['seconds']:.1f} s of training"
    if "chosen_by" not in result:
        return (f"{head} after {result['epoch']} epochs ({seconds}; the last epoch: no "
                f"validation split chose it); run saved in {result['rundir']}")
    stopped = ", stopped early" if result["stopped_early"] else ""
    return (f"{head} with epoch {result['epoch']}'s weights, chosen on the validation split "
            f"(val accuracy {result['val_accuracy']:.2%}), after {result['epochs_run']} epochs"
            f"{stopped} ({seconds}); run saved in {result['rundir']} ({BEST})")
