"""Learned filters: every convolution's weights as C_out rows x C_in columns of k x k panels.

The first convolution looks at the image itself. On an RGB image each of its filters is drawn
as one colour picture (``colour_filter``: R, G, B weights -> red, green, blue, grey = 0) instead
of three panels, and each filter is labelled with the nearest classic kernel
(``kernels.CLASSIC_KERNELS``) when it is near enough (``MIN_SIMILARITY``).

How "nearest" is measured: cosine similarity between the filter, all of its input channels
together, and a classic kernel K applied to a non-negative mix a of those channels (the grey
image, one colour, or anything between), with the best mix: the candidate is a ⊗ K, and
max over a ≥ 0 of cos(w, a ⊗ K) = |max(<w_c, K>, 0)|_2 / (|w| |K|), with <w_c, K> the dot
product of channel c with K. With one channel this is the plain cosine (clipped at 0): 1 = the
same kernel up to a positive scale. The mix is non-negative so that -K is not K; a filter whose
colours work against each other (red minus green) matches no classic kernel, which is right.
The mean is *not* removed: after removing it, the identity and "edge detection 3" become the
same vector (8·δ − 1 ∝ δ − 1/9) and the box blur becomes all zeros, so three of the ten
classic kernels could no longer be told apart. A 3x3 kernel is compared with a k x k filter in
two forms, and the better one counts: zero-padded into the centre (the same operator: a 3x3
kernel *is* a k x k kernel with a zero border) and stretched to k x k by bilinear interpolation
(the same shape at a larger scale).

Example:
    >>> nearest_kernel(np.array(CLASSIC_KERNELS["sobel x"]) * 0.3)
    ('sobel x', 1.0)
    >>> red_sobel = np.stack([np.array(CLASSIC_KERNELS["sobel x"]), np.zeros((3, 3)),
    ...                       np.zeros((3, 3))])   # (3, 3, 3): Sobel on the red channel only
    >>> nearest_kernel(red_sobel), kernel_label(red_sobel)
    (('sobel x', 1.0), 'sobel x 1.00')
    >>> kernel_label(np.eye(5))  # a diagonal line: the nearest kernel explains too little
    'no match'
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
# A label needs cos² ≥ ½: the kernel accounts for at least half of the filter's energy (squared
# norm). Random Gaussian 5x5 filters reach 0.58 (one channel) and 0.42 (RGB) at the 99th
# percentile of their best match, so a label above this says something; 3x3 one-channel
# filters (9 numbers) still pass by chance about 8 % of the time.
MIN_SIMILARITY = 0.71
NO_MATCH = "no match"


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
    """The classic kernel most similar to a square filter, over all of its input channels.

    Args:
        weights (ndarray): (k, k) filter weights for one input channel, or (C, k, k) for a
            filter over C channels (an RGB image: C = 3).

    Returns:
        (name, similarity), similarity in [0, 1] rounded to 3 decimals (see the module
        docstring); ("none", 0.0) for an all-zero filter.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w[None] if w.ndim == 2 else w  # (k, k) -> (1, k, k)
    flat = w.reshape(len(w), -1)  # (C, k, k) -> (C, k·k)
    norm = np.linalg.norm(flat)
    best = ("none", 0.0)
    if norm == 0:
        return best
    for name, kernel in CLASSIC_KERNELS.items():
        for candidate in _resized(np.asarray(kernel, dtype=np.float64), w.shape[-1]):
            per_channel = np.maximum(flat @ candidate.ravel(), 0.0)  # <w_c, K>, best mix a ≥ 0
            sim = float(np.linalg.norm(per_channel) / (norm * np.linalg.norm(candidate)))
            if sim > best[1] + 1e-9:
                best = (name, sim)
    return best[0], round(best[1], 3)


def kernel_match(weights: np.ndarray) -> dict:
    """{"name": the nearest classic kernel if it reaches MIN_SIMILARITY else None, "closest":
    the nearest whatever its similarity, "similarity": the cosine} (see ``nearest_kernel``)."""
    closest, sim = nearest_kernel(weights)
    return {"name": closest if sim >= MIN_SIMILARITY else None, "closest": closest,
            "similarity": sim}


