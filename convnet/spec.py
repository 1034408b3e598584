"""The one-line network grammar: ``"conv6@5x5 relu maxpool2 ... fc10 softmax"`` <-> LayerSpec list.

Tokens are separated by spaces; options follow a token after ``/``. Case does not matter.

=====================  ==========================================================================
token                  meaning
=====================  ==========================================================================
``conv6@5x5``          convolution: 6 filters (the depth), each 5x5 spanning all input channels,
                       plus one bias each. Options: ``/s2`` stride 2; ``/same`` (output =
                       ceil(H/s); odd extra pixel goes bottom/right), ``/valid`` (default, no
                       padding) or ``/p2`` (2 zeros on every side); ``/c3`` LeNet-1998's partial
                       connection table (6 -> 16 maps, Table I); ``/nobias``.
``relu`` ``tanh``      non-linearities; ``stanh`` is LeNet's scaled tanh 1.7159*tanh(2x/3).
``sigmoid`` ``stanh``
``maxpool2``           2x2 max pooling (stride = window unless ``/s1``); also ``avgpool2`` and
``avgpool3/s2/p1``     ``sumpool2`` (the tutorials' sum pooling). ``/pN`` pads N on every side.
``subsample2``         LeNet-1998's S-layer: sum of each 2x2 window times a learned coefficient
                       plus a learned bias, per map.
``gap``                global average pooling (N, C, H, W) -> (N, C).
``flatten``            (N, C, H, W) -> (N, C*H*W); inserted automatically before the first ``fc``.
``fc120``              fully connected layer with 120 units (``/nobias`` to drop the biases).
``dropout0.5``         dropout with probability 0.5 (``dropout`` alone means 0.5).
``bn``                 batch normalisation (2-d after convolutions, 1-d after fc layers).
``leakyrelu``          max(0.01·x, x): ReLU that lets a sliver of the negatives through.
``softmax``            class probabilities that sum to 1; only as the last layer.
=====================  ==========================================================================

Which words exist, what numbers follow them and which options each takes is the layer kinds'
business (``convnet/kinds``): this file only splits tokens and asks the kind.

Example:
    >>> layers = parse("conv6@5x5 relu maxpool2 fc10 softmax")
    >>> [l.kind for l in layers]
    ['conv', 'relu', 'maxpool', 'fc', 'softmax']
    >>> to_text(parse("CONV16@3x3/S2/SAME  relu"))
    'conv16@3x3/s2/same relu'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import kinds
from .errors import SpecError


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a network definition, before its input shape is known.

    Args:
        kind (str): a layer kind's name: "conv", "fc", "maxpool", "relu" ... (``kinds``).
        size (int): filters (conv), units (fc) or window side (pools). Default: 0.
        kernel (int): filter side, conv only. Default: 0.
        stride (int | None): step; None means 1 for conv and the window for pools.
        padding (str | int): "valid", "same" or zeros per side. Default: "valid".
        table (str | None): "c3" for LeNet-1998's connection table. Default: None.
        rate (float): dropout probability. Default: 0.0.
        bias (bool): whether conv/fc layers add a bias. Default: True.
    """

    kind: str
    size: int = 0
    kernel: int = 0
    stride: int | None = None
    padding: str | int = "valid"
    table: str | None = None
    rate: float = 0.0
    bias: bool = True

    @property
    def step(self) -> int:
        """The stride actually used: 1 for conv, the window for pools, unless given."""
        if self.stride is not None:
            return self.stride
        return self.size if self._window_stride else 1

    @property
    def _window_stride(self) -> bool:
        kind = kinds.find(self.kind)
        return kind is not None and kind.window_stride

    def text(self) -> str:
        """The canonical token, e.g. ``conv16@5x5/s2/same``."""
        kind = kinds.find(self.kind)
        head = kind.token(self) if kind is not None else self.kind
        opts = []
        if self.stride is not None and self.stride != (self.size if self._window_stride else 1):
            opts.append(f"s{self.stride}")
        if self.padding == "same":
            opts.append("same")
        elif isinstance(self.padding, int) and self.padding:
            opts.append(f"p{self.padding}")
        if self.table:
            opts.append(self.table)
        if not self.bias:
            opts.append("nobias")
        return "/".join([head] + opts)


# Constructors for defining a network from Python: Network.from_spec([conv(6, 5), relu(), ...]).
def conv(filters: int, kernel: int, stride: int = 1, padding: str | int = "valid",
         table: str | None = None, bias: bool = True) -> LayerSpec:
    return LayerSpec("conv", filters, kernel, stride, padding, table, bias=bias)


