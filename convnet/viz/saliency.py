"""Which pixels decided the answer: gradient saliency and Grad-CAM, overlaid on the input.

Saliency (Simonyan et al. 2014): |d score / d input|, the largest over the input channels.
Grad-CAM (Selvaraju et al. 2017) on the last convolution's output A (K maps): the weight of
map k is the spatial mean of d score / d A_k, the map is ReLU(sum_k weight_k · A_k), upsampled
bilinearly to the input size and divided by its maximum. The score is the winning class's
logit (before softmax), as in both papers. Both come from one backward pass through the
activations that ``capture.recording`` keeps in the autograd graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .capture import named_layers, recording
from .draw import pyplot, save


@dataclass
class Explanation:
    target: int              # the class explained (the winning one)
    saliency: np.ndarray     # (H, W) |gradient| of the score w.r.t. the input, max over channels
    gradcam: np.ndarray      # (H, W) in [0, 1]
    layer: str               # the convolution Grad-CAM looked at


def last_conv(model: nn.Module) -> str:
    """The name of the last convolution (in module order)."""
    convs = [name for name, m in named_layers(model) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ModelError(f"Grad-CAM needs a convolution, and {type(model).__name__} has none")
    return convs[-1]


def explain(model: nn.Module, x: torch.Tensor, target: int | None = None) -> Explanation:
    """Saliency and Grad-CAM for one input and one class (default: the predicted one).

    Shape:
        x (1, C, H, W) -> saliency (H, W), gradcam (H, W).
    """
    layer = last_conv(model)
    x = x.detach().clone().requires_grad_(True)
    with recording(model, detach=False) as acts:
        logits = model.logits(x) if hasattr(model, "logits") else model(x)
    target = int(logits[0].argmax()) if target is None else target
    grad_x, grad_a = torch.autograd.grad(logits[0, target], [x, acts[layer]])
    saliency = grad_x[0].abs().amax(dim=0)  # (1, C, H, W) -> (H, W)
    weights = grad_a.mean(dim=(2, 3), keepdim=True)  # (1, K, h, w) -> (1, K, 1, 1)
    cam = F.relu((weights * acts[layer].detach()).sum(dim=1, keepdim=True))  # (1, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    top = cam.max()
    cam = cam / top if top > 0 else torch.zeros_like(cam)
    return Explanation(target, saliency.numpy(), cam.clamp(0, 1).numpy(), layer)


def display_image(x: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """A prepared (C, H, W) input back to a picture: (H, W) grey or (H, W, 3) RGB in [0, 1]."""
    c = x.shape[0]
    pixels = x * np.asarray(std).reshape(-1, 1, 1) + np.asarray(mean).reshape(-1, 1, 1)
    pixels = np.clip(pixels, 0, 1)
    return pixels[0] if c == 1 else pixels[:3].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)


def draw_saliency(picture: np.ndarray, ex: Explanation, caption: str, path: str | Path) -> str:
    """Input, saliency over it, Grad-CAM over it: three panels in one PNG."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), layout="constrained")
    gray = {"cmap": "gray", "vmin": 0, "vmax": 1} if picture.ndim == 2 else {}
    overlays = [(None, caption), (ex.saliency, "saliency |d score / d input|"),
                (ex.gradcam, f"Grad-CAM on {ex.layer}")]
    for ax, (heat, title) in zip(axes, overlays):
        ax.imshow(picture, **gray)
        if heat is not None:
            ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=max(float(heat.max()), 1e-12))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return save(fig, path)
