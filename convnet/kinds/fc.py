"""The classifier's kinds: ``flatten``, fully connected (``fc120``) and ``softmax``.

Example:
    >>> from torch import nn
    >>> FC.params(nn.Linear(400, 120)), FC.mult_adds(nn.Linear(400, 120), [120])
    ((48120, '400·120 + 120 = 48120'), 48000)
    >>> FLATTEN.size_rule(nn.Flatten(), [16, 5, 5], [400])
    '16·5·5 = 400'
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import layers as L
from ..errors import SpecError
from ..shapes import check_size, fc_params
from .base import Kind, array, register
from .units import eq, row, text, tidy, window

MAX_TERMS_SHOWN = 8  # a fully connected unit: its 8 largest terms |w·x| listed


class Flatten(Kind):
    """``flatten``: (C, H, W) -> (C·H·W,), row-major; added by itself before the first fc."""

    family, numbered, formula = "flatten", False, "i = (c·H + y)·W + x"

    def build(self, spec, shape, where, used):
        return self.modules[0](), (math.prod(shape),)

    def output_shape(self, module, shape):
        return None if shape is None else (math.prod(shape),)

    def size_rule(self, module, in_shape, out_shape):
        return f"{'·'.join(map(str, in_shape))} = {out_shape[0]}"

    def unit(self, module, src, out, index):
        """Unit i of the flat vector is (c, y, x) of the maps, row-major."""
        if src.dim() != 3:
            return {}
        i = index[0]
        c, rest = divmod(i, src.shape[1] * src.shape[2])
        y, x = divmod(rest, src.shape[2])
        output = tidy(out[i])
        return {"windows": [window(src, c, y, x, 1, 1)],
                "arithmetic": {"formula": self.formula, "position": [c, y, x], "output": output,
                               "lines": [text(f"from position [{c}, {y}, {x}]", " → ", output)]}}

    def numpy_args(self, module, name):
        return {} if (module.start_dim, module.end_dim) == (1, -1) else None


class FullyConnected(Kind):
    """``fc<N>``: N units, each Σ w·x + b over every input (``/nobias``: no b)."""

    family, form, usage, formula = "fc", "sized", "<N>", "Σ w·x + b"
    options = frozenset({"nobias"})
    flattens = True

    def check(self, spec, where):
        if spec.size < 1:
            raise SpecError(f"{where}: a fully connected layer needs at least 1 unit, "
                            f"got {spec.size}")

    def build(self, spec, shape, where, used):
        check_size(where, fc_params(shape[0], spec.size, spec.bias), (spec.size,), used)
        return self.modules[0](shape[0], spec.size, bias=spec.bias), (spec.size,)

    def output_shape(self, module, shape):
        return (module.out_features,)

    def params(self, module):
        n_in, n_out, bias = module.in_features, module.out_features, module.bias is not None
        count = fc_params(n_in, n_out, bias)
        return count, f"{n_in}·{n_out}{f' + {n_out}' if bias else ''} = {count}"

    def mult_adds(self, module, out_shape):
        return module.in_features * module.out_features

    def unit(self, module, src, out, index):
        """Σ over all inputs of w·x + b; the largest terms listed."""
        j = index[0]
        w = module.weight.detach()[j]
        products = w * src
        top = torch.argsort(products.abs(), descending=True)[:MAX_TERMS_SHOWN].tolist()
        bias = float(module.bias.detach()[j]) if module.bias is not None else 0.0
        a = {"formula": self.formula, "n_inputs": len(src),
             "terms": [{"input": i, "x": tidy(src[i]), "w": tidy(w[i]),
                        "product": tidy(products[i])} for i in top],
             "rest": tidy(products.sum() - products[top].sum()), "bias": tidy(bias),
             "total": tidy(products.sum() + bias), "output": tidy(out[j])}
        a["lines"] = [text(a["n_inputs"], " inputs; largest terms:"),
                      *[row(["x[", t["input"], "] = ", t["x"]], ["w = ", t["w"]],
                            ["w·x = ", t["product"]]) for t in a["terms"]],
                      eq("+ the other ", a["n_inputs"] - len(a["terms"]), " terms (", a["rest"],
                         ") + b (", a["bias"], ") = ", a["total"], " → ", a["output"])]
        return {"inputs": top, "arithmetic": a}

    def numpy_args(self, module, name):
        return {"weight": array(module.weight), "bias": array(module.bias)}


class Softmax(Kind):
    """``softmax``: class probabilities e^z_i / Σ_j e^z_j; only as the last layer."""

    family, numbered, last_only, formula = "softmax", False, True, "e^z_i / Σ_j e^z_j"

    def build(self, spec, shape, where, used):
        if len(shape) != 1:
            raise SpecError(f"{where}: softmax needs class scores, add fc<N> before it")
        return self.modules[0](), shape

    def unit(self, module, src, out, index):
        """p_i = e^(z_i) / Σ_j e^(z_j), both shifted by max(z)."""
        i = index[0]
        a = {"formula": self.formula, "z": tidy(src[i]), "exp": tidy(torch.exp(src[i] - src.max())),
             "sum_exp": tidy(torch.exp(src - src.max()).sum()),
             "note": "both shifted by max(z), which cancels", "output": tidy(out[i])}
        a["lines"] = [text("z = ", a["z"], ", e^z = ", a["exp"], ", Σ e^z = ", a["sum_exp"],
                           " (", a["note"], ") → ", a["output"])]
        return {"inputs": [i], "arithmetic": a}

    def numpy_args(self, module, name):
        return {} if module.dim in (1, -1) else None


FLATTEN = register(Flatten("flatten", L.Flatten, numpy="Flatten"))
FC = register(FullyConnected("fc", L.Linear, numpy="Linear"))
SOFTMAX = register(Softmax("softmax", L.Softmax, nn.Softmax, numpy="Softmax"))
