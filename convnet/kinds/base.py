"""``Kind``: what one layer kind is, and the table that finds a kind by its name or its module.

A kind's defaults are those of a parameter-free layer that keeps its input's shape (ReLU, say);
each family (``conv.py``, ``pool.py``, ``fc.py``, ``elementwise.py``) overrides what differs.

Example:
    >>> import convnet.kinds as kinds
    >>> from torch import nn
    >>> kinds.of(nn.MaxPool2d(2)).name, kinds.get("relu").formula
    ('maxpool', 'max(0, x)')
    >>> kinds.of(nn.LSTM(2, 2)) is None   # no kind describes it
    True
"""

from __future__ import annotations

import re

import numpy as np
from torch import nn

from ..errors import ModelError, SpecError


class Kind:
    """One layer kind (``conv``, ``maxpool``, ``relu`` ...): every fact about it, in one object.

    Args:
        name (str): the spec token's word, and the layer's name stem (``relu`` -> relu1).
        *modules (type): torch classes that are this kind (subclasses too); the first is the
            one ``build`` makes.
        numpy (str | None): the class in ``numpy_engine/ops.py`` that computes it by hand.
            Default: None (the NumPy engine cannot run it).
    """

    family = "act"  # the page's group: conv, pool, fc, flatten, softmax, gap, bn, act, other
    form: str | None = "plain"  # its token: plain "relu", sized "fc120"; None: no token
    usage = ""  # what follows the name in the "expected ..." message: "<N>", "<K>"
    options: frozenset[str] = frozenset()  # token options it accepts: s p same valid c3 nobias
    window_stride = False  # its stride defaults to its window (pools), else 1
    numbered = True  # layers are named relu1, relu2 ...; False: one per network (flatten)
    last_only = False  # only as a network's last layer (softmax)
    flattens = False  # maps are flattened before it (fc after a convolution)
    formula = "f(x)"  # what one unit computes, as the page's panel heads it
    reads_classes = False  # True: ``unit`` takes ``labels``, the class names (softmax)
    # f(max(window)) == max(f(window)) bit for bit (f non-decreasing and exact in floats: ReLU),
    # so training may run a max pool before it, on 4x fewer values (Network.train_logits).
    commutes_with_max = False

    def __init__(self, name: str, *modules: type[nn.Module], numpy: str | None = None):
        self.name, self.modules, self.numpy = name, modules, numpy

    def __repr__(self) -> str:
        return f"<kind {self.name}>"

    # ------------------------------------------------------------------ the spec token
    def read(self, rest: str, where: str) -> dict | None:
        """LayerSpec fields from what follows the name ('120' of 'fc120'); None: no match."""
        if self.form == "plain":
            return {} if rest == "" else None
        if self.form == "sized" and re.fullmatch(r"\d+", rest):
            return {"size": int(rest)}
        return None

    def token(self, spec) -> str:
        """The token's head for ``spec`` (a LayerSpec), options excluded: ``fc120``."""
        return f"{self.name}{spec.size}" if self.form == "sized" else self.name

    def check(self, spec, where: str) -> None:
        """Refuse numbers this kind cannot take (SpecError naming ``where``)."""

    # ------------------------------------------------------------------ building
    def build(self, spec, shape: tuple[int, ...], where: str, used: int
              ) -> tuple[nn.Module, tuple[int, ...]]:
        """A fresh module for ``spec`` (a LayerSpec) on an input of ``shape``, and its output
        shape; ``used``: the weights of the layers before it (for ``shapes.check_size``)."""
        return self.modules[0](), shape

    def maps(self, shape: tuple[int, ...], where: str) -> tuple[int, int, int]:
        """``shape`` as (C, H, W), or the SpecError of a kind that needs maps."""
        if len(shape) != 3:
            raise SpecError(f"{where}: needs a (C, H, W) input but gets a flat vector of "
                            f"{shape[0]}")
        return shape

    def output_shape(self, module: nn.Module, shape: tuple[int, ...] | None
                     ) -> tuple[int, ...] | None:
        """Its output shape for an input of ``shape`` (None: unknown), without running it."""
        return shape

    # ------------------------------------------------------------------ summary
    def params(self, module: nn.Module) -> tuple[int, str]:
        """Learnable numbers and their formula (``5·5·1·6 + 6 = 156``)."""
        count = sum(p.numel() for p in module.parameters(recurse=False))
        return count, f"{count}" if count else ""

    def mult_adds(self, module: nn.Module, out_shape: list[int]) -> int:
        """Multiply-adds per image (0: none worth counting)."""
        return 0

    def size_rule(self, module: nn.Module, in_shape: list[int], out_shape: list[int]) -> str:
        """The output-size arithmetic with its numbers: ``(32 + 2·0 − 5)/1 + 1 = 28``."""
        return ""

    # ------------------------------------------------------------------ one unit
    def meta(self, module: nn.Module) -> dict:
        """What the page shows beside the layer's name (window, stride, table)."""
        return {}

    def unit(self, module: nn.Module, src, out, index: list[int]) -> dict:
        """Where output unit ``index`` looks in ``src`` and what it computes.

        Args:
            src, out (Tensor): the layer's input and output for one image (no batch axis).
            labels (list[str]): the class names, passed only to a kind that ``reads_classes``.

        Returns:
            {"windows": [{channel, y, x, h, w}], "winner": [c, y, x] | None, "inputs": [flat
            indices], "arithmetic": {"formula", the numbers, "lines": the panel's lines}}; keys
            left out mean none.
        """
        return {}

    # ------------------------------------------------------------------ the NumPy twin
    def numpy_args(self, module: nn.Module, name: str) -> dict | None:
        """The twin's constructor arguments read off ``module``; None: no twin for this one.

        Raises:
            ModelError: for a module the twin cannot copy, naming layer ``name``.
        """
        return {}


