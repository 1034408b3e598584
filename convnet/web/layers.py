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
from ..kinds.units import eq, note, text, tidy
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
    block: str | None = None  # the block it belongs to (layer1.0), None: top level
    block_type: str | None = None  # that block's class (ResidualBlock)
    operands: tuple[str, str] | None = None  # it reads a sum of these two layers (a residual)
    parts: list[tuple[str, int]] | None = None  # it reads these (layer, maps) concatenated

    @property
    def kind(self) -> str:
        """The page's group: conv, pool, act, bn, fc, flatten, softmax, gap, other."""
        return self.rules.family

    def to_json(self) -> dict:
        """The layer as GET /api/runs lists it; block, operands and parts only when it has them."""
        found = {"block": self.block, "block_type": self.block_type, "operands": self.operands,
                 "parts": [name for name, _ in self.parts or []]}
        return {"name": self.name, "kind": self.kind, "type": type(self.module).__name__,
                "source": self.source, "shape": list(self.shape),
                **{k: v for k, v in found.items() if v}, **self.rules.meta(self.module)}


def layer_graph(model: nn.Module) -> dict[str, LayerInfo]:
    """Every leaf layer in execution order, with the layer it reads from (see module docstring).

    The probe input is random, not blank, so that a residual sum's two operands (found by
    value, ``sum_of``) cannot be confused with other layers that happen to be zero.
    """
    x = torch.randn(1, *model.input_shape, generator=torch.Generator().manual_seed(0))
    modules = dict(named_layers(model))
    blocks = block_of(model)
    outputs, inputs = forward_with_inputs(model, x)  # detached: same storage, so same_tensor works
    graph, seen = {}, [("input", x)]
    for name, out in outputs.items():
        base = name.split("#")[0]
        arg = inputs.get(base)
        source = next((n for n, t in reversed(seen) if arg is not None and same_tensor(t, arg)),
                      None)
        same_shape = arg is not None and arg.shape == out.shape
        info = LayerInfo(name, kinds.of_layer(modules[base], same_shape), modules[base],
                         source, tuple(out.shape[1:]), *blocks.get(base, (None, None)))
        if source is None and arg is not None:
            info.operands = sum_of(arg, seen)
            info.parts = None if info.operands else concatenation_of(arg, seen)
        graph[name] = info
        seen.append((name, out))
    return graph


def block_of(model: nn.Module) -> dict[str, tuple[str, str]]:
    """{leaf layer: (its block, the block's class)}: the outermost enclosing module that is not
    a plain ``nn.Sequential`` (a ResidualBlock), else the outermost enclosing one (a stage)."""
    parts = [getattr(model, part) for part in ("features", "head") if hasattr(model, part)]
    found = {}
    for part in parts or [model]:
        containers = {n: m for n, m in part.named_modules() if n and any(m.children())}
        for name, module in part.named_modules():
            if not name or any(module.children()):
                continue
            above = [".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)]
            special = [a for a in above if type(containers[a]) is not nn.Sequential]
            if special or above:
                block = (special or above)[0]
                found[name] = (block, type(containers[block]).__name__)
    return found


RECENT = 24  # a residual's operands are among the last 24 outputs of its shape


def sum_of(arg: torch.Tensor, seen: list) -> tuple[str, str] | None:
    """The two earlier outputs whose sum is ``arg`` (a residual block's "+"), latest first
    found, returned in execution order; None if no two add up to it exactly."""
    alike = [(n, t) for n, t in seen if t.shape == arg.shape][-RECENT:]
    for i in range(len(alike) - 1, 0, -1):
        for j in range(i - 1, -1, -1):
            if torch.equal(alike[j][1] + alike[i][1], arg):
                return alike[j][0], alike[i][0]
    return None


def concatenation_of(arg: torch.Tensor, seen: list) -> list[tuple[str, int]] | None:
    """Earlier outputs whose maps, joined in order, are ``arg`` (DenseNet, Inception); None if
    it is not one. Each part is the latest output equal to the next run of maps."""
    if arg.dim() != 4:
        return None
    parts, offset = [], 0
    while offset < arg.shape[1]:
        part = next((n for n, t in reversed(seen) if t.dim() == 4 and t.shape[2:] == arg.shape[2:]
                     and offset + t.shape[1] <= arg.shape[1]
                     and torch.equal(arg[:, offset:offset + t.shape[1]], t)), None)
        if part is None:
            return None
        count = next(t.shape[1] for n, t in seen if n == part)
        parts.append((part, count))
        offset += count
    return parts if len(parts) > 1 else None


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
                 index: list[int], classes: list[str] | None = None,
                 mean: list[float] | None = None, std: list[float] | None = None) -> dict:
    """The source window(s) and the arithmetic of one unit of ``layer`` for input ``x``.

    Args:
        x (Tensor): (1, C, H, W) prepared input.
        index (list[int]): [c, y, x] for a map layer (or "input"), [i] for a vector layer.
        classes (list[str] | None): class names, for a kind that ``reads_classes`` (softmax).
        mean, std (list[float] | None): the run's normalisation, to show an input pixel as it
            was (0..255) and as the network sees it. Default: none applied.

    Returns:
        {"layer", "index", "value", "source", "windows": [{channel, y, x, h, w, and "layer"
        when not the source, "colour" when the panel lists it}] in that layer's coordinates
        (clipped to it), "winner": [c, y, x] or None, "inputs": flat indices of the source
        (fc), "arithmetic": {"kind", "formula", the numbers, "lines": what the panel shows}},
        from the layer's kind (``Kind.unit``); a residual sum's operands or a concatenation's
        part are named in a first line.

    Raises:
        UnitError: an unknown layer or an index outside its output.
    """
    if layer == "input":
        return input_unit(x[0], index, mean, std)
    if layer not in graph:
        raise UnitError(f"unknown layer {layer!r}; this model has input, {', '.join(graph)}")
    info = graph[layer]
    check_index(layer, index, info.shape)
    outputs, inputs = forward_with_inputs(model, x)
    out = outputs[layer][0]
    src = inputs[layer.split("#")[0]][0]
    labels = {"labels": classes} if info.rules.reads_classes else {}
    found = info.rules.unit(info.module, src, out, list(index), **labels)
    arithmetic = {"kind": info.kind, **found.get("arithmetic", {})}
    windows = found.get("windows", [])
    if info.operands:
        windows, first = residual(info.operands, outputs, windows, src, index)
        arithmetic["lines"] = [first, *arithmetic.get("lines", [])]
    elif info.parts:
        windows, first = joined(info.parts, windows, index)
        arithmetic["lines"] = [first, *arithmetic.get("lines", [])]
    return {"layer": layer, "index": list(index), "value": tidy(out[tuple(index)]),
            "source": info.source, "windows": windows, "winner": found.get("winner"),
            "inputs": found.get("inputs", []), "arithmetic": arithmetic}


