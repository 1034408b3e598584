"""Kinds that compute each output from the input at the same place: the non-linearities
(``relu``, ``tanh``, ``sigmoid``, ``stanh``, ``leakyrelu``), batch norm (``bn``) and dropout.

Adding one is one entry here (and, for the NumPy engine, its twin in ``numpy_engine/ops.py``):
``leakyrelu`` was added so, and the spec grammar, the builder, the summary, ``explain``, the
page and the NumPy engine all know it.

Example:
    >>> import torch
    >>> [RELU.new()(torch.tensor([-2.0, 3.0])).tolist(), RELU.formula]
    [[0.0, 3.0], 'max(0, x)']
"""

from __future__ import annotations

import re

from torch import nn

from .. import layers as L
from ..errors import SpecError
from .base import Kind, register
from .units import at, eq, row, text, tidy


class Elementwise(Kind):
    """A kind whose unit is f(x) of the one input at its own position.

    Args:
        formula (str): f as the panel and ``explain`` write it, e.g. ``max(0, x)``.
        title (str): its name in a sentence (``ReLU``). Default: the kind's name.
        token (bool): whether the spec grammar has it. Default: True.
        commutes_with_max (bool): see ``Kind.commutes_with_max``. Default: False.
    """

    def __init__(self, name: str, *modules: type[nn.Module], formula: str,
                 numpy: str | None = None, title: str | None = None, token: bool = True,
                 commutes_with_max: bool = False):
        super().__init__(name, *modules, numpy=numpy)
        self.formula, self.title = formula, title or name
        self.commutes_with_max = commutes_with_max
        if not token:
            self.form = None

    def new(self) -> nn.Module:
        """A fresh module (what ``explain`` applies to a matrix)."""
        return self.modules[0]()

    def formula_of(self, module: nn.Module) -> str:
        return self.formula

    def unit(self, module, src, out, index):
        where = tuple(index)
        a = {"formula": self.formula_of(module), "input": tidy(src[where]),
             "output": tidy(out[where])}
        a["lines"] = [text("x = ", a["input"], " → ", a["output"])]
        return {**at(index, src), "arithmetic": a}


class LeakyReLU(Elementwise):
    """ReLU that lets a sliver of the negatives through: x if x > 0, else slope·x."""

    def formula_of(self, module):
        return f"max({module.negative_slope:g}·x, x)"

    def numpy_args(self, module, name):
        return {"slope": module.negative_slope}


class BatchNorm(Elementwise):
    """``bn``: 2-d after convolutions, 1-d after fc layers; a scale and a shift per channel."""

    family = "bn"

    def build(self, spec, shape, where, used):
        return (L.BatchNorm2d(shape[0]) if len(shape) == 3 else L.BatchNorm1d(shape[0])), shape

    def params(self, module):
        count = sum(p.numel() for p in module.parameters(recurse=False))
        return count, f"2·{count // 2} = {count}"  # one scale and one shift per channel

    def unit(self, module, src, out, index):
        """(x − mean) / √(var + ε) · γ + β with channel c's running statistics (eval mode)."""
        c, where = index[0], tuple(index)
        mean, var = statistic(module.running_mean, c, 0.0), statistic(module.running_var, c, 1.0)
        gamma, beta = statistic(module.weight, c, 1.0), statistic(module.bias, c, 0.0)
        x = float(src[where])
        a = {"formula": self.formula, "input": tidy(x), "mean": tidy(mean), "var": tidy(var),
             "eps": module.eps, "gamma": tidy(gamma), "beta": tidy(beta),
             "normalised": tidy((x - mean) / (var + module.eps) ** 0.5),
             "output": tidy(out[where])}
        a["lines"] = [
            row(["x = ", a["input"]], [f"channel {c}'s running mean = ", a["mean"]],
                ["variance = ", a["var"]]),
            row(["γ = ", a["gamma"]], ["β = ", a["beta"]], ["ε = ", a["eps"]]),
            eq("(", a["input"], " − ", a["mean"], ") / √(", a["var"], " + ", a["eps"], ") = ",
               a["normalised"]),
            eq(a["normalised"], " · ", a["gamma"], " + ", a["beta"], " = ", a["output"]),
            text("mean and variance were averaged over the training set; when predicting "
                 "they stay fixed")]
        return {**at(index, src), "arithmetic": a}


def statistic(t, c: int, default: float) -> float:
    """Channel c of a batch norm's parameter or running statistic; ``default`` without one."""
    return default if t is None else float(t.detach()[c])


class Dropout(Elementwise):
    """``dropout<P>``: zero each input with probability P while training (``dropout``: 0.5)."""

    form, usage = "rate", "<P>"

    def read(self, rest, where):
        if not re.fullmatch(r"(?:\d+(?:\.\d*)?|\.\d+)?", rest):
            return None
        return {"rate": float(rest) if rest else 0.5}

    def token(self, spec):
        return f"dropout{spec.rate:g}"

    def check(self, spec, where):
        if not 0.0 <= spec.rate < 1.0:
            raise SpecError(f"{where}: dropout probability must be in [0, 1), got {spec.rate:g}")

    def build(self, spec, shape, where, used):
        return self.modules[0](spec.rate), shape

    def numpy_args(self, module, name):
        return {"p": module.p}


# Only ReLU commutes with max exactly: tanh and sigmoid are monotone too, but their vectorised
# float approximations need not be to the last bit, and training must equal the plain order's.
RELU = register(Elementwise("relu", L.ReLU, formula="max(0, x)", numpy="ReLU", title="ReLU",
                            commutes_with_max=True))
TANH = register(Elementwise("tanh", L.Tanh, formula="tanh(x)", numpy="Tanh"))
SIGMOID = register(Elementwise("sigmoid", L.Sigmoid, formula="1 / (1 + e^-x)", numpy="Sigmoid"))
STANH = register(Elementwise("stanh", L.ScaledTanh, formula="1.7159 · tanh(2x / 3)",
                             numpy="ScaledTanh", title="LeNet's scaled tanh"))
LEAKYRELU = register(LeakyReLU("leakyrelu", nn.LeakyReLU, formula="max(0.01·x, x)",
                               numpy="LeakyReLU", title="leaky ReLU"))
BN = register(BatchNorm("bn", nn.BatchNorm2d, nn.BatchNorm1d,
                        formula="(x − mean) / √(var + ε) · γ + β"))
DROPOUT = register(Dropout("dropout", L.Dropout, formula="x (identity when predicting)",
                           numpy="Dropout"))
# torch's placeholder (a residual block's plain shortcut): no token, but a twin.
IDENTITY = register(Elementwise("identity", nn.Identity, formula="x", numpy="Identity",
                                token=False))
# What the page assumes of a module no kind describes that keeps its input's shape (LRN).
ELEMENTWISE = Elementwise("elementwise", formula="f(x)", token=False)
