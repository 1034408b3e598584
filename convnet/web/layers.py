"""Per-unit geometry and arithmetic for the web page: where a unit looks, and what it computes.

Hovering a unit of layer L outlines its *source window* in the layer that feeds L, and shows
the tutorials' arithmetic for that one number. Both come from the layer's kind
(``convnet.kinds``, ``Kind.unit``): a convolution unit's k x k patch in every connected input
map and Σ w·x + b; a pooling unit's window and max (with the winner), mean, sum or a·sum + b;
an element-wise unit's own position and f(x); a flatten unit's (c, y, x); a fully connected
unit's largest terms w·x; a softmax unit's e^z / Σ e^z. The arithmetic carries ``lines``, the
one structure the page renders whatever the kind.

Which layer feeds which is found once per model by running a blank input and matching each
layer's input tensor to an earlier layer's output (same storage, same shape): this works for
plain chains and for nested blocks (ResNet, DenseNet), where a layer whose input is computed
outside any layer (a residual sum, a concatenation) simply has no source to outline.

Example:
    >>> from convnet.registry import create_model
    >>> net = create_model("lenet5")
    >>> graph = layer_graph(net)
    >>> graph["maxpool1"].source, graph["conv2"].source, graph["conv1"].source
    ('relu1', 'maxpool1', 'input')
    >>> x = torch.zeros(1, 1, 32, 32)
    >>> unit = explain_unit(net, graph, x, "maxpool1", [0, 3, 4])
    >>> unit["windows"]
    [{'channel': 0, 'y': 6, 'x': 8, 'h': 2, 'w': 2}]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import kinds
from ..errors import ConvnetError
from ..kinds.units import tidy
from ..viz.capture import named_layers, recording


class UnitError(ConvnetError):
    """An unknown layer, or a unit index outside the layer (the page asked for a bad unit)."""


@dataclass
class LayerInfo:
    """One leaf layer as the page draws it."""

    name: str
    rules: kinds.Kind  # its kind: windows, arithmetic and what the page shows beside its name
    module: nn.Module
    source: str | None  # the layer whose output it reads; "input" for the image; None: computed
    shape: tuple[int, ...]  # output shape without the batch axis

    @property
    def kind(self) -> str:
        """The page's group: conv, pool, act, bn, fc, flatten, softmax, gap, other."""
        return self.rules.family

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "type": type(self.module).__name__,
                "source": self.source, "shape": list(self.shape),
                **self.rules.meta(self.module)}


def layer_graph(model: nn.Module) -> dict[str, LayerInfo]:
    """Every leaf layer in execution order, with the layer it reads from (see module docstring)."""
    x = torch.zeros(1, *model.input_shape)
    modules = dict(named_layers(model))
    outputs, inputs = forward_with_inputs(model, x)  # detached: same storage, so same_tensor works
    graph, seen = {}, [("input", x)]
    for name, out in outputs.items():
        base = name.split("#")[0]
        arg = inputs.get(base)
        source = next((n for n, t in reversed(seen) if arg is not None and same_tensor(t, arg)),
                      None)
        same_shape = arg is not None and arg.shape == out.shape
        graph[name] = LayerInfo(name, kinds.of_layer(modules[base], same_shape), modules[base],
                                source, tuple(out.shape[1:]))
        seen.append((name, out))
    return graph


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()


def forward_with_inputs(model: nn.Module, x: torch.Tensor) -> tuple[dict, dict]:
    """One forward pass: ({layer: output}, {layer: its input}) for every leaf layer."""
    inputs: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_pre_hook(
        lambda mod, args, name=name: inputs.setdefault(name, args[0].detach()))
        for name, m in named_layers(model)]
    try:
        with recording(model) as outputs, torch.no_grad():
            getattr(model, "probabilities", model)(x)  # the softmax too: net(x) stops before it
    finally:
        for h in hooks:
            h.remove()
    return outputs, inputs


# ----------------------------------------------------------------------------- one unit

def explain_unit(model: nn.Module, graph: dict[str, LayerInfo], x: torch.Tensor, layer: str,
                 index: list[int]) -> dict:
    """The source window(s) and the arithmetic of one unit of ``layer`` for input ``x``.

    Args:
        x (Tensor): (1, C, H, W) prepared input.
        index (list[int]): [c, y, x] for a map layer, [i] for a vector layer.

    Returns:
        {"layer", "index", "value", "source", "windows": [{channel, y, x, h, w}] in the source's
        coordinates (clipped to it), "winner": [c, y, x] or None, "inputs": flat indices of the
        source (fc), "arithmetic": {"kind", "formula", the numbers, "lines": what the panel
        shows}}, all from the layer's kind (``Kind.unit``).

    Raises:
        UnitError: an unknown layer or an index outside its output.
    """
    if layer not in graph:
        raise UnitError(f"unknown layer {layer!r}; this model has {', '.join(graph)}")
    info = graph[layer]
    if len(index) != len(info.shape) or any(not 0 <= i < n for i, n in zip(index, info.shape)):
        raise UnitError(f"unit {index} is outside layer {layer!r} of shape {list(info.shape)}")
    outputs, inputs = forward_with_inputs(model, x)
    out = outputs[layer][0]
    src = inputs[layer.split("#")[0]][0]
    found = info.rules.unit(info.module, src, out, list(index))
    return {"layer": layer, "index": list(index), "value": tidy(out[tuple(index)]),
            "source": info.source, "windows": found.get("windows", []),
            "winner": found.get("winner"), "inputs": found.get("inputs", []),
            "arithmetic": {"kind": info.kind, **found.get("arithmetic", {})}}