def check_index(layer: str, index: list[int], shape: tuple[int, ...]) -> None:
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        raise UnitError(f"unit {index} is outside layer {layer!r} of shape {list(shape)}")


def input_unit(x: torch.Tensor, index: list[int], mean, std) -> dict:
    """One input pixel: its value as the network sees it, and (with mean, std) as it was."""
    check_index("input", index, tuple(x.shape))
    c, y, q = index
    value = float(x[c, y, q])
    lines = [text(f"pixel ({y}, {q}) of channel {c} = ", tidy(value))]
    if mean is not None and std is not None:
        m, s = float(mean[c]), float(std[c])
        pixel = tidy(round((value * s + m) * 255, 3))  # 0..255, float32 noise rounded off
        lines = [text(f"pixel ({y}, {q}) of channel {c}: ", pixel, " of 255"),
                 eq("(", pixel, " / 255 − mean ", tidy(m), ") / std ", tidy(s), " = ",
                    tidy(value)),
                 note("normalised with the training set's mean and standard deviation")]
    return {"layer": "input", "index": list(index), "value": tidy(value), "source": None,
            "windows": [], "winner": None, "inputs": [],
            "arithmetic": {"kind": "input", "formula": "(pixel / 255 − mean) / std",
                           "lines": lines}}


def residual(operands: tuple[str, str], outputs: dict, windows: list[dict], src: torch.Tensor,
             index: list[int]) -> tuple[list[dict], dict]:
    """A unit reading a residual sum: its windows in both operands, and the line "x = a + b"."""
    a, b = (outputs[name][0] for name in operands)
    moved = [dict(w, layer=name) for w in windows for name in operands]
    if len(index) == 3 and not windows:
        moved = [{"layer": name, "channel": index[0], "y": index[1], "x": index[2], "h": 1,
                  "w": 1} for name in operands]
    where = tuple(index) if src.shape == a.shape and len(index) == src.dim() else None
    if where is None:
        return moved, note(f"reads {operands[0]} + {operands[1]} (the residual sum)")
    return moved, eq("x = ", tidy(a[where]), f" ({operands[0]}: the branch) + ", tidy(b[where]),
                     f" ({operands[1]}: the shortcut) = ", tidy(src[where]))


def joined(parts: list[tuple[str, int]], windows: list[dict], index: list[int]
           ) -> tuple[list[dict], dict]:
    """A unit reading a concatenation: each window moved to the part holding its map."""
    def part_of(c: int) -> tuple[str, int]:
        offset = 0
        for name, count in parts:
            if c < offset + count:
                return name, c - offset
            offset += count
        return parts[-1][0], c - offset + parts[-1][1]

    moved = []
    for w in windows:
        name, c = part_of(w["channel"])
        moved.append(dict(w, layer=name, channel=c))
    names = " | ".join(f"{name} ({count})" for name, count in parts)
    return moved, note(f"reads its maps joined in order: {names}")
