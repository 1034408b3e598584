"""Forward hooks -> {layer name: activation}: the one mechanism every picture of a network uses.

The layers are the named *leaf* modules (modules without children) of ``features`` then
``head``, so nested blocks (ResNet, DenseNet, Inception) give dotted names such as
``layer1.0.conv1``; a model without that split falls back to all of its leaf modules. The
dictionary is in execution order. A module called twice in one forward pass keeps both
outputs, the second as ``name#2``.

Example:
    >>> from convnet.models import Network
    >>> net = Network.from_spec("conv6@5x5 relu maxpool2 fc10 softmax", (1, 32, 32))
    >>> {k: tuple(v.shape) for k, v in capture(net, torch.zeros(1, 1, 32, 32)).items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'conv1': (1, 6, 28, 28), 'relu1': (1, 6, 28, 28), 'maxpool1': (1, 6, 14, 14),
     'flatten': (1, 1176), 'fc1': (1, 10), 'softmax': (1, 10)}
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import torch
from torch import nn


def named_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The named leaf modules of ``model.features`` then ``model.head`` (else of the model)."""
    parts = [getattr(model, part) for part in ("features", "head") if hasattr(model, part)]
    parts = parts or [model]
    return [(name, module) for part in parts for name, module in part.named_modules()
            if name and not any(True for _ in module.children())]


@contextmanager
def recording(model: nn.Module, detach: bool = True):
    """Within the block, every forward pass of ``model`` fills the yielded ordered dict.

    Args:
        detach (bool): store detached tensors. Default: True; False keeps them in the autograd
            graph, so gradients with respect to them can be taken (what Grad-CAM needs).
    """
    activations: OrderedDict[str, torch.Tensor] = OrderedDict()

    def hook_for(name: str):
        def hook(module, inputs, output):
            key, calls = name, 1
            while key in activations:
                calls += 1
                key = f"{name}#{calls}"
            activations[key] = output.detach() if detach else output
        return hook

    handles = [module.register_forward_hook(hook_for(name))
               for name, module in named_layers(model)]
    try:
        yield activations
    finally:
        for handle in handles:
            handle.remove()


def capture(model: nn.Module, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
    """Run ``model`` on ``x`` (no gradients) and return every named layer's output.

    Shape:
        x (N, C, H, W) -> {name: (N, ...)}, each layer's output as the layer produced it.
    """
    with recording(model) as activations, torch.no_grad():
        getattr(model, "probabilities", model)(x)  # a Network's softmax too: net(x) skips it
    return activations
