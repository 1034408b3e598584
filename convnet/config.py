"""A training run's every knob, with the reason beside each non-obvious default.

``TrainConfig`` is what ``convnet train`` flags map onto (1:1) and what ``RUNDIR/run.json``
records; ``check_config`` refuses numbers no run can use before any data is read.

Example:
    >>> TrainConfig().epochs is None   # the recipe's (convnet/recipes.py), filled in at start
    True
    >>> check_config(TrainConfig(batch_size=0))
    Traceback (most recent call last):
    ...
    convnet.errors.ConvnetError: --batch-size must be a whole number >= 1, got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConvnetError


@dataclass
class TrainConfig:
    """Every knob of a run; the CLI flags map 1:1 onto these fields and run.json records them."""

    model: str = "lenet5"          # registry name, or a spec line "conv6@5x5 relu ... fc10"
    dataset: str = "mnist"         # mnist, fashion-mnist, cifar10, semeion, or an image folder
    data_dir: str | None = None    # local copy; else $CONVNET_DATA, else the download cache
    classes: list[str] | None = None  # CIFAR subset, relabelled 0..k-1 in this order
    input_shape: list[int] | None = None  # spec models only: CxHxW (default: the dataset's)
    # The recipe: None means "the recipe's value" for the model and the kind of data, filled in
    # by recipes.resolve when the run starts (convnet/recipes.py; each value's source and
    # measurement in docs/models.md). LeNet-5 on MNIST gets 2 epochs of Adam (99.35 %, ~7 s).
    epochs: int | None = None      # passes over the training set
    batch_size: int | None = None  # images per update
    lr: float | None = None        # peak of the one-cycle schedule
    optimizer: str | None = None   # sgd | momentum | nesterov | adam
    momentum: float | None = None  # for momentum and nesterov
    weight_decay: float | None = None
    schedule: str | None = None    # onecycle (warm up 20 %, cosine down to 0) | constant
    loss: str = "cross-entropy"    # cross-entropy | sse (the tutorials' ½Σ(target − softmax)²)
    label_smoothing: float | None = None  # cross-entropy only; stops over-confident logits
    shift: int | None = None       # random translation in pixels (0 = none); 4 with zero fill is
                                   # the classic CIFAR "pad 4, random crop"
    flip: bool | None = None       # random left-right mirroring: photos yes, digits never (a
                                   # mirrored 2 is no digit)
    seed: int = 0                  # fixes init, shuffling, augmentation and dropout
    device: str = "auto"           # auto | cpu | cuda
    channels_last: bool = True     # NHWC layout: oneDNN/cuDNN convolutions run 1.3-1.8x faster
                                   # (measured, docs/performance.md); same maths, other rounding
    precision: str | None = None   # fp32 | bf16 (autocast: bf16 matmuls/convs, fp32 weights) |
                                   # auto = bf16 on a GPU, fp32 on CPU (where LeNet-5 gains
                                   # nothing from bf16; bigger models do: --precision bf16)
    distributed: int = 1           # processes (DDP ranks) sharing each global batch; see
                                   # distributed.py (torchrun sets its own world instead)
    out: str | None = None         # RUNDIR; default runs/<model>-<dataset>
    limit: int | None = None       # use only the first N training images (quick checks)
    progress: bool = True
    engine: str = "torch"          # torch | numpy (the from-scratch engine: same batches, schedule
                                   # and losses; weights copied back before every checkpoint)


def check_config(cfg: TrainConfig) -> None:
    """Refuse numbers no run can use, naming the flag and echoing the value (before any work).

    Raises:
        ConvnetError: e.g. ``--batch-size must be a whole number >= 1, got 0``.
    """
    whole = {"epochs": (cfg.epochs, 1), "batch_size": (cfg.batch_size, 1),
             "shift": (cfg.shift, 0), "distributed": (cfg.distributed, 1), "limit": (cfg.limit, 1)}
    for name, (value, low) in whole.items():
        if value is None:  # the recipe's, checked once it is filled in
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConvnetError(f"--{name.replace('_', '-')} must be a whole number >= {low}, "
                               f"got {value!r}")
    ranges = {"lr": (cfg.lr, lambda v: v > 0, "> 0"),  # (value, allowed, in words)
              "momentum": (cfg.momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
              "weight_decay": (cfg.weight_decay, lambda v: v >= 0, ">= 0"),
              "label_smoothing": (cfg.label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)")}
    for name, (value, allowed, words) in ranges.items():
        if value is None:
            continue
        if not (math.isfinite(value) and allowed(value)):
            raise ConvnetError(f"--{name.replace('_', '-')} must be a finite number {words}, "
                               f"got {value!r}")
    if cfg.schedule not in (None, "onecycle", "constant"):
        raise ConvnetError(f"--schedule must be onecycle or constant, got {cfg.schedule!r}")