# ----------------------------------------------------------------------------- the table
_BY_NAME: dict[str, Kind] = {}
_BY_MODULE: dict[type, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to the table: from now on the grammar, the builder, the summary, the page
    and the NumPy engine know it. Returns it, so a family file reads ``RELU = register(...)``."""
    if kind.name in _BY_NAME:
        raise ValueError(f"layer kind {kind.name!r} is already registered")
    _BY_NAME[kind.name] = kind
    for cls in kind.modules:
        _BY_MODULE.setdefault(cls, kind)
    return kind


def unregister(name: str) -> None:
    """Take a kind out of the table again (tests add throwaway kinds)."""
    kind = _BY_NAME.pop(name)
    for cls in kind.modules:
        if _BY_MODULE.get(cls) is kind:
            del _BY_MODULE[cls]


def registered() -> list[Kind]:
    """Every kind, in the order registered."""
    return list(_BY_NAME.values())


def find(name: str) -> Kind | None:
    return _BY_NAME.get(name)


def get(name: str) -> Kind:
    """The kind called ``name``.

    Raises:
        SpecError: for a name no kind has.
    """
    if name not in _BY_NAME:
        raise SpecError(f"no layer kind {name!r}; the kinds are {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def of(module: nn.Module) -> Kind | None:
    """The kind of a torch module: its own class, else the nearest base class registered."""
    return next((_BY_MODULE[cls] for cls in type(module).__mro__ if cls in _BY_MODULE), None)


def output_shape(modules, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The output shape of a chain of ``modules``, from each kind's size rule (no forward pass).

    A module no kind describes (a residual block, say) makes the shape unknown (None) until a
    layer whose size does not depend on its input (fc) fixes it again.
    """
    shape = tuple(input_shape)
    for module in modules:
        kind = of(module)
        shape = kind.output_shape(module, shape) if kind else None
    return shape


# ----------------------------------------------------------------------------- helpers
def first(value) -> int:
    """torch's int-or-pair arguments: the first side."""
    return value[0] if isinstance(value, (tuple, list)) else value


def pair(value) -> list[int]:
    return list(value) if isinstance(value, (tuple, list)) else [int(value), int(value)]


def array(t) -> np.ndarray | None:
    """A float32 NumPy copy of a torch parameter or buffer (None stays None)."""
    return None if t is None else t.detach().cpu().numpy().astype(np.float32, copy=True)


def side(value, name: str, what: str) -> int:
    """One int from torch's int-or-pair arguments; ModelError for non-square ones."""
    sides = value if isinstance(value, tuple) else (value, value)
    if sides[0] != sides[1]:
        raise ModelError(f"the numpy engine needs a square {what} in layer {name!r}, got {value}")
    return int(sides[0])