def kernel_label(weights: np.ndarray) -> str:
    """'sobel x 0.83' when the nearest classic kernel reaches MIN_SIMILARITY, else 'no match'."""
    match = kernel_match(weights)
    return f"{match['name']} {match['similarity']:.2f}" if match["name"] else NO_MATCH


def colour_filter(weights: np.ndarray) -> np.ndarray:
    """One RGB filter as a colour picture: 0.5 + 0.5 · w / max|w|, so grey is 0.

    Each filter gets its own scale (symmetric around 0): a filter with small weights is as
    visible as one with large weights, and its colours show which channels it adds (bright)
    and subtracts (dark, the opposite colour).

    Shape:
        (3, k, k) -> (k, k, 3) in [0, 1].

    Example:
        >>> colour_filter(np.array([[[2.0]], [[0.0]], [[-1.0]]])).tolist()  # red +, blue -
        [[[1.0, 0.5, 0.25]]]
    """
    w = np.asarray(weights, dtype=np.float64)
    top = float(np.abs(w).max())
    scaled = 0.5 + 0.5 * w / top if top > 0 else np.full(w.shape, 0.5)
    return scaled.transpose(1, 2, 0)  # (3, k, k) -> (k, k, 3)


def conv_weight(module: nn.Module) -> torch.Tensor:
    """The weights a convolution really applies (a connection table's unused ones are zero)."""
    get = getattr(module, "effective_weight", None)
    return (get() if get else module.weight).detach().float().cpu()


def draw_filters(name: str, module: nn.Conv2d, path: str | Path, label: bool,
                 colour: bool = False) -> Grid:
    """One convolution's filters, a row per filter and a column per input channel.

    A single-channel layer (C_in = 1) is wrapped into ``grid_shape(C_out)`` instead, and so is
    a colour layer, one RGB panel per filter.

    Args:
        label (bool): name the nearest classic kernel under each filter (the first layer).
        colour (bool): draw each filter's 3 input channels as one RGB picture (the first layer
            of an RGB model). Default: False.

    Shape:
        weight (C_out, C_in, kh, kw) -> min(C_out, MAX_ROWS) x min(C_in, MAX_COLS) panels, or
        min(C_out, MAX_ROWS) panels for one channel or in colour.
    """
    weight = conv_weight(module).numpy()  # (C_out, C_in, kh, kw)
    c_out, c_in, kh, kw = weight.shape
    colour = colour and c_in == 3
    rows, cols = min(c_out, MAX_ROWS), 1 if colour else min(c_in, MAX_COLS)
    if colour:
        panels = [colour_filter(weight[r]) for r in range(rows)]
        shown = f", first {rows} shown" if rows < c_out else ""
        shown += ", in colour (R, G, B)\neach filter scaled to its own max |w|: grey = 0"
    else:
        panels = [weight[r, c] for r in range(rows) for c in range(cols)]
        shown = f", first {rows} x {cols} shown" if (rows, cols) != (c_out, c_in) else ""
    title = f"{name}: {c_out} filters {kh}x{kw} x {c_in} channels{shown}"
    if cols == 1:  # one column of panels would be a tall strip: wrap it like the maps
        rows, cols = grid_shape(len(panels))
    labels = None
    if label and kh == kw:  # one label per filter over all its channels, else one per panel
        labels = [kernel_label(p) for p in (weight[:len(panels)] if colour or c_in == 1
                                            else panels)]
        across = f" (all {c_in} channels)" if colour else ""
        title += f"\nlabels: nearest classic kernel{across} if cosine ≥ {MIN_SIMILARITY}"
    return draw_grid(panels, rows, cols, path, title, labels, cmap="RdBu_r", symmetric=True,
                     panel_inches=1.5 if labels else max(0.45, min(0.8, 8.0 / cols)))


def render_filters(layers: list[tuple[str, nn.Module]], out_dir: str | Path,
                   rgb: bool = False) -> list[Grid]:
    """A grid for every convolution in ``layers``: DIR/filters_NN_<layer>.png.

    Args:
        rgb (bool): the model reads RGB images: its first convolution is drawn in colour.
            Default: False.
    """
    convs = [(n, m) for n, m in layers if isinstance(m, nn.Conv2d)]
    return [draw_filters(name, m, Path(out_dir) / f"filters_{i:02d}_{file_stem(name)}.png",
                         label=(i == 1), colour=rgb and i == 1)
            for i, (name, m) in enumerate(convs, 1)]
