"""Pooling (``maxpool2``, ``avgpool2``, ``sumpool2``, ``subsample2``) and global average pooling.

Each pool summarises a window of one map with one number: the largest (max), the mean (avg),
the sum, or LeNet-1998's a·sum + b with a learned a and b per map (subsample).

Example:
    >>> import torch
    >>> patch = torch.tensor([[1., 1], [5, 6]])
    >>> [float(kind.value(None, 0, patch)) for kind in (MAXPOOL, AVGPOOL, SUMPOOL)]
    [6.0, 3.25, 13.0]
"""

from __future__ import annotations

import torch
from torch import nn

from .. import layers as L
from ..errors import ModelError, SpecError
from ..shapes import check_size, conv_output_size, size_arithmetic, window_output_size
from .base import Kind, array, first, pair, register, side
from .units import matrix, padded_patch, rows, text, tidy, window


class Pool(Kind):
    """``<name><K>``: a K x K window every K (``/sN``: every N; ``/pN``: N zeros around).

    Args:
        mode (str): the word the page and ``convnet explain pool`` use: max, avg, sum.
        formula (str): what one output is, e.g. ``max(window)``.
    """

    family, form, usage = "pool", "sized", "<K>"
    options = frozenset({"s", "p"})
    window_stride = True
    learned = False  # a pool with weights (subsample) cannot be shown on a bare matrix
    fill = 0.0  # what padding counts as inside a window

    def __init__(self, name: str, *modules: type[nn.Module], mode: str, formula: str,
                 numpy: str):
        super().__init__(name, *modules, numpy=numpy)
        self.mode, self.formula = mode, formula

    def check(self, spec, where):
        if spec.size < 1:
            raise SpecError(f"{where}: pooling window must be at least 1, got {spec.size}")

    def new(self, channels: int, k: int, s: int | None = None, p: int = 0) -> nn.Module:
        return self.modules[0](k, s, p)

    def build(self, spec, shape, where, used):
        c, h, w = self.maps(shape, where)
        k, s, p = spec.size, spec.step, int(spec.padding) if spec.padding != "valid" else 0
        if p > k // 2:
            raise SpecError(f"{where}: padding {p} must be at most half the window {k}")
        h_out = window_output_size(h, k, s, (p, p), where, "window")
        w_out = window_output_size(w, k, s, (p, p), where, "window")
        check_size(where, 0, (c, h_out, w_out), 0)
        return self.new(c, k, s, p), (c, h_out, w_out)

    def output_shape(self, module, shape):
        if shape is None:
            return None
        c, h, w = shape
        (kh, kw), (sh, sw), (ph, pw) = (pair(module.kernel_size), pair(module.stride),
                                        pair(module.padding))
        return c, conv_output_size(h, kh, sh, (ph, ph)), conv_output_size(w, kw, sw, (pw, pw))

    def size_rule(self, module, in_shape, out_shape):
        p = first(module.padding)
        return size_arithmetic(in_shape[1], first(module.kernel_size), first(module.stride),
                               (p, p))

    def meta(self, module):
        return {"mode": self.mode, "kernel": pair(module.kernel_size),
                "stride": pair(module.stride)}

    # ------------------------------------------------------------------ one unit
    def value(self, module: nn.Module | None, c: int, patch: torch.Tensor) -> torch.Tensor:
        """One output from its window ``patch`` of map ``c`` (what ``explain pool`` shows)."""
        return patch.sum()

    def unit(self, module, src, out, index):
        """The window of map c, its values, and max (with the winner), mean, sum or a·sum + b."""
        c, y, x = index
        (kh, kw), (sh, sw), (ph, pw) = (pair(module.kernel_size), pair(module.stride),
                                        pair(module.padding))
        ty, tx = y * sh - ph, x * sw - pw
        patch = padded_patch(src, c, ty, tx, kh, kw, self.fill)
        found = {"windows": [window(src, c, ty, tx, kh, kw)],
                 "arithmetic": {"mode": self.mode, "window": rows(patch),
                                "output": tidy(out[c, y, x])}}
        self.terms(module, c, patch, (ty, tx), found)
        return found

    def terms(self, module, c: int, patch: torch.Tensor, corner: tuple[int, int],
              found: dict) -> None:
        """Fill in the window's arithmetic (default: its sum) and the panel's lines."""
        a = found["arithmetic"]
        a.update(formula=self.formula, sum=tidy(patch.sum()))
        a["lines"] = [text(self.mode, " pooling window ", matrix(a["window"]), " · sum = ",
                           a["sum"]), text("→ output ", a["output"])]

    # ------------------------------------------------------------------ the NumPy twin
    def numpy_args(self, module, name):
        k = side(module.kernel_size, name, "window")
        return {"kernel_size": k, "stride": side(module.stride or k, name, "stride"),
                "padding": side(module.padding, name, "padding")}


