"""Per-unit geometry and arithmetic for the web page: where a unit looks, and what it computes.

Hovering a unit of layer L outlines its *source window* in the layer that feeds L, and shows
the tutorials' arithmetic for that one number:

* convolution unit (o, y, x) -> a k x k patch at (y*s - pad_top, x*s - pad_left) in every input
  map that filter o is connected to (all of them, except with LeNet's C3 table or groups);
  Σ w·x + b over those patches equals the unit.
* pooling unit (c, y, x) -> its window in map c; for max pooling, the winning input.
* element-wise unit (ReLU, tanh, batch norm ...) -> the same position in its input.
* flatten unit i -> the (c, y, x) it was unravelled from; fully connected unit j -> every
  input, with the largest terms w·x listed.

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

from .. import layers as L
from ..errors import ConvnetError
from ..explain import tidy
from ..viz.capture import named_layers, recording

MAX_CHANNELS_SHOWN = 8  # a conv unit's per-channel arithmetic: first 8 connected inputs listed
MAX_TERMS_SHOWN = 8  # a fully connected unit: its 8 largest terms |w·x| listed
POOL_KINDS = {L.MaxPool2d: "max", nn.MaxPool2d: "max", L.Subsample2d: "subsample",
              L.SumPool2d: "sum", L.AvgPool2d: "avg", nn.AvgPool2d: "avg"}


class UnitError(ConvnetError):
    """An unknown layer, or a unit index outside the layer (the page asked for a bad unit)."""


@dataclass
class LayerInfo:
    """One leaf layer as the page draws it."""

    name: str
    kind: str  # conv, pool, act, bn, fc, flatten, softmax, gap, other
    module: nn.Module
    source: str | None  # the layer whose output it reads; "input" for the image; None: computed
    shape: tuple[int, ...]  # output shape without the batch axis

    def to_json(self) -> dict:
        meta = {"name": self.name, "kind": self.kind, "type": type(self.module).__name__,
                "source": self.source, "shape": list(self.shape)}
        m = self.module
        if self.kind == "conv":
            meta.update(kernel=list(m.kernel_size), stride=list(m.stride))
            if isinstance(m, L.ConnectionTableConv2d):
                meta["table"] = m.table.int().tolist()
        elif self.kind == "pool":
            meta.update(mode=pool_mode(m), kernel=pair(m.kernel_size), stride=pair(m.stride))
        return meta


def pair(v) -> list[int]:
    return list(v) if isinstance(v, (tuple, list)) else [int(v), int(v)]


def pool_mode(m: nn.Module) -> str:
    return next(mode for cls, mode in POOL_KINDS.items() if isinstance(m, cls))


def kind_of(m: nn.Module, same_shape: bool) -> str:
    if isinstance(m, nn.Conv2d):
        return "conv"
    if isinstance(m, tuple(POOL_KINDS)):
        return "pool"
    if isinstance(m, nn.Linear):
        return "fc"
    if isinstance(m, nn.Flatten):
        return "flatten"
    if isinstance(m, nn.Softmax):
        return "softmax"
    if isinstance(m, L.GlobalAvgPool2d):
        return "gap"
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "bn"
    return "act" if same_shape else "other"  # ReLU, tanh, dropout...: element-wise


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
        graph[name] = LayerInfo(name, kind_of(modules[base], arg is not None
                                              and arg.shape == out.shape),
                                modules[base], source, tuple(out.shape[1:]))
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
            model(x)
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
        source (fc), "arithmetic": {...} for the panel}.

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
    unit = {"layer": layer, "index": list(index), "value": tidy(out[tuple(index)]),
            "source": info.source, "windows": [], "winner": None, "inputs": [],
            "arithmetic": {"kind": info.kind}}
    explain = {"conv": conv_unit, "pool": pool_unit, "fc": fc_unit, "flatten": flatten_unit,
               "softmax": softmax_unit, "gap": gap_unit, "bn": elementwise_unit,
               "act": elementwise_unit}.get(info.kind)
    if explain is not None:
        explain(info.module, src, out, index, unit)
    return unit


def window(src: torch.Tensor, c: int, top: int, left: int, h: int, w: int) -> dict:
    """A window in map c of ``src`` (C, H, W), clipped to the map (padding lies outside it)."""
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, src.shape[-2]), min(left + w, src.shape[-1])
    return {"channel": c, "y": y0, "x": x0, "h": max(y1 - y0, 0), "w": max(x1 - x0, 0)}


def padded_patch(src: torch.Tensor, c: int, top: int, left: int, kh: int, kw: int,
                 fill: float = 0.0) -> torch.Tensor:
    """The kh x kw patch of map c whose top-left corner is (top, left), ``fill`` outside."""
    patch = torch.full((kh, kw), fill)
    w = window(src, c, top, left, kh, kw)
    patch[w["y"] - top:w["y"] - top + w["h"], w["x"] - left:w["x"] - left + w["w"]] = \
        src[c, w["y"]:w["y"] + w["h"], w["x"]:w["x"] + w["w"]]
    return patch


def conv_unit(m: nn.Conv2d, src, out, index, unit) -> None:
    """Σ over connected input maps of (k x k patch · filter slice), + bias."""
    o, y, x = index
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
    if isinstance(m, L.Conv2d):
        top, _, left, _ = m.pads(src.shape[-2], src.shape[-1])
    else:
        top, left = (m.padding if isinstance(m.padding, tuple) else (0, 0))
    weight = m.effective_weight() if isinstance(m, L.Conv2d) else m.weight
    weight = weight.detach()[o]  # (C_in / groups, kh, kw)
    per_group = src.shape[0] // m.groups
    first = (o // (m.out_channels // m.groups)) * per_group
    channels = [first + i for i in range(per_group)
                if not isinstance(m, L.ConnectionTableConv2d) or m.table[o, first + i] > 0]
    ty, tx = y * sh - top, x * sw - left
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    unit["windows"] = [window(src, c, ty, tx, span_h, span_w) for c in channels]
    terms, total = [], 0.0
    for c in channels:
        patch = padded_patch(src, c, ty, tx, span_h, span_w)[::dh, ::dw]
        w = weight[c - first]
        partial = float((patch * w).sum())
        total += partial
        terms.append({"channel": c, "patch": rows(patch), "weights": rows(w),
                      "sum": tidy(partial)})
    bias = float(m.bias.detach()[o]) if m.bias is not None else 0.0
    unit["arithmetic"].update(
        formula="Σ w·x + b", channels=channels, terms=terms[:MAX_CHANNELS_SHOWN],
        bias=tidy(bias), total=tidy(total + bias), output=tidy(out[o, y, x]),
        padding=[top, left], note=(f"first {MAX_CHANNELS_SHOWN} of {len(channels)} connected "
                                   "input maps listed" if len(channels) > MAX_CHANNELS_SHOWN
                                   else ""))


def pool_unit(m: nn.Module, src, out, index, unit) -> None:
    """The window of map c, its values, and max (with the winner), mean, sum or a·sum + b."""
    c, y, x = index
    (kh, kw), (sh, sw), (ph, pw) = pair(m.kernel_size), pair(m.stride), pair(m.padding)
    mode = pool_mode(m)
    ty, tx = y * sh - ph, x * sw - pw
    unit["windows"] = [window(src, c, ty, tx, kh, kw)]
    patch = padded_patch(src, c, ty, tx, kh, kw, float("-inf") if mode == "max" else 0.0)
    arith = {"mode": mode, "window": rows(patch), "output": tidy(out[c, y, x])}
    if mode == "max":
        r, q = divmod(int(torch.argmax(patch)), kw)
        unit["winner"] = [c, ty + r, tx + q]
        arith.update(formula="max(window)", winner=[r, q])
    elif mode == "avg":
        arith.update(formula=f"sum(window) / {kh * kw}", sum=tidy(patch.sum()))
    else:
        arith.update(formula="sum(window)", sum=tidy(patch.sum()))
        if mode == "subsample":
            arith.update(formula="a · sum(window) + b", coefficient=tidy(m.weight[c]),
                         bias=tidy(m.bias[c]))
    unit["arithmetic"].update(arith)


def elementwise_unit(m: nn.Module, src, out, index, unit) -> None:
    """f(x) at the same position: ReLU, tanh, sigmoid, scaled tanh, batch norm, dropout."""
    where = tuple(index)
    unit["windows"] = [window(src, index[0], index[1], index[2], 1, 1)] if len(index) == 3 else []
    unit["inputs"] = [] if len(index) == 3 else [index[0]]
    formula = {"ReLU": "max(0, x)", "Tanh": "tanh(x)", "Sigmoid": "1 / (1 + e^-x)",
               "ScaledTanh": "1.7159 · tanh(2x / 3)", "Dropout": "x (identity when predicting)",
               "BatchNorm2d": "(x − mean) / √(var + ε) · γ + β",
               "BatchNorm1d": "(x − mean) / √(var + ε) · γ + β"}.get(type(m).__name__, "f(x)")
    unit["arithmetic"].update(formula=formula, input=tidy(src[where]), output=tidy(out[where]))


def fc_unit(m: nn.Linear, src, out, index, unit) -> None:
    """Σ over all inputs of w·x + b; the largest terms listed."""
    j = index[0]
    w = m.weight.detach()[j]
    products = w * src
    top = torch.argsort(products.abs(), descending=True)[:MAX_TERMS_SHOWN].tolist()
    bias = float(m.bias.detach()[j]) if m.bias is not None else 0.0
    unit["inputs"] = top
    unit["arithmetic"].update(
        formula="Σ w·x + b", n_inputs=len(src),
        terms=[{"input": i, "x": tidy(src[i]), "w": tidy(w[i]), "product": tidy(products[i])}
               for i in top],
        rest=tidy(products.sum() - products[top].sum()), bias=tidy(bias),
        total=tidy(products.sum() + bias), output=tidy(out[j]))


def flatten_unit(m, src, out, index, unit) -> None:
    """Unit i of the flat vector is (c, y, x) of the maps, row-major: i = (c·H + y)·W + x."""
    i = index[0]
    if src.dim() == 3:
        c, rest = divmod(i, src.shape[1] * src.shape[2])
        y, x = divmod(rest, src.shape[2])
        unit["windows"] = [window(src, c, y, x, 1, 1)]
        unit["arithmetic"].update(formula="i = (c·H + y)·W + x", position=[c, y, x],
                                  output=tidy(out[i]))


def softmax_unit(m, src, out, index, unit) -> None:
    """p_i = e^(z_i) / Σ_j e^(z_j), with the largest logits listed."""
    i = index[0]
    unit["inputs"] = [i]
    unit["arithmetic"].update(formula="e^z_i / Σ_j e^z_j", z=tidy(src[i]),
                              exp=tidy(torch.exp(src[i] - src.max())),
                              sum_exp=tidy(torch.exp(src - src.max()).sum()),
                              note="both shifted by max(z), which cancels", output=tidy(out[i]))


def gap_unit(m, src, out, index, unit) -> None:
    c = index[0]
    unit["windows"] = [window(src, c, 0, 0, src.shape[-2], src.shape[-1])]
    unit["arithmetic"].update(formula=f"mean of the {src.shape[-2]}x{src.shape[-1]} map",
                              output=tidy(out[c]))


def rows(t: torch.Tensor) -> list[list[float]]:
    """A (h, w) tensor as nested lists of tidy numbers (-inf padding becomes None)."""
    return [[tidy(v) if abs(v) != float("inf") else None for v in r] for r in t.tolist()]
