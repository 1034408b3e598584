"""Which pixels decided the answer: gradient saliency and Grad-CAM, overlaid on the input.

Saliency (Simonyan et al. 2014): |d score / d input|, the largest over the input channels.
Grad-CAM (Selvaraju et al. 2017) on the last convolutional feature maps A (K maps): the weight
of map k is the spatial mean of d score / d A_k, the map is ReLU(sum_k weight_k · A_k),
upsampled bilinearly to the input size and divided by its maximum. The score is the winning
class's logit (before softmax), as in both papers. Both come from one backward pass.

Which maps A are (``gradcam_layer``): in a network with global average pooling (ResNet,
DenseNet, GoogLeNet), the maps that pooling averages, i.e. the output of the last block before
it (``layer3.2`` in resnet20: the whole residual block, shortcut included; ``inception5b``, all
four branches; DenseNet's ``relu5``). The last convolution *module* would be wrong there: it
sees one branch of an Inception block, or a residual block before its shortcut is added. In a
plain chain (LeNet, VGG, AlexNet) A is the last convolution's output.

Example:
    >>> from convnet.registry import create_model
    >>> [gradcam_layer(create_model(m))[0] for m in ("lenet5", "resnet20", "googlenet-small")]
    ['conv2', 'layer3.2', 'inception5b']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import layers as L
from ..errors import ModelError
from .capture import named_layers
from .draw import pyplot, save

GLOBAL_POOLS = (L.GlobalAvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass
class Explanation:
    target: int              # the class explained (the winning one)
    saliency: np.ndarray     # (H, W) |gradient| of the score w.r.t. the input, max over channels
    gradcam: np.ndarray      # (H, W) in [0, 1]
    layer: str               # the layer whose maps Grad-CAM weighed (gradcam_layer)


def _last_in_order(name: str, module: nn.Module) -> tuple[str, nn.Module]:
    """Descend into plain ``nn.Sequential`` containers to the module that runs last."""
    while type(module) is nn.Sequential and len(module):  # a subclass may reorder (DenseBlock)
        child, module = list(module.named_children())[-1]
        name = f"{name}.{child}" if name else child
    return name, module


def gradcam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The module whose output Grad-CAM weighs (see the module docstring), and its name.

    Raises:
        ModelError: the model has no convolution.
    """
    top = [(n, m) for part in ("features", "head") if hasattr(model, part)
           for n, m in getattr(model, part).named_children()]
    pool = next((i for i, (_, m) in enumerate(top) if isinstance(m, GLOBAL_POOLS)), None)
    if pool:  # (not None, not 0) the pooled maps: the output of the top-level layer before it
        return _last_in_order(*top[pool - 1])
    convs = [(name, m) for name, m in named_layers(model) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ModelError(f"Grad-CAM needs a convolution, and {type(model).__name__} has none")
    return convs[-1]


def explain(model: nn.Module, x: torch.Tensor, target: int | None = None) -> Explanation:
    """Saliency and Grad-CAM for one input and one class (default: the predicted one).

    Shape:
        x (1, C, H, W) -> saliency (H, W), gradcam (H, W).
    """
    layer, module = gradcam_layer(model)
    x = x.detach().clone().requires_grad_(True)
    kept: list[torch.Tensor] = []  # the layer's output, still in the autograd graph
    handle = module.register_forward_hook(lambda m, args, out: kept.append(out))
    try:
        logits = model.logits(x) if hasattr(model, "logits") else model(x)
    finally:
        handle.remove()
    maps = kept[0]  # (1, K, h, w); the first call if a module runs twice
    target = int(logits[0].argmax()) if target is None else target
    grad_x, grad_a = torch.autograd.grad(logits[0, target], [x, maps])
    saliency = grad_x[0].abs().amax(dim=0)  # (1, C, H, W) -> (H, W)
    weights = grad_a.mean(dim=(2, 3), keepdim=True)  # (1, K, h, w) -> (1, K, 1, 1)
    cam = F.relu((weights * maps.detach()).sum(dim=1, keepdim=True))  # (1, 1, h, w)
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
