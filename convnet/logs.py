"""Metrics where practitioners look for them: ``RUNDIR/metrics.csv`` and TensorBoard.

``metrics.csv`` holds the rows of ``metrics.jsonl`` (which stays the run's record: resume and
the benchmarks read it), one column per field in the order the fields first appear, and is
rewritten whole (atomically) from the same rows each time the jsonl file is, so a spreadsheet
never sees half a row. ``--tensorboard DIR`` also writes, per epoch, through
``torch.utils.tensorboard``: the losses, accuracies and learning rate as scalars, the first
convolution's filters as images, and a histogram of every weight. TensorBoard is an optional
extra (``pip install 'convnet[tensorboard]'``).

Example:
    >>> csv_text([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "val_loss": 0.3}])
    'epoch,loss,val_loss\\r\\n1,0.5,\\r\\n2,0.25,0.3\\r\\n'
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

import torch

from . import runs
from .errors import ConvnetError

CSV = runs.CSV  # "metrics.csv"
INSTALL = "pip install 'convnet[tensorboard]'"


def csv_text(rows: list[dict]) -> str:
    """The rows as CSV (RFC 4180 line ends); a field a row lacks is an empty cell."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_csv(rundir: Path, rows: list[dict]) -> None:
    """RUNDIR/metrics.csv from ``rows`` (those of metrics.jsonl), written whole or not at all."""
    text = csv_text(rows)
    runs.atomic_write(Path(rundir) / CSV, lambda tmp: Path(tmp).write_text(text, newline=""),
                      own_file=True)


def require_tensorboard() -> None:
    """One line, before any file is written, when ``--tensorboard`` cannot work here."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConvnetError(f"--tensorboard needs the tensorboard package, which is not "
                           f"installed: {INSTALL}")


def first_conv(model: torch.nn.Module) -> torch.nn.Conv2d | None:
    """The model's first 2-d convolution (in definition order), if it has one."""
    return next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)


def filter_images(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, kh, kw) filters -> (N, 1 or 3, kh, kw) images scaled to [0, 1], one per filter
    (RGB for 3 input channels, else one grey image per input channel), each scaled on its own.

    Example:
        >>> filter_images(torch.randn(6, 1, 5, 5)).shape   # LeNet-5's C1: 6 grey 5x5 images
        torch.Size([6, 1, 5, 5])
        >>> filter_images(torch.randn(4, 2, 3, 3)).shape   # 2 input channels: 2 images a filter
        torch.Size([8, 1, 3, 3])
    """
    w = weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.reshape(-1, 1, *w.shape[2:])  # (out, in, kh, kw) -> (out * in, 1, kh, kw)
    low = w.amin(dim=(1, 2, 3), keepdim=True)
    span = (w.amax(dim=(1, 2, 3), keepdim=True) - low).clamp_min(1e-12)
    return (w - low) / span


class TensorBoard:
    """Per-epoch TensorBoard events for one run (rank 0 only).

    Args:
        folder (str): the log directory (``--tensorboard DIR``).
        start_epoch (int): epochs already done; a resumed run drops events after it (they
            are replayed). Default: 0.
    """

    def __init__(self, folder: str, start_epoch: int = 0):
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        runs.make_dir(Path(folder))
        self.writer = SummaryWriter(folder, purge_step=start_epoch + 1 if start_epoch else None)

    def log_epoch(self, row: dict, model: torch.nn.Module) -> None:
        """The row's losses, accuracies and learning rate, the first layer's filters and a
        histogram of every parameter, at step = the epoch."""
        step = row["epoch"]
        for key, value in row.items():
            if key.endswith(("_loss", "_accuracy", "_accuracy_flip")):
                split, _, what = key.partition("_")
                self.writer.add_scalar(f"{what}/{split}", value, step)
        if row.get("lr") is not None:
            self.writer.add_scalar("lr", row["lr"], step)
        conv = first_conv(model)
        if conv is not None:
            self.writer.add_images("filters/first_layer", filter_images(conv.weight), step)
        for name, param in model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", param.detach().float().cpu(), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
