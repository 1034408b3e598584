"""A dataset's splits on the device, as the training loop reads them (airbench's data path).

Each split is one float32 tensor of images fitted to the model's input (channels, size) and
normalised once with the training images' per-channel statistics, plus its labels: ``train``
(less the images ``--val`` holds out, convnet/validation.py), ``val`` (those, or None) and
``test``. ``--limit N`` keeps the first N training images before the hold-out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import validation
from .config import TrainConfig
from .data import load_dataset
from .data.loader import channel_stats, fit_to_model, normalize


@dataclass
class Split:
    """One split on the device: normalised images and labels."""

    x: torch.Tensor  # (N, C, H, W) float32
    y: torch.Tensor  # (N,) int64


@dataclass
class Data:
    train: Split
    test: Split
    classes: list[str]
    info: dict = field(default_factory=dict)  # name, files, sizes, mean/std, framing
    val: Split | None = None  # held out of the training images by --val


def read_splits(cfg: TrainConfig):
    return [load_dataset(cfg.dataset, split, cfg.data_dir, classes=cfg.classes)
            for split in ("train", "test")]


def load_data(cfg: TrainConfig, input_shape: tuple, device: torch.device,
              stats: tuple | None = None, splits: list | None = None) -> Data:
    """The splits fitted to the model's input, normalised once with the training statistics;
    ``--limit`` takes the first images, then ``--val`` holds some of those out."""
    train, test = splits or read_splits(cfg)
    x, y = fit_to_model(train.images, input_shape), train.labels
    if cfg.limit:
        x, y = x[:cfg.limit], y[:cfg.limit]
    held = None
    if cfg.val is not None:
        keep, held = (i.numpy() for i in validation.hold_out(len(y), cfg.val, cfg.seed))
        x, y, held = x[keep], y[keep], (x[held], y[held])
    mean, std = stats or channel_stats(x)

    def split(images, labels) -> Split:
        return Split(normalize(images, mean, std, device), torch.as_tensor(labels).to(device))

    info = {"name": train.name, "files": {**train.files, **test.files}, "framing": train.framing,
            "train_size": len(y), "test_size": len(test.labels),
            "native_shape": list(train.images.shape[1:]), "mean": mean, "std": std,
            "classes": train.classes}
    if held is not None:
        info["val_size"] = len(held[1])
    return Data(split(x, y), split(fit_to_model(test.images, input_shape), test.labels),
                train.classes, info, split(*held) if held is not None else None)