class MaxPool(Pool):
    fill = float("-inf")  # padding never wins

    def value(self, module, c, patch):
        return patch.max()

    def terms(self, module, c, patch, corner, found):
        r, q = divmod(int(torch.argmax(patch)), patch.shape[1])
        found["winner"] = [c, corner[0] + r, corner[1] + q]
        a = found["arithmetic"]
        a.update(formula=self.formula, winner=[r, q])
        a["lines"] = [text(self.mode, " pooling window ", matrix(a["window"], [r, q]),
                           " (red: the winner)"), text("→ output ", a["output"])]

    def numpy_args(self, module, name):
        args = plain_pool(module, name, super().numpy_args(module, name))
        if module.return_indices:
            raise ModelError(f"layer {name!r}: unsupported pooling options in {module}")
        return args


class AvgPool(Pool):
    def value(self, module, c, patch):
        return patch.mean()

    def terms(self, module, c, patch, corner, found):
        super().terms(module, c, patch, corner, found)
        found["arithmetic"]["formula"] = f"sum(window) / {patch.numel()}"

    def numpy_args(self, module, name):
        args = plain_pool(module, name, super().numpy_args(module, name))
        if not module.count_include_pad or module.divisor_override is not None:
            raise ModelError(f"layer {name!r}: unsupported pooling options in {module}")
        return args


class Subsample(Pool):
    learned = True

    def new(self, channels, k, s=None, p=0):
        return L.Subsample2d(channels, k, s, p)

    def value(self, module, c, patch):
        return patch.sum() * module.weight.detach()[c] + module.bias.detach()[c]

    def params(self, module):
        count = sum(p.numel() for p in module.parameters(recurse=False))
        return count, f"2·{count // 2} = {count}"  # one coefficient and one bias per map

    def terms(self, module, c, patch, corner, found):
        a = found["arithmetic"]
        a.update(formula=self.formula, sum=tidy(patch.sum()),
                 coefficient=tidy(module.weight.detach()[c]), bias=tidy(module.bias.detach()[c]))
        a["lines"] = [text(self.mode, " pooling window ", matrix(a["window"]), " · a = ",
                           a["coefficient"], ", b = ", a["bias"], ", sum = ", a["sum"]),
                      text("→ output ", a["output"])]

    def numpy_args(self, module, name):
        return {"weight": array(module.weight), "bias": array(module.bias),
                **super().numpy_args(module, name)}


def plain_pool(module: nn.Module, name: str, args: dict) -> dict:
    """``args``, unless torch's pool has options the twin lacks (ModelError)."""
    if module.ceil_mode or side(getattr(module, "dilation", 1), name, "x") != 1:
        raise ModelError(f"layer {name!r}: ceil_mode and dilation are not supported")
    return args


class GlobalAvgPool(Kind):
    """``gap``: one mean per map, (C, H, W) -> (C,)."""

    family = "gap"

    def build(self, spec, shape, where, used):
        return self.modules[0](), (self.maps(shape, where)[0],)

    def output_shape(self, module, shape):
        return None if shape is None else (shape[0],)

    def unit(self, module, src, out, index):
        c = index[0]
        h, w = src.shape[-2], src.shape[-1]
        output = tidy(out[c])
        return {"windows": [window(src, c, 0, 0, h, w)],
                "arithmetic": {"formula": f"mean of the {h}x{w} map", "output": output,
                               "lines": [text("→ ", output)]}}


MAXPOOL = register(MaxPool("maxpool", L.MaxPool2d, nn.MaxPool2d, mode="max",
                           formula="max(window)", numpy="MaxPool2d"))
AVGPOOL = register(AvgPool("avgpool", L.AvgPool2d, nn.AvgPool2d, mode="avg",
                           formula="mean(window)", numpy="AvgPool2d"))
SUMPOOL = register(Pool("sumpool", L.SumPool2d, mode="sum", formula="sum(window)",
                        numpy="SumPool2d"))
SUBSAMPLE = register(Subsample("subsample", L.Subsample2d, mode="subsample",
                               formula="a · sum(window) + b", numpy="Subsample2d"))
GAP = register(GlobalAvgPool("gap", L.GlobalAvgPool2d, numpy="GlobalAvgPool2d"))
