"""Shared PNG helpers (matplotlib Agg): the grid layout rule and a labelled grid of panels.

Every picture is drawn off-screen with the Agg backend and saved without a timestamp, so the
same inputs give the same bytes.

Example:
    >>> grid_shape(6), grid_shape(16), grid_shape(10)
    ((2, 3), (4, 4), (3, 4))
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..runs import atomic_write, make_dir

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


def png_uri(image: np.ndarray, scale: int = 1) -> str:
    """A uint8 (C, H, W) image, C = 1 or 3, as a PNG data URI, enlarged ``scale`` times.

    Enlarging uses nearest neighbour, so a 28x28 digit stays sharp (no blur between pixels).

    Example:
        >>> png_uri(np.zeros((3, 2, 2), np.uint8))[:30]
        'data:image/png;base64,iVBORw0K'
    """
    pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)  # -> (H, W[, C])
    im = Image.fromarray(np.ascontiguousarray(pixels))
    if scale != 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pyplot():
    """matplotlib.pyplot on the off-screen Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: str | Path) -> str:
    """Save a figure as PNG without a timestamp or version (deterministic bytes) and close it.

    Every picture convnet draws is written here, whole or not at all (``runs.atomic_write``):
    a full disk leaves the previous file, never a truncated PNG, and says so in one line.
    """
    path = make_dir(Path(path).parent) / Path(path).name
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI,
                                                   metadata={"Software": None}))
    finally:
        pyplot().close(fig)
    return str(path)


def mosaic(panels: list[np.ndarray], rows: int, cols: int, gap: int, label_gap: int = 0
           ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Panels tiled row by row into one array, NaN between them; the top centre of each panel.

    Each row of panels has ``label_gap`` empty rows above it, where a panel's title goes.
    Panels may be (h, w) values or (h, w, 3) colours; the mosaic keeps that trailing axis.

    Drawing one image instead of one matplotlib Axes per panel is what keeps a report with
    hundreds of maps at a few seconds (an Axes costs ~14 ms to make, an image nothing).

    Shape:
        panels: n arrays of (h, w) [or (h, w, 3)] -> (rows * (label_gap + h + gap) - gap,
        cols * (w + gap) - gap) [, 3], with h, w the largest panel's sides.

    Example:
        >>> m, tops = mosaic([np.ones((2, 2)), np.zeros((2, 2))], 1, 2, gap=1)
        >>> m.shape, tops
        ((2, 5), [(0.5, -0.5), (3.5, -0.5)])
    """
    h = max(p.shape[0] for p in panels)
    w = max(p.shape[1] for p in panels)
    step_y, step_x = h + gap + label_gap, w + gap
    out = np.full((rows * step_y - gap, cols * step_x - gap) + panels[0].shape[2:], np.nan)
    tops = []
    for i, panel in enumerate(panels):
        y, x = (i // cols) * step_y + label_gap, (i % cols) * step_x
        out[y:y + panel.shape[0], x:x + panel.shape[1]] = panel
        tops.append((x + (panel.shape[1] - 1) / 2, y - 0.5))  # pixel centres are integers
    return out, tops


def draw_grid(panels: list[np.ndarray], rows: int, cols: int, path: str | Path, title: str,
              labels: list[str] | None = None, cmap: str = "gray", symmetric: bool = False,
              panel_inches: float = 1.1) -> Grid:
    """Draw 2-D arrays row by row in a rows x cols grid, all on one colour scale, and save it.

    Args:
        panels (list[ndarray]): (H, W) arrays, at most rows * cols of them; or (H, W, 3)
            RGB colours in [0, 1], drawn as they are (``cmap`` and ``symmetric`` unused).
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
    fig, ax = plt.subplots(layout="constrained",
                           figsize=(max(4.0, side * cols), side * rows + 0.6))
    ax.axis("off")
    if panels:
        size = max(max(p.shape[:2]) for p in panels)
        gap = max(1, round(0.1 * size))  # a thin white line between panels
        label_gap = max(2, round(0.3 * size)) if labels else 0  # room for a panel's title
        image, tops = mosaic(panels, rows, cols, gap, label_gap)
        if image.ndim == 3:  # RGB: already colours; the NaN between panels becomes white
            ax.imshow(np.nan_to_num(image, nan=1.0), interpolation="nearest")
        else:
            colours = plt.get_cmap(cmap).with_extremes(bad="white")  # the NaN between panels
            ax.imshow(image, cmap=colours, vmin=lo, vmax=hi, interpolation="nearest")
        for label, (x, y) in zip(labels or [], tops):
            ax.text(x, y - 0.3, label, fontsize=7, ha="center", va="bottom")
    fig.suptitle(title, fontsize=10)
    return Grid(save(fig, path), title, rows, cols, len(panels), list(labels or []))
