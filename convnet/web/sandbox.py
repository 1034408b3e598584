"""The shape and parameter sandbox (CNN Explainer's hyperparameter view) on a real convolution.

The learner picks one of their network's convolutions and changes its kernel k, stride s,
padding p and number of filters C_out; the page shows both formulas with the numbers in,

    o = floor((i + 2p - k) / s) + 1          (per side; ``shapes.conv_output_size``)
    params = k·k·C_in·C_out + C_out          (``shapes.conv_params``)

and gives two verdicts. "ok": PyTorch builds the layer, as the registered models build theirs;
it fails only for a kernel larger than the padded input, sizes below 1 or padding below 0, or
a layer too large to build (``shapes.check_size``). "spec": what ``Network.from_spec`` does
with the same setting as a token (``conv16@5x5/s2/p1``): the same checks its builder runs,
among them ``shapes.window_output_size``'s refusal of an unpadded stride that does not tile
the input, which keeps a tutorial's spec from silently dropping pixels. A stride whose windows
do not fit a whole number of times ((i + 2p - k) / s not an integer) is legal in torch, which
floors it: a note says how many input rows and columns are never covered (ResNet-18/34/50's
1x1 stride-2 shortcuts on 56x56 skip every other row, the last one included; airbench94's 2x2
pooling of a 31x31 map drops the last row). Every number comes from ``convnet/shapes.py``, the
one home of the formulas; this module only puts the learner's numbers in and words the verdicts.

Example:
    >>> s = settings_of(6, 32, 32, kernel=5, stride=1, padding=0, filters=16, bias=True)
    >>> s["height"]["numbers"], s["params"]["numbers"], s["ok"], s["spec"]["ok"]
    ('⌊(32 + 2·0 − 5)/1⌋ + 1 = 28', '5·5·6·16 + 16 = 2416', True, True)
    >>> shortcut = settings_of(64, 56, 56, kernel=1, stride=2, padding=0, filters=128, bias=False)
    >>> shortcut["ok"], shortcut["output"], shortcut["height"]["uncovered"]
    (True, [128, 28, 28], 28)
    >>> shortcut["spec"]["text"].split(": ")[1]
    'stride 2 does not tile the 56x56 input'
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
LINES = {"height": "row", "width": "column", "input": "row and column"}  # what a side loses


def problem(what: str, message: str) -> dict:
    """One flag: which setting (kernel, stride, padding, filters, size) and why, in a sentence."""
    return {"what": what, "text": message}


def lines(side: str, count: int) -> str:
    """``count`` rows (height), columns (width) or rows and columns (a square input)."""
    return f"{count} " + " and ".join(word + ("s" if count != 1 else "")
                                      for word in LINES[side].split(" and "))


def never_covered(size: int, kernel: int, stride: int, padding: int) -> int:
    """Input cells along one axis that no window reads: the gaps of a stride larger than the
    kernel and the cells after the last window that torch's floor drops.

    Example:
        >>> never_covered(56, 1, 2, 0)   # ResNet's 1x1 stride-2 shortcut: every other row
        28
        >>> never_covered(31, 2, 2, 0), never_covered(32, 3, 2, 1)   # the last row; none
        (1, 0)
    """
    out = conv_output_size(size, kernel, stride, (padding, padding))

    def covered_before(x: int) -> int:  # padded cells in [0, x) that one of the windows reads
        if stride <= kernel:  # windows touch or overlap: one run from cell 0
            return min(x, (out - 1) * stride + kernel)
        whole = min(x // stride, out)  # windows ending before x (a stride apart, disjoint)
        return whole * kernel + (min(x % stride, kernel) if x // stride < out else 0)

    return size - (covered_before(padding + size) - covered_before(padding))


def axis(size: int, kernel: int, stride: int, padding: int, side: str
         ) -> tuple[dict, list[dict], list[str]]:
    """One side's output length with its numbers, the flags it raises and its notes.

    A stride that does not fit leaves the last ``(i + 2p - k) mod s`` padded cells unread;
    torch floors the length, so this is a note, not a flag: the input rows among those cells
    (none when they are all padding: ResNet's stride-2 3x3 convolutions with p = 1 on even
    sizes) and, for a stride larger than the kernel, the rows its gaps skip.

    Example:
        >>> found, flags, notes = axis(33, 2, 2, 0, "height")
        >>> found["numbers"], found["exact"], found["uncovered"], flags
        ('⌊(33 + 2·0 − 2)/2⌋ + 1 = 16', 16.5, 1, [])
        >>> notes
        ['(33 + 2·0 − 2)/2 + 1 = 16.5: torch floors it to 16, so the last 1 row of the input \
is never covered']
        >>> axis(32, 3, 2, 1, "input")[2]
        ['(32 + 2·1 − 3)/2 + 1 = 16.5: the last 1 cell of padding is never read, no input lost']
        >>> axis(3, 7, 1, 1, "width")[1][0]["text"]
        'kernel 7 is larger than the padded width 3 + 2·1 = 5'
    """
    padded = size + 2 * padding
    numbers = f"⌊({size} + 2·{padding} − {kernel})/{stride}⌋ + 1"
    if kernel > padded:
        return ({"numbers": numbers + " < 1", "exact": None, "value": None, "fits": False,
                 "uncovered": None},
                [problem("kernel", f"kernel {kernel} is larger than the padded {side} "
                                   f"{size} + 2·{padding} = {padded}")], [])
    value = conv_output_size(size, kernel, stride, (padding, padding))
    exact = (padded - kernel) / stride + 1
    uncovered = never_covered(size, kernel, stride, padding)
    found = {"numbers": f"{numbers} = {value}", "exact": exact, "value": value,
             "fits": (padded - kernel) % stride == 0, "uncovered": uncovered}
    unread = (padded - kernel) % stride  # the cells after the last window, padding included
    fraction = f"({size} + 2·{padding} − {kernel})/{stride} + 1 = {exact:.4g}"
    notes = []
    if 0 < unread <= padding:
        cells = f"{unread} cell{'s' if unread > 1 else ''}"
        notes.append(f"{fraction}: the last {cells} of padding is never read, no input lost")
    elif unread:
        lost = unread - padding
        notes.append(f"{fraction}: torch floors it to {value}, so the last {lines(side, lost)} "
                     f"of the input {'is' if lost == 1 else 'are'} never covered")
    if stride > kernel:  # a 1x1/s2 shortcut's
        notes.append(f"stride {stride} > kernel {kernel}: the windows skip {stride - kernel} of "
                     f"every {stride} rows and columns ({uncovered} of the {size} input "
                     f"{LINES[side].split()[0]}s{'' if side != 'input' else ' and columns'} "
                     "never covered)")
    return found, [], notes


def spec_verdict(c_in: int, h: int, w: int, kernel: int, stride: int, padding: int,
                 filters: int, bias: bool) -> dict:
    """What ``Network.from_spec`` does with this convolution as a token: the checks its
    builder (``kinds.conv.Convolution.build``) runs before allocating, with its words.

    Returns:
        {"token", "ok", "text"}: the refusal's one line ("layer N" left out), or what it builds.

    Example:
        >>> spec_verdict(1, 32, 32, 5, 2, 0, 6, True)["text"]
        "'conv6@5x5/s2': stride 2 does not tile the 32x32 input: (32 - 5)/2 + 1 = 14.5; \
pad it or change the stride"
        >>> spec_verdict(1, 32, 32, 5, 2, 1, 6, True)["text"]
        "'conv6@5x5/s2/p1' builds it: 6x15x15"
    """
    token = (f"conv{filters}@{kernel}x{kernel}" + (f"/s{stride}" if stride != 1 else "")
             + (f"/p{padding}" if padding else "") + ("" if bias else "/nobias"))
    where = f"'{token}'"
    try:
        out = (filters, *(window_output_size(size, kernel, stride, (padding, padding), where,
                                             "kernel") for size in (h, w)))
        check_size(where, conv_params(kernel, c_in, filters, bias), out, 0)
    except SpecError as e:
        return {"token": token, "ok": False, "text": str(e)}
    return {"token": token, "ok": True, "text": f"{where} builds it: {'x'.join(map(str, out))}"}


def settings_of(c_in: int, h: int, w: int, kernel: int, stride: int, padding: int,
                filters: int, bias: bool, links: int | None = None) -> dict:
    """Both formulas for one set of hyperparameters on a (c_in, h, w) input, with the verdicts.

    Args:
        c_in (int): input maps each filter reads (C_in / groups).
        links (int | None): a connection table's connected pairs (``shapes.conv_params``).

    Returns:
        {"input", "kernel", "stride", "padding", "filters", "height"/"width": {"numbers",
        "exact", "value", "fits", "uncovered"} (None when a setting below 1 makes them
        meaningless), "output" [C_out, H_out, W_out] or None, "params": {"formula", "numbers",
        "value"}, "mult_adds", "problems": [{"what", "text"}], "notes": [lines], "ok" (PyTorch
        builds it: no problems), "spec" (``spec_verdict``; None beside a setting below 1)}.
    """
    problems = [problem(name, f"{name} must be at least {low}, got {value}")
                for name, value, low in (("kernel", kernel, 1), ("stride", stride, 1),
                                         ("padding", padding, 0), ("filters", filters, 1))
                if value < low]
    notes: list[str] = []
    found = {"input": [c_in, h, w], "kernel": kernel, "stride": stride, "padding": padding,
             "filters": filters, "height": None, "width": None, "output": None,
             "params": None, "mult_adds": None, "spec": None}
    if not problems:
        found["spec"] = spec_verdict(c_in, h, w, kernel, stride, padding, filters, bias)
        for side, size in zip(SIDES, (h, w)):  # a square input's two notes are one
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
