"""A training run's every knob, with the reason beside each non-obvious default.

``TrainConfig`` is what ``convnet train`` flags and ``convnet.fit(**options)`` map onto (1:1)
and what ``RUNDIR/run.json`` records; ``check_config`` refuses a config no run can use (a number
out of range, a name not in ``CHOICES``, settings that do not go together), in one place, before
any data is read or any file is written.

Example:
    >>> TrainConfig().epochs is None   # the recipe's (convnet/recipes.py), filled in at start
    True
    >>> check_config(TrainConfig(batch_size=0))
    Traceback (most recent call last):
    ...
    convnet.errors.ConvnetError: --batch-size must be a whole number >= 1, got 0
    >>> check_config(TrainConfig(loss="mse"))
    Traceback (most recent call last):
    ...
    convnet.errors.ConvnetError: --loss must be cross-entropy or sse, got 'mse'
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
    val: int | float | None = None  # hold out this many training images (or this fraction,
                                   # 0 < f < 1), chosen by the seed, to choose the model on
                                   # instead of the test split (convnet/validation.py)
    early_stop: int | None = None  # stop after this many epochs without a better validation
                                   # score (needs --val); the best epoch's weights are kept
    seed: int = 0                  # fixes init, shuffling, augmentation, dropout and the val split
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
    tensorboard: str | None = None  # also write TensorBoard events to this folder (scalars,
                                   # first-layer filters, weight histograms; convnet/logs.py)
    init: str | None = None        # start from this run's weights (same architecture; the head
                                   # re-made for other classes, grey <-> RGB first filters
                                   # adapted; convnet/finetune.py)
    freeze: str | None = None      # features = train only the head (needs --init)
    snapshots: int | None = None   # keep this many evenly spaced copies of the first layer's
                                   # filters, init and end included (convnet/runs/snapshots.py)


# The names each text field may take (None, where allowed, is "the recipe's").
CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": ("sgd", "momentum", "nesterov", "adam"),
    "schedule": ("onecycle", "constant"),
    "loss": ("cross-entropy", "sse"),
    "device": ("auto", "cpu", "cuda"),
    "precision": ("auto", "fp32", "bf16"),
    "engine": ("torch", "numpy"),
    "freeze": ("features",),
}
MAX_SNAPSHOTS = 1000  # a strip of 1,000 is already finer than a page can show
NUMPY_OPTIMIZERS = ("sgd", "momentum", "adam")  # what numpy_engine/optim.py implements


def flag(name: str) -> str:
    """The command-line flag of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def in_words(values) -> str:
    """'a, b or c'.

    Example:
        >>> in_words(("torch", "numpy")), in_words(("auto", "cpu", "cuda"))
        ('torch or numpy', 'auto, cpu or cuda')
    """
    values = list(values)
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def check_choice(name: str, value) -> None:
    """Refuse a ``CHOICES[name]`` field's value that is not one of its names (None passes)."""
    if value is not None and value not in CHOICES[name]:
        raise ConvnetError(f"{flag(name)} must be {in_words(CHOICES[name])}, got {value!r}")


def check_config(cfg: TrainConfig) -> None:
    """Refuse a config no run can use, naming the flag and echoing the value (before any work).

    Fields left None (the recipe's) pass; ``train.start`` checks again once the recipe has
    filled them in, still before any file is written.

    Raises:
        ConvnetError: e.g. ``--batch-size must be a whole number >= 1, got 0``.
    """
    _check_numbers(cfg)
    for name in CHOICES:
        check_choice(name, getattr(cfg, name))
    _check_val(cfg.val)
    if cfg.batch_size is not None and cfg.distributed > cfg.batch_size:  # a rank of 0 images
        raise ConvnetError(f"--distributed {cfg.distributed} splits each batch of --batch-size "
                           f"{cfg.batch_size} across {cfg.distributed} processes: one would get "
                           f"no image; give fewer processes or a larger --batch-size")
    if cfg.early_stop is not None and cfg.val is None:
        raise ConvnetError(f"--early-stop {cfg.early_stop} needs a validation split to watch: "
                           "give --val N (images) or --val F (a fraction, e.g. 0.1)")
    if cfg.engine == "numpy":
        if cfg.optimizer not in (None, *NUMPY_OPTIMIZERS):
            raise ConvnetError(f"--engine numpy supports --optimizer "
                               f"{in_words(NUMPY_OPTIMIZERS)}, got {cfg.optimizer!r}")
        if cfg.distributed > 1:
            raise ConvnetError("--distributed needs --engine torch (the NumPy engine is one "
                               "process)")
    for name in ("model", "dataset"):
        if not isinstance(getattr(cfg, name), str) or not getattr(cfg, name).strip():
            raise ConvnetError(f"{name} must be a non-empty text, got {getattr(cfg, name)!r}")
    # Folders: '' (an unset shell variable) would silently mean the default runs/ or the cache.
    for name, option in (("tensorboard", None), ("init", None), ("out", None),
                         ("data_dir", "--data")):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConvnetError(f"{option or flag(name)} must be a folder, got {value!r}")
    _check_freeze(cfg)


def _check_numbers(cfg: TrainConfig) -> None:
    whole = {"epochs": (cfg.epochs, 1), "batch_size": (cfg.batch_size, 1),
             "shift": (cfg.shift, 0), "distributed": (cfg.distributed, 1),
             "limit": (cfg.limit, 1), "early_stop": (cfg.early_stop, 1), "seed": (cfg.seed, 0),
             "snapshots": (cfg.snapshots, 2)}
    for name, (value, low) in whole.items():
        if value is None:  # the recipe's, checked once it is filled in
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConvnetError(f"{flag(name)} must be a whole number >= {low}, got {value!r}")
    if cfg.snapshots is not None and cfg.snapshots > MAX_SNAPSHOTS:  # each rewrites the file
        raise ConvnetError(f"--snapshots must be at most {MAX_SNAPSHOTS}, got {cfg.snapshots}")
    ranges = {"lr": (cfg.lr, lambda v: v > 0, "> 0"),  # (value, allowed, in words)
              "momentum": (cfg.momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
              "weight_decay": (cfg.weight_decay, lambda v: v >= 0, ">= 0"),
              "label_smoothing": (cfg.label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)")}
    for name, (value, allowed, words) in ranges.items():
        if value is None:
            continue
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not (math.isfinite(value) and allowed(value))):
            raise ConvnetError(f"{flag(name)} must be a finite number {words}, got {value!r}")


def _check_val(val) -> None:
    """A count of images (a whole number >= 1) or a fraction strictly between 0 and 1."""
    if val is None:
        return
    count = isinstance(val, int) and not isinstance(val, bool) and val >= 1
    fraction = isinstance(val, float) and math.isfinite(val) and 0 < val < 1
    if not (count or fraction):
        raise ConvnetError(f"--val must be a number of images (>= 1) or a fraction between 0 "
                           f"and 1 (e.g. 0.1), got {val!r}")


def _check_freeze(cfg: TrainConfig) -> None:
    """--freeze keeps the weights of --init; the NumPy engine updates every weight."""
    if cfg.freeze is None:
        return
    if cfg.init is None:
        raise ConvnetError(f"--freeze {cfg.freeze} keeps the weights another run learned: give "
                           "--init RUNDIR (that run)")
    if cfg.engine == "numpy":
        raise ConvnetError(f"--freeze {cfg.freeze} needs --engine torch (the NumPy engine "
                           "updates every weight)")
