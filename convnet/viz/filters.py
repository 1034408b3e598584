"""Learned filters: every convolution's weights as C_out rows x C_in columns of k x k panels.

The first convolution looks at the image itself, so each of its panels is also labelled with
the nearest classic kernel (``kernels.CLASSIC_KERNELS``) and the similarity.

How "nearest" is measured: plain cosine similarity between the flattened weights, in [-1, 1]
(1 = the same kernel up to a positive scale). The mean is *not* removed: after removing it,
the identity and "edge detection 3" become the same vector (8·δ − 1 ∝ δ − 1/9) and the box
blur becomes all zeros, so three of the ten classic kernels could no longer be told apart.
A 3x3 kernel is compared with a k x k filter in two forms, and the better one counts:
zero-padded into the centre (the same operator: a 3x3 kernel *is* a k x k kernel with a zero
border) and stretched to k x k by bilinear interpolation (the same shape at a larger scale).

Example:
    >>> nearest_kernel(np.array(CLASSIC_KERNELS["sobel x"]) * 0.3)
    ('sobel x', 1.0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .draw import Grid, draw_grid, grid_shape
from .kernels import CLASSIC_KERNELS
from .maps import file_stem

MAX_ROWS, MAX_COLS = 32, 16  # filters x input channels drawn; a 32 x 16 grid is ~1,300 px tall


def _resized(kernel: np.ndarray, k: int) -> list[np.ndarray]:
    """A 3x3 kernel as k x k candidates: centred with a zero border, and stretched bilinearly."""
    if kernel.shape == (k, k):
        return [kernel]
    t = torch.as_tensor(kernel, dtype=torch.float32)[None, None]  # (3, 3) -> (1, 1, 3, 3)
    stretched = F.interpolate(t, size=(k, k), mode="bilinear", align_corners=True)[0, 0].numpy()
    if k < kernel.shape[0]:
        return [stretched]
    before = (k - kernel.shape[0]) // 2
    centred = np.pad(kernel, (before, k - kernel.shape[0] - before))
    return [centred, stretched]


def nearest_kernel(weights: np.ndarray) -> tuple[str, float]:
    """The classic kernel most similar to a square filter, and the cosine similarity.

    Args:
        weights (ndarray): (k, k) filter weights for one input channel.

    Returns:
        (name, similarity), similarity rounded to 3 decimals; ("none", 0.0) for an all-zero
        filter.
    """
    w = np.asarray(weights, dtype=np.float64)
    k = w.shape[0]
    norm = np.linalg.norm(w)
    best = ("none", 0.0)
    if norm == 0:
        return best
    for name, kernel in CLASSIC_KERNELS.items():
        for candidate in _resized(np.asarray(kernel, dtype=np.float64), k):
            sim = float(np.dot(w.ravel(), candidate.ravel()) / (norm * np.linalg.norm(candidate)))
            if sim > best[1] + 1e-9:
                best = (name, sim)
    return best[0], round(best[1], 3)


def conv_weight(module: nn.Module) -> torch.Tensor:
    """The weights a convolution really applies (a connection table's unused ones are zero)."""
    get = getattr(module, "effective_weight", None)
    return (get() if get else module.weight).detach().float().cpu()


def draw_filters(name: str, module: nn.Conv2d, path: str | Path, label: bool) -> Grid:
    """One convolution's filters, a row per filter and a column per input channel.

    A single-channel layer (C_in = 1) is wrapped into ``grid_shape(C_out)`` instead.

    Shape:
        weight (C_out, C_in, kh, kw) -> min(C_out, MAX_ROWS) x min(C_in, MAX_COLS) panels.
    """
    weight = conv_weight(module).numpy()  # (C_out, C_in, kh, kw)
    c_out, c_in, kh, kw = weight.shape
    rows, cols = min(c_out, MAX_ROWS), min(c_in, MAX_COLS)
    panels = [weight[r, c] for r in range(rows) for c in range(cols)]
    shown = "" if (rows, cols) == (c_out, c_in) else f", first {rows} x {cols} shown"
    title = f"{name}: {c_out} filters {kh}x{kw} x {c_in} channels{shown}"
    if c_in == 1:  # one column of panels would be a tall strip: wrap it like the maps
        rows, cols = grid_shape(len(panels))
    labels = None
    if label and kh == kw:
        labels = [f"{n} {s:.2f}" for n, s in map(nearest_kernel, panels)]
        title += "\nlabels: nearest classic kernel, cosine similarity"
    return draw_grid(panels, rows, cols, path, title, labels, cmap="RdBu_r", symmetric=True,
                     panel_inches=1.5 if labels else max(0.45, min(0.8, 8.0 / cols)))


def render_filters(layers: list[tuple[str, nn.Module]], out_dir: str | Path) -> list[Grid]:
    """A grid for every convolution in ``layers``: DIR/filters_NN_<layer>.png."""
    convs = [(n, m) for n, m in layers if isinstance(m, nn.Conv2d)]
    return [draw_filters(name, m, Path(out_dir) / f"filters_{i:02d}_{file_stem(name)}.png",
                         label=(i == 1))
            for i, (name, m) in enumerate(convs, 1)]
