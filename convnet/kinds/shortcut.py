"""The zero-pad shortcut of a ResNet block (He et al.'s option A): no token, no parameters.

Where a stage halves the maps' side and doubles their number, the block's input cannot be added
to its branch as it is: option A takes every s-th row and column and appends zero maps.

Example:
    >>> import torch
    >>> from convnet.layers import ZeroPadShortcut
    >>> pad = ZeroPadShortcut(2, 4, 2)
    >>> src = torch.arange(32.).reshape(2, 4, 4); out = pad(src[None])[0]
    >>> ZERO_PAD.output_shape(pad, (2, 4, 4)), ZERO_PAD.unit(pad, src, out, [1, 1, 1])["windows"]
    ((4, 2, 2), [{'channel': 1, 'y': 2, 'x': 2, 'h': 1, 'w': 1}])
    >>> ZERO_PAD.unit(pad, src, out, [3, 0, 0])["arithmetic"]["output"]   # an appended map
    0
"""

from __future__ import annotations

from .. import layers as L
from .base import Kind, register
from .units import note, text, tidy, window


class ZeroPadShortcut(Kind):
    """x[c, y·s, x·s] for the input's C maps, then zero maps up to the branch's number."""

    family, form, formula = "shortcut", None, "x[c, y·s, x·s], or 0 for an added map"

    def output_shape(self, module, shape):
        if shape is None:
            return None
        c, h, w = shape
        s = module.stride
        return c + module.extra, -(-h // s), -(-w // s)  # ceil: rows 0, s, 2s ... kept

    def unit(self, module, src, out, index):
        c, y, x = index
        s, output = module.stride, tidy(out[c, y, x])
        a = {"formula": self.formula, "stride": s, "output": output}
        if c >= src.shape[0]:
            a["lines"] = [text(f"map {c} is one of the {module.extra} zero maps appended to the "
                               f"input's {src.shape[0]}: ", output),
                          note("option A: the shortcut adds no parameters")]
            return {"arithmetic": a}
        a["lines"] = [text(f"stride {s}: x[{c}, {y}·{s}, {x}·{s}] = x[{c}, {y * s}, {x * s}] → ",
                           output),
                      note("option A: the shortcut adds no parameters")]
        return {"windows": [window(src, c, y * s, x * s, 1, 1)], "arithmetic": a}


ZERO_PAD = register(ZeroPadShortcut("zeropad", L.ZeroPadShortcut))
