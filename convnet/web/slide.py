"""The sliding kernel (CNN Explainer's detail view) on the learner's own convolution and image.

The page slides one filter of a convolution across its input, window after window, and fills
the output map in unit by unit; at each stop it shows the element-wise products of the
window, their sum per input map, and Σ + b = the output. It needs, for one layer, one filter
and one image, every number of that computation as the model computed it in eval mode:

* the layer's input maps (its forward pre-hook, ``layers.forward_with_inputs``), exact float32;
* the filter's weights (a connection table's unconnected slices are zero, ``kinds.conv``);
* the output map the layer produced (its forward hook, ``viz.capture``), exact float32.

Which input maps a filter reads and how much padding the layer adds come from the layer's
kind (``Kind.unit``, ``kinds.conv.pads``), so the view works for every convolution the kinds
know: stride, padding ("same" with an even kernel pads one more after), dilation, groups and
LeNet-1998's connection table. A filter reading more than ``MAX_CHANNELS_SHOWN`` maps has the
first of them sent cell by cell; the others' sum at each output position is one "rest" map
(summed here in float64), so the page's terms, the rest and b still add up to the output.

Example:
    >>> from convnet.registry import create_model
    >>> from convnet.web.layers import layer_graph
    >>> net = create_model("lenet5").eval()
    >>> graph = layer_graph(net)
    >>> x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> d = slide_data(net, graph, x, "conv2", 3)
    >>> d["kernel"], d["stride"], d["padding"], d["in_shape"], d["out_shape"]
    ([5, 5], [1, 1], [0, 0, 0, 0], [6, 14, 14], [10, 10])
    >>> d["channels"], d["shown"], d["rest"] is None
    ([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], True)
"""

from __future__ import annotations

import base64

import torch
import torch.nn.functional as F
from torch import nn

from ..kinds.conv import MAX_CHANNELS_SHOWN, pads, weights
from .layers import LayerInfo, UnitError, forward_with_inputs


def f32(t: torch.Tensor) -> str:
    """Values as base64 little-endian float32, row-major: exact, 4 bytes each."""
    return base64.b64encode(t.detach().float().contiguous().numpy().astype("<f4").tobytes()
                            ).decode()


def f64(t: torch.Tensor) -> str:
    """Values as base64 little-endian float64 (the rest term, summed in float64)."""
    return base64.b64encode(t.detach().double().contiguous().numpy().astype("<f8").tobytes()
                            ).decode()


def conv_layer(graph: dict[str, LayerInfo], layer: str) -> LayerInfo:
    """The convolution called ``layer``; UnitError for an unknown or non-convolution layer."""
    convs = [name for name, info in graph.items() if info.kind == "conv"]
    if layer not in convs:
        what = "unknown layer" if layer not in graph else "not a convolution:"
        raise UnitError(f"{what} {layer!r}; the convolutions are {', '.join(convs) or 'none'}")
    return graph[layer]


def group_start(module: nn.Conv2d, o: int) -> int:
    """The first input map filter ``o`` reads: with groups, each filter sees only its group's."""
    per_group = module.in_channels // module.groups
    return (o // (module.out_channels // module.groups)) * per_group


def rest_map(module: nn.Conv2d, src: torch.Tensor, o: int, skip: list[int],
             padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Σ over filter ``o``'s input maps except ``skip``, at every output position, in float64.

    Shape:
        src (C_in, H, W) -> (H_out, W_out), H_out = floor((H + top + bottom - span) / s) + 1
    """
    start, per_group = group_start(module, o), module.in_channels // module.groups
    w = weights(module).detach()[o].double().clone()  # (C_in / groups, kh, kw)
    w[[c - start for c in skip]] = 0.0
    top, bottom, left, right = padding
    group = F.pad(src[start:start + per_group].double(), (left, right, top, bottom))
    return F.conv2d(group[None], w[None], stride=module.stride,
                    dilation=module.dilation)[0, 0]  # (1, 1, H_out, W_out) -> (H_out, W_out)


def slide_data(model: nn.Module, graph: dict[str, LayerInfo], x: torch.Tensor, layer: str,
               filter_: int) -> dict:
    """Everything the sliding-kernel view shows for filter ``filter_`` of ``layer`` on ``x``.

    Args:
        x (Tensor): (1, C, H, W) prepared input; ``model`` in eval mode.
        filter_ (int): the output map to fill in, 0 <= filter_ < C_out.

    Returns:
        {"layer", "filter", "filters" (C_out), "source", "kernel" [kh, kw], "stride",
        "dilation", "padding" [top, bottom, left, right], "in_shape" [C, H, W], "out_shape"
        [H_out, W_out], "channels" (every input map the filter reads), "shown" (those sent),
        "inputs" (shown maps, base64 float32 (len(shown), H, W)), "weights" ((len(shown), kh,
        kw) nested lists, exact), "bias", "rest" (base64 float64 (H_out, W_out) or None: no
        other maps), "output" (the layer's own map, base64 float32 (H_out, W_out)), "lo",
        "hi" (its range)}.

    Raises:
        UnitError: an unknown layer, one that is not a convolution, or a filter out of range.
    """
    info = conv_layer(graph, layer)
    module, c_out = info.module, info.shape[0]
    if not 0 <= filter_ < c_out:
        raise UnitError(f"filter {filter_} is outside layer {layer!r}, which has {c_out} "
                        f"(0..{c_out - 1})")
    outputs, inputs = forward_with_inputs(model, x)
    src, out = inputs[layer.split("#")[0]][0], outputs[layer][0]  # (C_in, H, W), (C_out, ...)
    channels = info.rules.unit(module, src, out, [filter_, 0, 0])["arithmetic"]["channels"]
    shown = channels[:MAX_CHANNELS_SHOWN]
    padding = pads(module, src.shape[-2], src.shape[-1])
    start = group_start(module, filter_)
    w = weights(module).detach()[filter_]  # (C_in / groups, kh, kw)
    rest = rest_map(module, src, filter_, shown, padding) if len(channels) > len(shown) else None
    output = out[filter_]  # (H_out, W_out)
    bias = 0.0 if module.bias is None else float(module.bias.detach()[filter_])
    return {"layer": layer, "filter": filter_, "filters": c_out, "source": info.source,
            "kernel": list(module.kernel_size), "stride": list(module.stride),
            "dilation": list(module.dilation), "padding": list(padding),
            "in_shape": list(src.shape), "out_shape": list(output.shape),
            "channels": channels, "shown": shown, "inputs": f32(src[shown]),
            "weights": w[[c - start for c in shown]].float().tolist(), "bias": bias,
            "rest": None if rest is None else f64(rest), "output": f32(output),
            "lo": float(output.min()), "hi": float(output.max())}
