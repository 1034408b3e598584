"""The shape and parameter sandbox (CNN Explainer's hyperparameter view) on a real convolution.

The learner picks one of their network's convolutions and changes its kernel k, stride s,
padding p and number of filters C_out; the page shows both formulas with the numbers in,

    o = floor((i + 2p - k) / s) + 1          (per side; ``shapes.conv_output_size``)
    params = k·k·C_in·C_out + C_out          (``shapes.conv_params``)

and flags what cannot work: a kernel larger than the padded input, a stride whose windows do
not fit the input a whole number of times ((i + 2p - k) / s not an integer: torch floors it
and the last rows are never read; ``convnet``'s spec refuses it unpadded,
``shapes.window_output_size``), sizes below 1 or padding below 0, a layer too large to build
(``shapes.check_size``). Every number comes from ``convnet/shapes.py``, the one home of the
formulas; this module only puts the learner's numbers in and words the flags.

Example:
    >>> s = settings_of(6, 32, 32, kernel=5, stride=1, padding=0, filters=16, bias=True)
    >>> s["height"]["numbers"], s["params"]["numbers"], s["ok"]
    ('⌊(32 + 2·0 − 5)/1⌋ + 1 = 28', '5·5·6·16 + 16 = 2416', True)
    >>> bad = settings_of(1, 32, 32, kernel=4, stride=3, padding=0, filters=6, bias=True)
    >>> bad["ok"], [p["what"] for p in bad["problems"]], bad["height"]["exact"]
    (False, ['stride'], 10.333333333333334)
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SpecError
from ..kinds.conv import connections, pads
from ..shapes import check_size, conv_mult_adds, conv_output_size, conv_params, window_output_size
from .layers import LayerInfo, forward_with_inputs
from .slide import conv_layer

SIDES = ("height", "width")


def problem(what: str, message: str) -> dict:
    """One flag: which setting (kernel, stride, padding, filters, size) and why, in a sentence."""
    return {"what": what, "text": message}


def axis(size: int, kernel: int, stride: int, padding: int, side: str
         ) -> tuple[dict, list[dict], list[str]]:
    """One side's output length with its numbers, the flags it raises and its notes.

    A stride that does not fit leaves the last ``(i + 2p - k) mod s`` padded cells unread:
    flagged when input pixels are among them, only a note when they are all padding
    (ResNet's stride-2 3x3 convolutions with p = 1 on even sizes).

    Example:
        >>> found, flags, _ = axis(33, 2, 2, 0, "height")
        >>> found["numbers"], found["exact"], flags[0]["what"]
        ('⌊(33 + 2·0 − 2)/2⌋ + 1 = 16', 16.5, 'stride')
        >>> flags[0]["text"].split("; ")[0]
        'stride 2 does not fit the height: (33 + 2·0 − 2)/2 + 1 = 16.5 is not a whole number'
        >>> axis(32, 3, 2, 1, "input")[2]
        ['(32 + 2·1 − 3)/2 + 1 = 16.5: the last 1 cell of padding is never read, no input lost']
        >>> axis(3, 7, 1, 1, "width")[1][0]["text"]
        'kernel 7 is larger than the padded width 3 + 2·1 = 5'
    """
    padded = size + 2 * padding
    numbers = f"⌊({size} + 2·{padding} − {kernel})/{stride}⌋ + 1"
    if kernel > padded:
        return ({"numbers": numbers + " < 1", "exact": None, "value": None, "fits": False},
                [problem("kernel", f"kernel {kernel} is larger than the padded {side} "
                                   f"{size} + 2·{padding} = {padded}")], [])
    value = conv_output_size(size, kernel, stride, (padding, padding))
    exact = (padded - kernel) / stride + 1
    found = {"numbers": f"{numbers} = {value}", "exact": exact, "value": value,
             "fits": (padded - kernel) % stride == 0}
    unread = (padded - kernel) % stride  # the cells after the last window, padding included
    fraction = f"({size} + 2·{padding} − {kernel})/{stride} + 1 = {exact:.4g}"
    gaps = [(f"stride {stride} > kernel {kernel}: the windows skip {stride - kernel} of every "
            f"{stride} rows and columns")] if stride > kernel else []  # a 1x1/s2 shortcut's
    if found["fits"]:
        return found, [], gaps
    if unread <= padding:
        cells = f"{unread} cell{'s' if unread > 1 else ''}"
        return found, [], [(f"{fraction}: the last {cells} of padding is never read, no input "
                           "lost"), *gaps]
    lost = unread - padding
    message = (f"stride {stride} does not fit the {side}: {fraction} is not a whole number; "
               f"torch rounds it down to {value} and never reads the last {lost} row"
               f"{'s' if lost > 1 else ''} or column{'s' if lost > 1 else ''} of the input")
    try:
        window_output_size(size, kernel, stride, (padding, padding), "", "kernel")
    except SpecError:
        message += "; convnet's spec refuses it unpadded"
    return found, [problem("stride", message)], gaps


def settings_of(c_in: int, h: int, w: int, kernel: int, stride: int, padding: int,
                filters: int, bias: bool, links: int | None = None) -> dict:
    """Both formulas for one set of hyperparameters on a (c_in, h, w) input, with the flags.

    Args:
        c_in (int): input maps each filter reads (C_in / groups).
        links (int | None): a connection table's connected pairs (``shapes.conv_params``).

    Returns:
        {"input", "kernel", "stride", "padding", "filters", "height"/"width": {"numbers",
        "exact", "value", "fits"} (None when a setting below 1 makes them meaningless),
        "output" [C_out, H_out, W_out] or None, "params": {"formula", "numbers", "value"},
        "mult_adds", "problems": [{"what", "text"}], "notes": [lines], "ok"}.
    """
    problems = [problem(name, f"{name} must be at least {low}, got {value}")
                for name, value, low in (("kernel", kernel, 1), ("stride", stride, 1),
                                         ("padding", padding, 0), ("filters", filters, 1))
                if value < low]
    notes: list[str] = []
    found = {"input": [c_in, h, w], "kernel": kernel, "stride": stride, "padding": padding,
             "filters": filters, "height": None, "width": None, "output": None,
             "params": None, "mult_adds": None}
    if not problems:
        for side, size in zip(SIDES, (h, w)):  # a square input's two flags are one
            found[side], flags, said = axis(size, kernel, stride, padding,
                                            side if h != w else "input")
            problems += [f for f in flags if f not in problems]
            notes += [n for n in said if n not in notes]
        count = conv_params(kernel, c_in, filters, bias, links)
        pairs = f"{links} links" if links is not None else f"{c_in}·{filters}"
        found["params"] = {"formula": "k·k·C_in·C_out" + (" + C_out" if bias else ""),
                           "numbers": f"{kernel}·{kernel}·{pairs}"
                                      f"{f' + {filters}' if bias else ''} = {count}",
                           "value": count}
        if found["height"]["value"] and found["width"]["value"]:
            out = (filters, found["height"]["value"], found["width"]["value"])
            found["output"] = list(out)
            found["mult_adds"] = conv_mult_adds(kernel, c_in, filters, out[1], out[2], links)
            try:
                check_size("this layer", count, out, 0)
            except SpecError as e:
                problems.append(problem("size", str(e)))
    return dict(found, problems=problems, notes=notes, ok=not problems)


def input_shape(model: nn.Module, graph: dict[str, LayerInfo], layer: str) -> tuple[int, ...]:
    """The (C, H, W) a layer reads: its source's output, else (a concatenation) measured."""
    source = graph[layer].source
    if source == "input":
        return tuple(model.input_shape)
    if source in graph:
        return tuple(graph[source].shape)
    _, inputs = forward_with_inputs(model, torch.zeros(1, *model.input_shape))
    return tuple(inputs[layer.split("#")[0]].shape[1:])


def sandbox(model: nn.Module, graph: dict[str, LayerInfo], layer: str,
            changes: dict[str, int | None]) -> dict:
    """``settings_of`` the convolution ``layer`` with ``changes`` (kernel, stride, padding,
    filters; None keeps the layer's own), plus the layer's own settings as "own".

    Raises:
        UnitError: an unknown layer or one that is not a convolution.
    """
    module = conv_layer(graph, layer).module
    _, h, w = input_shape(model, graph, layer)
    top, bottom, left, right = pads(module, h, w)
    own = {"kernel": module.kernel_size[0], "stride": module.stride[0], "padding": top,
           "filters": module.out_channels}
    chosen = {k: own[k] if changes.get(k) is None else changes[k] for k in own}
    c_in = module.in_channels // module.groups  # each filter reads its group's maps
    links = connections(module) if chosen["filters"] == own["filters"] else None
    found = settings_of(c_in, h, w, **chosen, bias=module.bias is not None, links=links)
    notes = found["notes"]
    if len({top, bottom, left, right}) > 1:
        notes.append(f"this layer pads top {top}, bottom {bottom}, left {left}, right {right} "
                     "(\"same\" padding); here p is added on every side")
    if links is not None:
        notes.append(f"its connection table joins {links} of the {c_in}·{own['filters']} "
                     "(input map, filter) pairs")
    return dict(found, layer=layer, own=own, notes=notes)
