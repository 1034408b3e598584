"""Shared PNG helpers (matplotlib Agg): the grid layout rule and a labelled grid of panels.

Every picture is drawn off-screen with the Agg backend and saved without a timestamp, so the
same inputs give the same bytes.

Example:
    >>> grid_shape(6), grid_shape(16), grid_shape(10)
    ((2, 3), (4, 4), (3, 4))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DPI = 80  # 80 dots per inch: a 64-panel grid is about 800 x 800 pixels, well under 1 MB


@dataclass
class Grid:
    """Where a grid was saved and how it is laid out (tests read this, not the pixels)."""

    path: str
    title: str
    rows: int
    cols: int
    n_panels: int
    labels: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"path": self.path, "title": self.title, "rows": self.rows, "cols": self.cols,
                "n_panels": self.n_panels}


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns for n panels: ceil(sqrt(n)) columns, as many rows as needed."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def pyplot():
    """matplotlib.pyplot on the off-screen Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: str | Path) -> str:
    """Save a figure as PNG without a timestamp or version (deterministic bytes) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    pyplot().close(fig)
    return str(path)


def draw_grid(panels: list[np.ndarray], rows: int, cols: int, path: str | Path, title: str,
              labels: list[str] | None = None, cmap: str = "gray", symmetric: bool = False,
              panel_inches: float = 1.1) -> Grid:
    """Draw 2-D arrays row by row in a rows x cols grid, all on one colour scale, and save it.

    Args:
        panels (list[ndarray]): (H, W) arrays, at most rows * cols of them.
        labels (list[str] | None): one small title per panel. Default: none.
        cmap (str): matplotlib colour map. Default: "gray".
        symmetric (bool): centre the scale on 0 (for signed weights). Default: False, min..max.
        panel_inches (float): side of one panel. Default: 1.1.
    """
    plt = pyplot()
    values = np.concatenate([p.ravel() for p in panels]) if panels else np.zeros(1)
    lo, hi = float(values.min()), float(values.max())
    if symmetric:
        lo, hi = -max(abs(lo), abs(hi), 1e-12), max(abs(lo), abs(hi), 1e-12)
    side = panel_inches + (0.25 if labels else 0.0)
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained",
                             figsize=(max(4.0, side * cols), side * rows + 0.6))
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, panel) in enumerate(zip(axes.flat, panels)):
        ax.imshow(panel, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        if labels:
            ax.set_title(labels[i], fontsize=7)
    fig.suptitle(title, fontsize=10)
    return Grid(save(fig, path), title, rows, cols, len(panels), list(labels or []))
