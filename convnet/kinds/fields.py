"""Receptive fields, layer by layer: how each kind of layer moves a unit's view of the image.

A field is a pair of ``shapes.Field`` (rows, columns). What a layer does to it depends only on
its kind's window, so the rule sits with the kinds:

=================  ==========================================================================
kind family        the field after the layer
=================  ==========================================================================
conv               ``window(k, s, pad before, dilation)`` with the padding the layer really
                   adds (``conv.pads``: "same" with an even kernel pads one more after)
pool               ``window(k, s, p)``: max, average, sum and LeNet's subsampling alike
shortcut           ``window(1, s)``: ResNet's zero-pad shortcut keeps every s-th pixel
act, bn, softmax   unchanged: one output per input value
gap, fc, flatten   none: every unit sees the whole image
=================  ==========================================================================

Example:
    >>> import torch
    >>> from convnet.layers import Conv2d, MaxPool2d
    >>> f = receptive_field(Conv2d(1, 6, 5), (Field(), Field()), (1, 32, 32))
    >>> receptive_field(MaxPool2d(2), f, (6, 28, 28))[0]
    Field(size=6, jump=2, start=0)
    >>> receptive_field(Conv2d(1, 6, 4, padding="same"), (Field(), Field()), (1, 28, 28))[0]
    Field(size=4, jump=1, start=-1)
    >>> receptive_field(torch.nn.ReLU(), f, (6, 28, 28)) == f
    True
"""

from __future__ import annotations

from torch import nn

from ..shapes import Field
from .base import of, pair
from .conv import pads

Fields = tuple[Field, Field]  # (rows, columns)
KEEP = frozenset({"act", "bn", "softmax"})  # families whose units each read one input value
WINDOWED = frozenset({"conv", "pool", "shortcut"})


def knows(module: nn.Module) -> bool:
    """True when ``receptive_field`` has a rule for ``module`` (else look inside it)."""
    kind = of(module)
    return kind is not None and kind.family in KEEP | WINDOWED


def receptive_field(module: nn.Module, field: Fields, in_shape: tuple[int, ...]
                    ) -> Fields | None:
    """The field of ``module``'s output units, given its input's ``field`` and (C, H, W) shape.

    Returns:
        (rows, columns), or None when a unit sees the whole input (gap, fc) or the module has
        no rule (``knows`` is False).
    """
    kind = of(module)
    family = kind.family if kind else None
    if family in KEEP:
        return field
    if family == "conv":
        top, _, left, _ = pads(module, in_shape[-2], in_shape[-1])
        (kh, kw), (sh, sw), (dh, dw) = module.kernel_size, module.stride, module.dilation
        return field[0].window(kh, sh, top, dh), field[1].window(kw, sw, left, dw)
    if family == "pool":
        (kh, kw), (ph, pw) = pair(module.kernel_size), pair(module.padding)
        sh, sw = pair(module.stride or module.kernel_size)
        dh, dw = pair(getattr(module, "dilation", 1))
        return field[0].window(kh, sh, ph, dh), field[1].window(kw, sw, pw, dw)
    if family == "shortcut":
        return field[0].window(1, module.stride), field[1].window(1, module.stride)
    return None