def fc(units: int, bias: bool = True) -> LayerSpec:
    return LayerSpec("fc", units, bias=bias)


def pool(kind: str, window: int, stride: int | None = None, padding: int = 0) -> LayerSpec:
    return LayerSpec(kind, window, stride=stride, padding=padding)


def maxpool(window: int, stride: int | None = None, padding: int = 0) -> LayerSpec:
    return pool("maxpool", window, stride, padding)


def avgpool(window: int, stride: int | None = None, padding: int = 0) -> LayerSpec:
    return pool("avgpool", window, stride, padding)


def sumpool(window: int, stride: int | None = None, padding: int = 0) -> LayerSpec:
    return pool("sumpool", window, stride, padding)


def plain() -> list[str]:
    """The words that are whole tokens: relu, tanh, softmax, flatten, gap, bn ..."""
    return [k.name for k in kinds.registered() if k.form == "plain"]


def layer(kind: str) -> LayerSpec:
    """A layer without arguments: relu, tanh, sigmoid, stanh, softmax, flatten, gap, bn ...

    Example:
        >>> layer("leakyrelu").text()
        'leakyrelu'
    """
    if kind not in plain():
        raise SpecError(f"unknown layer {kind!r}; expected one of {', '.join(plain())}")
    return LayerSpec(kind)


def dropout(rate: float = 0.5) -> LayerSpec:
    return LayerSpec("dropout", rate=rate)


_WORD = re.compile(r"[a-z]*")
# Options: /sN and /pN are read for every kind (and refused by those that take none); the
# others are words only some kinds know (any other word is unknown).
_WORDS = {"same": "padding", "valid": "padding", "c3": "table", "nobias": "bias"}


def parse_token(token: str, position: int = 1) -> LayerSpec:
    """Parse one token such as ``conv16@5x5/s2/same`` (``position`` is only for messages).

    Raises:
        SpecError: naming the layer position, the token and what is wrong with it.
    """
    where = f"layer {position} {token!r}"
    head, *opts = token.lower().split("/")
    name = _WORD.match(head)[0]
    kind = kinds.find(name)
    fields = kind.read(head[len(name):], where) if kind is not None and kind.form else None
    if fields is None:
        shaped = [k.name + k.usage for k in kinds.registered() if k.form not in (None, "plain")]
        raise SpecError(f"{where}: unknown token; expected {', '.join(shaped)}, "
                        f"or one of {', '.join(plain())}")
    spec = _apply_options(LayerSpec(name, **fields), kind, opts, where)
    kind.check(spec, where)
    if spec.stride is not None and spec.stride < 1:
        raise SpecError(f"{where}: stride must be at least 1, got {spec.stride}")
    return spec


def _apply_options(spec: LayerSpec, kind: kinds.Kind, opts: list[str], where: str
                   ) -> LayerSpec:
    values: dict = {}
    for opt in opts:
        if m := re.fullmatch(r"([sp])(\d+)", opt):
            if m[1] not in kind.options:
                raise SpecError(f"{where}: a {spec.kind} layer takes no option '/{opt}'")
            values["stride" if m[1] == "s" else "padding"] = int(m[2])
        elif opt in _WORDS and opt in kind.options:
            values[_WORDS[opt]] = {"c3": opt, "nobias": False}.get(opt, opt)
        else:
            raise SpecError(f"{where}: unknown option '/{opt}' for a {spec.kind} layer")
    return LayerSpec(spec.kind, spec.size, spec.kernel, values.get("stride"),
                     values.get("padding", spec.padding), values.get("table"), spec.rate,
                     values.get("bias", True))


def parse(text: str) -> list[LayerSpec]:
    """Parse a whole spec line into LayerSpecs (shapes are checked later, by Network).

    Raises:
        SpecError: for an empty spec, an unknown token, a misplaced softmax or bad numbers.
    """
    tokens = text.split()
    if not tokens:
        raise SpecError("empty network spec: expected tokens like 'conv6@5x5 relu maxpool2 fc10'")
    layers = [parse_token(tok, i) for i, tok in enumerate(tokens, 1)]
    for i, spec in enumerate(layers[:-1], 1):
        if kinds.get(spec.kind).last_only:
            raise SpecError(f"layer {i} '{spec.kind}': {spec.kind} can only be the last layer")
    return layers


def to_text(layers: list[LayerSpec]) -> str:
    """The canonical one-line spec; ``parse(to_text(x)) == x`` (a tested round trip)."""
    return " ".join(spec.text() for spec in layers)
