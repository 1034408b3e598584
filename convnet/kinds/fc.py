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
MAX_CLASSES_SHOWN = 12  # softmax: every logit up to 12 classes, else the 12 largest and its own


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
    reads_classes = True  # its unit names the classes

    def build(self, spec, shape, where, used):
        if len(shape) != 1:
            raise SpecError(f"{where}: softmax needs class scores, add fc<N> before it")
        return self.modules[0](), shape

    def unit(self, module, src, out, index, labels=None):
        """p_i = e^(z_i − m) / Σ_j e^(z_j − m), m = max(z): every logit, labelled."""
        i, m = index[0], float(src.max())
        shifted = torch.exp(src.double() - m)  # (K,): e^(z_j − m), each in (0, 1]
        names = [str(n) for n in labels] if labels and len(labels) == len(src) else \
            [f"class {j}" for j in range(len(src))]
        top = min(len(src), MAX_CLASSES_SHOWN)
        shown = sorted(set(torch.argsort(src, descending=True)[:top].tolist()) | {i},
                       key=lambda j: -float(src[j]))
        a = {"formula": self.formula, "label": names[i], "z": tidy(src[i]), "max": tidy(m),
             "exp": tidy(shifted[i]), "sum_exp": tidy(shifted.sum()), "output": tidy(out[i]),
             "logits": [{"label": names[j], "z": tidy(src[j]), "exp": tidy(shifted[j])}
                        for j in shown]}
        a["lines"] = [
            text("the logits z (the last layer's scores), largest first:"),
            *[row([("▶ " if t["label"] == a["label"] else "") + t["label"]], ["z = ", t["z"]],
                  ["e^(z − max) = ", t["exp"]]) for t in a["logits"]],
            *([text(f"... and {len(src) - len(shown)} more classes")] if len(shown) < len(src)
              else []),
            eq("p(", a["label"], ") = e^(", a["z"], " − ", a["max"], ") / Σ e^(z − max) = ",
               a["exp"], " / ", a["sum_exp"], " = ", a["output"]),
            text("why − max: e^z alone overflows for large z; e^(z − max) = e^z / e^max, and "
                 "e^max cancels between top and bottom, so p is unchanged")]
        return {"inputs": [i], "arithmetic": a}

    def numpy_args(self, module, name):
        return {} if module.dim in (1, -1) else None


FLATTEN = register(Flatten("flatten", L.Flatten, numpy="Flatten"))
FC = register(FullyConnected("fc", L.Linear, numpy="Linear"))
SOFTMAX = register(Softmax("softmax", L.Softmax, nn.Softmax, numpy="Softmax"))
