"""Filter evolution: the first layer's filters at evenly spaced steps, from init to the end.

``convnet train --snapshots N`` keeps N copies of the first learned convolution's weights in
RUNDIR/snapshots.safetensors: one before the first update (the random initialisation), one
after the last, and the others evenly spaced between, by update count. They answer the
tutorials' most asked question, "how are the filters updated?": ``report`` draws them as a
strip and the page's Train view plays them.

    RUNDIR/snapshots.safetensors   tensor ``step000000123``: the weight (C_out, C_in, kh, kw)
                                   after 123 updates, fp32; metadata: the layer's name, the
                                   run's total updates, the format

The file is rewritten whole (``atomic_write``) at each snapshot, so a reader never sees half
of one and a killed run keeps the snapshots taken so far; ``--resume`` continues it.

Example:
    >>> schedule(5, 100), schedule(3, 1), schedule(2, 0)
    ([0, 25, 50, 75, 100], [0, 1], [0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import RunError
from .files import SNAPSHOTS, atomic_write

FORMAT = "convnet-snapshots/1"


def schedule(n: int, total: int) -> list[int]:
    """The update counts after which ``n`` evenly spaced snapshots are taken, 0 and ``total``
    included (fewer when the run has fewer than ``n - 1`` updates: one per update).

    Shape:
        step_k = round(k * total / (n - 1)), k = 0 .. n - 1, duplicates dropped.
    """
    return sorted({round(k * total / max(1, n - 1)) for k in range(n)})


def first_conv(model: torch.nn.Module) -> tuple[str, torch.nn.Conv2d] | tuple[None, None]:
    """The first convolution that learns (name, module): the filters that look at pixels.

    A frozen first convolution (airbench94's patch whitening, set from the data) is skipped:
    its filters never change, so the layer after it is where learning shows.
    """
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d) and module.weight.requires_grad:
            return name, module
    return None, None


def key(step: int) -> str:
    """The tensor name of the snapshot after ``step`` updates: 'step000000123'."""
    return f"step{step:09d}"


@dataclass
class Snapshots:
    """A run's filter snapshots, in step order: ``steps[i]`` updates gave ``weights[i]``."""

    layer: str
    total: int  # the run's planned number of updates (the last snapshot's step)
    steps: list[int] = field(default_factory=list)
    weights: list[torch.Tensor] = field(default_factory=list)  # each (C_out, C_in, kh, kw)

    def add(self, step: int, weight: torch.Tensor) -> None:
        self.steps.append(step)
        self.weights.append(weight.detach().float().cpu().contiguous().clone())

    def keep_until(self, step: int) -> None:
        """Drop snapshots taken after ``step`` updates (a resume replays those steps)."""
        kept = [i for i, s in enumerate(self.steps) if s <= step]
        self.steps = [self.steps[i] for i in kept]
        self.weights = [self.weights[i] for i in kept]

    def save(self, rundir: Path) -> None:
        tensors = {key(s): w for s, w in zip(self.steps, self.weights)}
        meta = {"format": FORMAT, "layer": self.layer, "total": str(self.total)}
        atomic_write(Path(rundir) / SNAPSHOTS, lambda tmp: save_file(tensors, tmp, meta),
                     own_file=True)

    def to_json(self, digits: int = 4) -> dict:
        """Steps and weights as plain lists (the page's animation), rounded to ``digits``."""
        return {"layer": self.layer, "total": self.total, "steps": self.steps,
                "shape": list(self.weights[0].shape) if self.weights else [],
                "weights": [w.numpy().round(digits).tolist() for w in self.weights]}


def load_snapshots(rundir: str | Path) -> Snapshots | None:
    """RUNDIR/snapshots.safetensors, or None when the run kept none.

    Raises:
        RunError: the file is not a snapshots file (corrupt, or another format).
    """
    path = Path(rundir) / SNAPSHOTS
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise RunError(f"{path}: not a {FORMAT} file (format {meta.get('format')!r})")
            snaps = Snapshots(meta.get("layer", "?"), int(meta.get("total", 0)))
            for name in sorted(f.keys()):
                snaps.add(int(name.removeprefix("step")), f.get_tensor(name))
    except (SafetensorError, OSError, ValueError) as e:
        raise RunError(f"{path}: unreadable snapshots file ({e})") from None
    return snaps


class SnapshotTaker:
    """Takes ``n`` evenly spaced snapshots of ``model``'s first learned convolution during a run
    of ``total`` updates, starting after ``done`` (a resumed run keeps the earlier ones)."""

    def __init__(self, rundir: Path, model: torch.nn.Module, n: int, total: int, done: int = 0):
        self.rundir = Path(rundir)
        name, self.conv = first_conv(model)
        self.due = set(schedule(n, total)) if self.conv is not None else set()
        old = load_snapshots(self.rundir) if done else None
        self.snaps = old or Snapshots(name or "", total)
        self.snaps.total = total
        self.snaps.keep_until(done)
        if done == 0 and 0 in self.due:  # the random initialisation, before any update
            self.take(0)

    def wants(self, step: int) -> bool:
        return step in self.due

    def take(self, step: int) -> None:
        self.snaps.add(step, self.conv.weight)
        self.snaps.save(self.rundir)
