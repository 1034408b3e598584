"""Convolution (``conv6@5x5``): a bank of filters slid over the input maps.

Example:
    >>> import torch
    >>> from convnet.layers import Conv2d
    >>> conv = Conv2d(1, 6, 5)
    >>> CONV.params(conv), CONV.mult_adds(conv, [6, 28, 28])   # LeNet-5's C1
    ((156, '5·5·1·6 + 6 = 156'), 117600)
    >>> CONV.size_rule(conv, [1, 32, 32], [6, 28, 28])
    '(32 + 2·0 − 5)/1 + 1 = 28'
"""

from __future__ import annotations

import re

from torch import nn

from .. import layers as L
from ..errors import ModelError, SpecError
from ..shapes import (
    check_size,
    conv_mult_adds,
    conv_output_size,
    conv_params,
    same_padding,
    size_arithmetic,
    window_output_size,
)
from .base import Kind, array, first, register, side
from .units import eq, matrix, note, padded_patch, rows, text, tidy, window

MAX_CHANNELS_SHOWN = 8  # a unit's per-channel arithmetic: the first 8 connected input maps


class Convolution(Kind):
    """``conv<N>@<K>x<K>``: N filters of K x K, each spanning every input map, plus a bias.

    Options: ``/sN`` stride, ``/same``, ``/valid`` or ``/pN`` padding, ``/c3`` LeNet-1998's
    connection table, ``/nobias``. Its unit is Σ w·x + b over a K x K patch of every connected
    input map; its twin is ``ops.Conv2d``.
    """

    family, form, usage, formula = "conv", "conv", "<N>@<K>x<K>", "Σ w·x + b"
    options = frozenset({"s", "p", "same", "valid", "c3", "nobias"})

    def read(self, rest: str, where: str) -> dict | None:
        m = re.fullmatch(r"(\d+)@(\d+)(?:x(\d+))?", rest)
        if not m:
            return None
        filters, k, k2 = int(m[1]), int(m[2]), int(m[3] or m[2])
        if k != k2:
            raise SpecError(f"{where}: only square kernels are supported, got {k}x{k2}")
        return {"size": filters, "kernel": k}

    def token(self, spec) -> str:
        return f"conv{spec.size}@{spec.kernel}x{spec.kernel}"

    def check(self, spec, where: str) -> None:
        if spec.size < 1:
            raise SpecError(f"{where}: a convolution needs at least 1 filter, got {spec.size}")
        if spec.kernel < 1:
            raise SpecError(f"{where}: kernel size must be at least 1, got {spec.kernel}")

    def build(self, spec, shape, where, used):
        c_in, h, w = self.maps(shape, where)
        k, s = spec.kernel, spec.step
        if spec.padding == "same":
            pads_h, pads_w = same_padding(h, k, s), same_padding(w, k, s)
        else:
            p = int(spec.padding) if spec.padding != "valid" else 0
            pads_h = pads_w = (p, p)
        h_out = window_output_size(h, k, s, pads_h, where, "kernel")
        w_out = window_output_size(w, k, s, pads_w, where, "kernel")
        padding = 0 if spec.padding == "valid" else spec.padding
        check_size(where, conv_params(k, c_in, spec.size, spec.bias), (spec.size, h_out, w_out),
                   used)
        if spec.table == "c3":
            if (c_in, spec.size) != (6, 16):
                raise SpecError(f"{where}: the C3 connection table joins 6 maps to 16, "
                                f"got {c_in} -> {spec.size}")
            module = L.ConnectionTableConv2d(c_in, spec.size, k, L.lenet_c3_table(), s, padding,
                                             spec.bias)
        else:
            module = L.Conv2d(c_in, spec.size, k, s, padding, spec.bias)
        return module, (spec.size, h_out, w_out)

    def output_shape(self, module, shape):
        if shape is None:
            return None
        _, h, w = shape
        top, bottom, left, right = pads(module, h, w)
        (kh, kw), (sh, sw), (dh, dw) = module.kernel_size, module.stride, module.dilation
        return (module.out_channels, conv_output_size(h, (kh - 1) * dh + 1, sh, (top, bottom)),
                conv_output_size(w, (kw - 1) * dw + 1, sw, (left, right)))

    # ------------------------------------------------------------------ summary
    def params(self, module):
        k, c_out, bias = module.kernel_size[0], module.out_channels, module.bias is not None
        c_in = module.in_channels // module.groups  # each filter spans one group's maps
        links = connections(module)
        count = conv_params(k, c_in, c_out, bias, links)
        if links is not None:
            return count, f"{k}·{k}·{links} links + {c_out} = {count}"
        return count, f"{k}·{k}·{c_in}·{c_out}{f' + {c_out}' if bias else ''} = {count}"

    def mult_adds(self, module, out_shape):
        c_out, h, w = out_shape
        return conv_mult_adds(module.kernel_size[0], module.in_channels // module.groups, c_out,
                              h, w, connections(module))

    def size_rule(self, module, in_shape, out_shape):
        top, bottom, _, _ = pads(module, in_shape[1], in_shape[2])
        return size_arithmetic(in_shape[1], first(module.kernel_size), first(module.stride),
                               (top, bottom))

    # ------------------------------------------------------------------ one unit
    def meta(self, module):
        meta = {"kernel": list(module.kernel_size), "stride": list(module.stride)}
        if isinstance(module, L.ConnectionTableConv2d):
            meta["table"] = module.table.int().tolist()
        return meta

    def unit(self, module, src, out, index):
        """Σ over the connected input maps of (k x k patch ⊙ filter slice), + bias.

        The first ``MAX_CHANNELS_SHOWN`` maps are listed cell by cell (patch, filter, w·x),
        each with the colour of its outlined window; the other maps' sums are one "rest"
        term, so the listed terms, the rest and b add up to the output.
        """
        o, y, x = index
        (kh, kw), (sh, sw), (dh, dw) = module.kernel_size, module.stride, module.dilation
        top, _, left, _ = pads(module, src.shape[-2], src.shape[-1])
        weight = weights(module).detach()[o]  # (C_in / groups, kh, kw)
        per_group = src.shape[0] // module.groups
        first_map = (o // (module.out_channels // module.groups)) * per_group
        table = getattr(module, "table", None)
        channels = [first_map + i for i in range(per_group)
                    if table is None or table[o, first_map + i] > 0]
        ty, tx = y * sh - top, x * sw - left
        span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        terms, sums = [], []
        for k, c in enumerate(channels):
            patch = padded_patch(src, c, ty, tx, span_h, span_w)[::dh, ::dw]
            products = patch * weight[c - first_map]  # (kh, kw): the w·x cells
            sums.append(float(products.double().sum()))
            if k < MAX_CHANNELS_SHOWN:
                terms.append({"channel": c, "patch": rows(patch),
                              "weights": rows(weight[c - first_map]),
                              "products": rows(products), "sum": tidy(sums[-1]), "colour": k})
        bias = float(module.bias.detach()[o]) if module.bias is not None else 0.0
        rest = sum(sums[MAX_CHANNELS_SHOWN:])
        arith = {"formula": self.formula, "channels": channels, "terms": terms,
                 "rest": tidy(rest), "rest_maps": max(len(channels) - MAX_CHANNELS_SHOWN, 0),
                 "bias": tidy(bias), "total": tidy(sum(sums) + bias),
                 "output": tidy(out[o, y, x]), "padding": [top, left]}
        arith["lines"] = conv_lines(arith)
        windows = [dict(window(src, c, ty, tx, span_h, span_w),
                        colour=k if k < MAX_CHANNELS_SHOWN else None)
                   for k, c in enumerate(channels)]
        return {"windows": windows, "arithmetic": arith}

    # ------------------------------------------------------------------ the NumPy twin
    def numpy_args(self, module, name):
        if module.groups != 1 or side(module.dilation, name, "dilation") != 1 \
                or module.padding_mode != "zeros":
            raise ModelError(f"the numpy engine supports plain convolutions only; layer {name!r} "
                             f"has groups={module.groups}, dilation={module.dilation}, "
                             f"padding_mode={module.padding_mode!r}")
        k, s = side(module.kernel_size, name, "kernel"), side(module.stride, name, "stride")
        padding = getattr(module, "mode", module.padding)  # convnet's Conv2d keeps "same" in .mode
        if not isinstance(padding, str):
            padding = side(padding, name, "padding")
        elif padding == "same" and not isinstance(module, L.Conv2d) and k % 2 == 0:
            raise ModelError(f"layer {name!r}: torch's padding='same' with an even kernel is not "
                             f"supported; use convnet's Conv2d")
        return {"weight": array(module.weight), "bias": array(module.bias), "stride": s,
                "padding": padding, "table": array(getattr(module, "table", None))}


def conv_lines(a: dict) -> list[dict]:
    """The panel's lines for one convolution unit: a row per listed map, the rest, the sum."""
    n, listed = len(a["channels"]), [t["sum"] for t in a["terms"]]
    lines = [text(f"{n} connected input map{'s' if n > 1 else ''}: "
                  f"{', '.join(map(str, a['channels']))}")]
    for t in a["terms"]:
        k = t["colour"]
        lines.append(text("map ", t["channel"], ": Σ w·x = ", t["sum"]))
        lines.append(text("x", matrix(t["patch"], colour=k), "w", matrix(t["weights"], colour=k),
                          "w·x", matrix(t["products"], colour=k)))
    sum_of = " + ".join(f"({v})" for v in listed)
    if a["rest_maps"]:
        lines.append(note(f"the other {a['rest_maps']} maps (outlined in grey), summed: ",
                          a["rest"]))
        sum_of += f" + rest ({a['rest']})"
    # the sum first, under the list of maps: the per-map cells below can be long
    lines.insert(1, eq(sum_of, " + b (", a["bias"], ") = ", a["total"], " → output ",
                       a["output"]))
    return lines


def pads(module: nn.Conv2d, height: int, width: int) -> tuple[int, int, int, int]:
    """Zeros (top, bottom, left, right) the convolution adds to an input of this size."""
    if isinstance(module, L.Conv2d):
        return module.pads(height, width)
    if isinstance(module.padding, str):  # torch's own "valid" / "same" (stride 1)
        if module.padding == "valid":
            return (0, 0, 0, 0)
        (kh, kw), (dh, dw) = module.kernel_size, module.dilation
        return same_padding(height, (kh - 1) * dh + 1) + same_padding(width, (kw - 1) * dw + 1)
    ph, pw = module.padding
    return (ph, ph, pw, pw)


def weights(module: nn.Conv2d):
    """The weights in use: a connection table's unconnected slices are zero."""
    return module.effective_weight() if isinstance(module, L.Conv2d) else module.weight


def connections(module: nn.Conv2d) -> int | None:
    """Connected (input map, filter) pairs of a connection table; None: all are connected."""
    table = getattr(module, "table", None)
    return None if table is None else int(table.sum())


CONV = register(Convolution("conv", L.Conv2d, nn.Conv2d, numpy="Conv2d"))
