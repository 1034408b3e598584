"""``convnet show``: every picture of one image going through a trained network, in one folder.

DIR/maps_NN_<layer>.png      feature maps after each convolution, non-linearity and pooling
DIR/filters_NN_<layer>.png   each convolution's filters (first layer: nearest classic kernel)
DIR/saliency.png             the input, gradient saliency and Grad-CAM over it
DIR/probabilities.png        the output probabilities as bars, one per class
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import notebook
from ..predict import Predictor
from .capture import capture, named_layers
from .draw import pyplot, save
from .filters import render_filters
from .maps import render_maps
from .saliency import display_image, draw_saliency, explain


@dataclass
class Shown:
    image: str
    prediction: dict                      # {"label", "probability"}
    files: list[str]
    layers: list[dict] = field(default_factory=list)   # [{"name", "shape"}] in execution order

    def to_json(self) -> dict:
        return {"image": self.image, "prediction": self.prediction, "files": self.files,
                "layers": self.layers}

    def _repr_html_(self) -> str:
        """Jupyter shows the prediction and every picture, inline."""
        return notebook.shown_html(self.image, self.prediction, self.files, self.layers)


def draw_probabilities(probs: np.ndarray, classes: list[str], path: str | Path) -> str:
    """One bar per class, the winner highlighted and its probability written above it."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(classes) + 1.5), 3.2), layout="constrained")
    best = int(np.argmax(probs))
    colours = ["tab:orange" if i == best else "tab:blue" for i in range(len(classes))]
    ax.bar(range(len(classes)), probs, color=colours)
    ax.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 12 else 0,
                  fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("probability")
    ax.text(best, probs[best] + 0.01, f"{probs[best]:.2f}", ha="center", fontsize=8)
    ax.set_title(f"prediction: {classes[best]} ({probs[best]:.1%})", fontsize=10)
    return save(fig, path)


def show(rundir: str | Path, image, out_dir: str | Path, invert: bool | None = None) -> Shown:
    """Write every picture for ``image`` through the run's model into ``out_dir``.

    Raises:
        RunError: ``rundir`` is not a usable run. ImageError: ``image`` cannot be read.
    """
    predictor = Predictor.from_run(rundir, backend="torch")  # the maps come from torch anyway
    model, out = predictor.model, Path(out_dir)
    prepared = predictor.prepare(image, invert)  # (C, H, W)
    x = torch.from_numpy(prepared)[None]  # (C, H, W) -> (1, C, H, W)
    activations = capture(model, x)
    probs = predictor.probabilities(x.numpy())[0]
    best = int(np.argmax(probs))
    ex = explain(model, x, best)
    label = predictor.classes[best]
    picture = display_image(prepared, predictor.mean, predictor.std)
    files = [g.path for g in render_maps(activations, out)]
    files += [g.path for g in render_filters(named_layers(model), out, rgb=x.shape[1] == 3)]
    files.append(draw_saliency(picture, ex, f"input: {label} ({probs[best]:.1%})",
                               out / "saliency.png"))
    files.append(draw_probabilities(probs, predictor.classes, out / "probabilities.png"))
    layers = [{"name": n, "shape": list(a.shape)} for n, a in activations.items()]
    return Shown(image_name(image), {"label": label, "probability": float(probs[best])}, files,
                 layers)


def image_name(image) -> str:
    """How ``Shown`` names its image: the path as given, else what was passed (an array's
    str() is thousands of numbers).

    Example:
        >>> image_name("digit.png"), image_name(np.zeros((28, 28), np.uint8))
        ('digit.png', '<array 28x28>')
    """
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, np.ndarray):
        return f"<array {'x'.join(map(str, image.shape))}>"
    size = getattr(image, "size", None)  # a PIL image's (width, height)
    return f"<{type(image).__name__} {size[0]}x{size[1]}>" if isinstance(size, tuple) else \
        f"<{type(image).__name__}>"
