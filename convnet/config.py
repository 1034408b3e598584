"""A training run's every knob, with the reason beside each non-obvious default.

``TrainConfig`` is what ``convnet train`` flags map onto (1:1) and what ``RUNDIR/run.json``
records; ``check_config`` refuses numbers no run can use before any data is read.

Example:
    >>> TrainConfig().epochs, TrainConfig().batch_size
    (2, 128)
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
    # The default recipe is the fastest we found to 99 % on MNIST with LeNet-5 (docs/performance.md:
    # 2 epochs, 99.19-99.38 % over seeds 0-2, ~7 s of training on 2 CPU cores). Bigger models and
    # harder data want more epochs (docs/models.md has the recipes of the zoo table).
    epochs: int = 2                # 2 x 60k images
    batch_size: int = 128          # small enough for many updates per epoch, big enough to be fast
    lr: float = 8e-3               # peak of the one-cycle schedule (Adam); 3e-3 gave 98.94-99.03 %
    optimizer: str = "adam"        # sgd | momentum | adam
    momentum: float = 0.9          # for --optimizer momentum
    weight_decay: float = 0.0
    schedule: str = "onecycle"     # onecycle (warm up 20 %, cosine down to 0) | constant
    loss: str = "cross-entropy"    # cross-entropy | sse (the tutorials' ½Σ(target − softmax)²)
    label_smoothing: float = 0.05  # cross-entropy only; stops over-confident logits late on
    shift: int = 1                 # random translation in pixels (0 = none); 2 pays off only in
                                   # longer runs (6 epochs: 99.39 %)
    flip: bool = False             # random left-right mirroring: photos yes, digits never (a
                                   # mirrored 2 is no digit)
    seed: int = 0                  # fixes init, shuffling, augmentation and dropout
    device: str = "auto"           # auto | cpu | cuda
    channels_last: bool = True     # NHWC layout: oneDNN/cuDNN convolutions run 1.3-1.8x faster
                                   # (measured, docs/performance.md); same maths, other rounding
    precision: str = "auto"        # fp32 | bf16 (autocast: bf16 matmuls/convs, fp32 weights) |
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
             "shift": (cfg.shift, 0), "distributed": (cfg.distributed, 1)}
    if cfg.limit is not None:
        whole["limit"] = (cfg.limit, 1)
    for name, (value, low) in whole.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConvnetError(f"--{name.replace('_', '-')} must be a whole number >= {low}, "
                               f"got {value!r}")
    ranges = {"lr": (cfg.lr, lambda v: v > 0, "> 0"),  # (value, allowed, in words)
              "momentum": (cfg.momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
              "weight_decay": (cfg.weight_decay, lambda v: v >= 0, ">= 0"),
              "label_smoothing": (cfg.label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)")}
    for name, (value, allowed, words) in ranges.items():
        if not (math.isfinite(value) and allowed(value)):
            raise ConvnetError(f"--{name.replace('_', '-')} must be a finite number {words}, "
                               f"got {value!r}")
    if cfg.schedule not in ("onecycle", "constant"):
        raise ConvnetError(f"--schedule must be onecycle or constant, got {cfg.schedule!r}")
