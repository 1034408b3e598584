"""Filter evolution as a strip: each first-layer filter from its random start to the end.

``convnet train --snapshots N`` keeps the snapshots (``runs.snapshots``); this draws them, a
row per filter and a column per snapshot, left to right in training order, for ``report``.
Each row is scaled to its own largest |w| over all its columns (grey is 0 in colour, white in
RdBu), so a filter's growth from small random weights is visible, not only its shape.

Example:
    >>> strip_columns(5, 8), strip_columns(5, 3), strip_columns(100, 4)
    ([0, 1, 2, 3, 4], [0, 2, 4], [0, 33, 66, 99])
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from ..runs.snapshots import Snapshots, load_snapshots
from .draw import Grid, draw_grid

MAX_FILTERS = 8   # rows: enough to see the kinds of filter, small enough for one screen
MAX_COLUMNS = 10  # snapshots shown; more are thinned evenly, the first and last always kept


def strip_columns(n: int, most: int = MAX_COLUMNS) -> list[int]:
    """Which of ``n`` snapshots to show: all if they fit, else ``most`` evenly spaced ones."""
    if n <= most:
        return list(range(n))
    return sorted({round(k * (n - 1) / (most - 1)) for k in range(most)})


def strip_panels(snaps: Snapshots, columns: list[int], rows: int) -> list[np.ndarray]:
    """Row by row: filter r at each shown snapshot, scaled by the row's largest |w|.

    Shape:
        weights (C_out, C_in, k, k) per snapshot -> rows * len(columns) panels, each (k, k)
        (input channel 0) or (k, k, 3) for an RGB first layer (0.5 + 0.5 * w / max|w|).
    """
    panels = []
    for r in range(rows):
        row = np.stack([snaps.weights[c][r].numpy() for c in columns])  # (T, C_in, k, k)
        top = float(np.abs(row).max()) or 1.0
        for w in row / top:
            panels.append(0.5 + 0.5 * w.transpose(1, 2, 0) if w.shape[0] == 3 else w[0])
    return panels


def draw_evolution(snaps: Snapshots, path: str | Path) -> Grid:
    """The strip as a PNG: ``MAX_FILTERS`` rows of filters, ``MAX_COLUMNS`` snapshots across."""
    columns = strip_columns(len(snaps.steps))
    c_out, c_in, kh, kw = snaps.weights[0].shape
    rows = min(c_out, MAX_FILTERS)
    panels = strip_panels(snaps, columns, rows)
    labels = [f"step {snaps.steps[c]}" if r == 0 else "" for r in range(rows) for c in columns]
    shown = "" if c_in in (1, 3) else f", input channel 0 of {c_in}"
    title = (f"{snaps.layer}: {rows} of {c_out} filters {kh}x{kw}{shown}\n"
             f"{len(columns)} of {len(snaps.steps)} snapshots (step 0: random init)\n"
             "each row scaled to its own max |w|")
    return draw_grid(panels, rows, len(columns), path, title, labels, cmap="RdBu_r",
                     symmetric=True, panel_inches=0.7)


def evolution_section(rundir: str | Path, tmp: Path) -> str:
    """The report's "Filter evolution" section (a note on how to get one when there is none)."""
    snaps = load_snapshots(rundir)
    head = '<section id="evolution"><h2>Filter evolution</h2>'
    if snaps is None or not snaps.steps:
        return (f"{head}<p>no snapshots in this run: train with <code>--snapshots N</code> to "
                "see the first-layer filters from random initialisation to the end</p></section>")
    grid = draw_evolution(snaps, Path(tmp) / "evolution.png")
    uri = "data:image/png;base64," + base64.b64encode(Path(grid.path).read_bytes()).decode()
    return (f'{head}<p>how the filters are updated: the first layer at {len(snaps.steps)} '
            f"evenly spaced steps of {snaps.total}</p>"
            f'<img class="strip" src="{uri}" alt="{html.escape(grid.title)}"></section>')
