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
``softmax``            class probabilities that sum to 1; only as the last layer.
=====================  ==========================================================================

Example:
    >>> layers = parse("conv6@5x5 relu maxpool2 fc10 softmax")
    >>> [l.kind for l in layers]
    ['conv', 'relu', 'maxpool', 'fc', 'softmax']
    >>> to_text(parse("CONV16@3x3/S2/SAME  relu"))
    'conv16@3x3/s2/same relu'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import SpecError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "stanh")
POOLS = ("maxpool", "avgpool", "sumpool", "subsample")
SIMPLE = ACTIVATIONS + ("softmax", "flatten", "gap", "bn")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a network definition, before its input shape is known.

    Args:
        kind (str): "conv", "fc", one of POOLS, one of SIMPLE, or "dropout".
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
    options: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def step(self) -> int:
        """The stride actually used: 1 for conv, the window for pools, unless given."""
        if self.stride is not None:
            return self.stride
        return self.size if self.kind in POOLS else 1

    def text(self) -> str:
        """The canonical token, e.g. ``conv16@5x5/s2/same``."""
        if self.kind == "conv":
            head = f"conv{self.size}@{self.kernel}x{self.kernel}"
        elif self.kind == "fc":
            head = f"fc{self.size}"
        elif self.kind in POOLS:
            head = f"{self.kind}{self.size}"
        elif self.kind == "dropout":
            head = f"dropout{self.rate:g}"
        else:
            head = self.kind
        opts = []
        if self.stride is not None and self.stride != (self.size if self.kind in POOLS else 1):
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


def layer(kind: str) -> LayerSpec:
    """A layer without arguments: relu, tanh, sigmoid, stanh, softmax, flatten, gap, bn."""
    if kind not in SIMPLE:
        raise SpecError(f"unknown layer {kind!r}; expected one of {', '.join(SIMPLE)}")
    return LayerSpec(kind)


def dropout(rate: float = 0.5) -> LayerSpec:
    return LayerSpec("dropout", rate=rate)


_CONV = re.compile(r"conv(\d+)@(\d+)(?:x(\d+))?$")
_SIZED = re.compile(r"(fc|maxpool|avgpool|sumpool|subsample)(\d+)$")
_DROPOUT = re.compile(r"dropout((?:\d+(?:\.\d*)?|\.\d+))?$")


def parse_token(token: str, position: int = 1) -> LayerSpec:
    """Parse one token such as ``conv16@5x5/s2/same`` (``position`` is only for messages).

    Raises:
        SpecError: naming the layer position, the token and what is wrong with it.
    """
    where = f"layer {position} {token!r}"
    head, *opts = token.lower().split("/")
    if m := _CONV.match(head):
        filters, k, k2 = int(m[1]), int(m[2]), int(m[3] or m[2])
        if k != k2:
            raise SpecError(f"{where}: only square kernels are supported, got {k}x{k2}")
        spec = LayerSpec("conv", filters, k)
    elif m := _SIZED.match(head):
        spec = LayerSpec(m[1], int(m[2]))
    elif m := _DROPOUT.match(head):
        spec = LayerSpec("dropout", rate=float(m[1]) if m[1] else 0.5)
    elif head in SIMPLE:
        spec = LayerSpec(head)
    else:
        raise SpecError(f"{where}: unknown token; expected conv<N>@<K>x<K>, fc<N>, "
                        f"maxpool<K>, avgpool<K>, sumpool<K>, subsample<K>, dropout<P>, "
                        f"or one of {', '.join(SIMPLE)}")
    spec = _apply_options(spec, opts, where)
    _check_numbers(spec, where)
    return spec


def _apply_options(spec: LayerSpec, opts: list[str], where: str) -> LayerSpec:
    values: dict = {}
    for opt in opts:
        if m := re.fullmatch(r"s(\d+)", opt):
            values["stride"] = int(m[1])
        elif m := re.fullmatch(r"p(\d+)", opt):
            values["padding"] = int(m[1])
        elif opt in ("same", "valid") and spec.kind == "conv":
            values["padding"] = opt
        elif opt == "c3" and spec.kind == "conv":
            values["table"] = opt
        elif opt == "nobias" and spec.kind in ("conv", "fc"):
            values["bias"] = False
        else:
            raise SpecError(f"{where}: unknown option '/{opt}' for a {spec.kind} layer")
        if spec.kind not in ("conv",) + POOLS and opt != "nobias":
            raise SpecError(f"{where}: a {spec.kind} layer takes no option '/{opt}'")
    return LayerSpec(spec.kind, spec.size, spec.kernel, values.get("stride"),
                     values.get("padding", spec.padding), values.get("table"),
                     spec.rate, values.get("bias", True), tuple(opts))


def _check_numbers(spec: LayerSpec, where: str) -> None:
    if spec.kind == "conv" and spec.size < 1:
        raise SpecError(f"{where}: a convolution needs at least 1 filter, got {spec.size}")
    if spec.kind == "conv" and spec.kernel < 1:
        raise SpecError(f"{where}: kernel size must be at least 1, got {spec.kernel}")
    if spec.kind == "fc" and spec.size < 1:
        raise SpecError(f"{where}: a fully connected layer needs at least 1 unit, got 0")
    if spec.kind in POOLS and spec.size < 1:
        raise SpecError(f"{where}: pooling window must be at least 1, got {spec.size}")
    if spec.stride is not None and spec.stride < 1:
        raise SpecError(f"{where}: stride must be at least 1, got {spec.stride}")
    if spec.kind == "dropout" and not 0.0 <= spec.rate < 1.0:
        raise SpecError(f"{where}: dropout probability must be in [0, 1), got {spec.rate:g}")


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
        if spec.kind == "softmax":
            raise SpecError(f"layer {i} 'softmax': softmax can only be the last layer")
    return layers


def to_text(layers: list[LayerSpec]) -> str:
    """The canonical one-line spec; ``parse(to_text(x)) == x`` (a tested round trip)."""
    return " ".join(spec.text() for spec in layers)
