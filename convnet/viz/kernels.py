"""Classic image kernels (identity, edges, Sobel, sharpen, blurs, emboss) applied to an image.

Each kernel is run by the library's own ``layers.Conv2d`` (one input channel, one filter, no
bias, "same" padding), so what the picture shows is exactly what a conv layer computes with
those weights. ``render_kernels`` draws the input and every output side by side in one PNG.

Example:
    >>> CLASSIC_KERNELS["sobel x"]
    [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    >>> apply_kernel(np.eye(3, dtype=np.float32), CLASSIC_KERNELS["identity"]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .. import layers as L
from ..data.decode import read_image
from ..errors import SpecError

# The standard 3x3 kernels (Wikipedia, "Kernel (image processing)"), in the order drawn.
CLASSIC_KERNELS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "edge detection 1": [[1, 0, -1], [0, 0, 0], [-1, 0, 1]],
    "edge detection 2": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    "edge detection 3": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "box blur": [[1 / 9] * 3] * 3,
    "gaussian blur 3x3": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16],
                          [1 / 16, 2 / 16, 1 / 16]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}
MAX_SIDE = 512  # larger images are shrunk first: the kernels are 3x3, detail beyond is wasted


def apply_kernel(image: np.ndarray, kernel: list[list[float]]) -> np.ndarray:
    """Convolve a grayscale image with one square kernel through ``layers.Conv2d``.

    Args:
        image (ndarray): (H, W) grayscale values.
        kernel (list[list[float]]): k x k weights.

    Shape:
        (H, W) -> (H, W): "same" padding keeps the size (extra zero bottom/right for even k).

    Raises:
        SpecError: a kernel that is not square.
    """
    k = len(kernel)
    if any(len(row) != k for row in kernel):
        raise SpecError(f"--kernel must be square, got {k}x{len(kernel[0])}")
    conv = L.Conv2d(1, 1, k, padding="same", bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(kernel, dtype=torch.float32)[None, None])  # (1, 1, k, k)
        x = torch.as_tensor(image, dtype=torch.float32)[None, None]  # (H, W) -> (1, 1, H, W)
        return conv(x)[0, 0].numpy()  # (1, 1, H, W) -> (H, W)


def load_gray(path: str | Path) -> np.ndarray:
    """A user image as (H, W) float32 in [0, 1], shrunk to at most MAX_SIDE pixels a side."""
    im = read_image(str(path)).convert("L")
    im.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(im, dtype=np.float32) / 255.0


def render_kernels(image_path: str | Path, out_dir: str | Path,
                   custom: list[list[float]] | None = None) -> dict:
    """Apply every classic kernel (and ``custom``, if given) and save one PNG grid.

    Returns:
        {"path": PNG path, "rows": r, "cols": c, "panels": titles in drawing order}; the first
        panel is the input, one panel per kernel follows.

    Raises:
        ImageError: the image cannot be read. SpecError: a custom kernel that is not square.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kernels = dict(CLASSIC_KERNELS, **({"custom": custom} if custom else {}))
    image = load_gray(image_path)
    panels = [("input", image)] + [(name, apply_kernel(image, k)) for name, k in kernels.items()]
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, picture) in zip(axes.flat, panels):
        ax.imshow(picture, cmap="gray")  # each panel scaled to its own min..max
        ax.set_title(title, fontsize=10)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "kernels.png"
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return {"path": str(path), "rows": rows, "cols": cols, "panels": [t for t, _ in panels]}
