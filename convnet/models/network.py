"""Network: ``features`` (convolution, non-linearity, pooling) then ``head`` (fc ... softmax).

The split follows the tutorials' picture (feature extractor, then classifier) and timm's
``forward_features`` / ``forward_head``, which is what feature maps and Grad-CAM need.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from .. import layers as L
from ..errors import SpecError
from ..shapes import conv_output_size, conv_params, fc_params, same_padding
from ..spec import ACTIVATIONS, POOLS, LayerSpec, parse, to_text

# Bounds checked before a layer is allocated: a spec such as "conv999999@5x5" or
# "fc100000 fc100000" is refused with its size instead of taking the machine's memory.
MAX_PARAMS = 500_000_000  # weights of one network: 2 GB in float32, 3.5x VGG-19's 144 M
MAX_VALUES = 50_000_000  # values one layer outputs per image: 200 MB in float32 (VGG-16's
#   largest is 64x224x224 = 3.2 M; the image sizes predict accepts end at 50 M pixels too)


class Network(nn.Module):
    """A ConvNet: ``features`` then ``head``; ``forward`` ends in softmax probabilities.

    Args:
        features (nn.Sequential): named layers that keep the (N, C, H, W) layout.
        head (nn.Sequential): named layers from the flatten onwards (fc ..., softmax).
        input_shape (tuple[int, int, int]): (C, H, W) the network was built for.
        spec (str | None): the one-line definition, when the network came from one.

    Shape:
        Input (N, C, H, W) -> Output (N, num_classes), rows summing to 1 when the head ends
        with Softmax; ``logits(x)`` gives the scores before it (what cross-entropy wants).

    Example:
        >>> net = Network.from_spec("conv6@5x5 relu maxpool2 fc10 softmax", (1, 32, 32))
        >>> [n for n, _ in net.features.named_children()], [n for n, _ in net.head.named_children()]
        (['conv1', 'relu1', 'maxpool1'], ['flatten', 'fc1', 'softmax'])
        >>> [round(v, 6) for v in net(torch.zeros(2, 1, 32, 32)).sum(dim=1).tolist()]
        [1.0, 1.0]
    """

    def __init__(self, features: nn.Sequential, head: nn.Sequential,
                 input_shape: tuple[int, int, int], spec: str | None = None):
        super().__init__()
        self.features = features
        self.head = head
        self.input_shape = tuple(input_shape)
        self.spec = spec

    @classmethod
    def from_spec(cls, spec: str | list[LayerSpec], input_shape: tuple[int, int, int]
                  ) -> "Network":
        """Build from a spec line or LayerSpec list; every shape is checked now, not later.

        Raises:
            SpecError: naming the layer and the numbers when a layer cannot fit its input.
        """
        specs = parse(spec) if isinstance(spec, str) else list(spec)
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise SpecError(f"input shape must be C x H x W with positive sizes, got {input_shape}")
        check_size("the input", 0, tuple(input_shape), 0)
        features, head = build_layers(specs, tuple(input_shape))
        return cls(features, head, input_shape, to_text(specs))

    @property
    def num_classes(self) -> int:
        with torch.no_grad():
            return self(torch.zeros(1, *self.input_shape)).shape[1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Scores before the final softmax (the whole network if it has none)."""
        x = self.features(x)
        last = len(self.head) - 1
        for i, module in enumerate(self.head):
            if i == last and isinstance(module, nn.Softmax):
                break
            x = module(x)
        return x


def build_layers(specs: list[LayerSpec], input_shape: tuple[int, ...]
                 ) -> tuple[nn.Sequential, nn.Sequential]:
    """Turn LayerSpecs into named modules, tracking the shape to infer channels and check sizes."""
    features, head = OrderedDict(), OrderedDict()
    counts: dict[str, int] = {}
    shape, params = input_shape, 0
    for position, spec in enumerate(specs, 1):
        where = f"layer {position} {spec.text()!r}"
        if spec.kind == "fc" and len(shape) == 3:  # the tutorials' fc after a conv: flatten first
            head["flatten"] = L.Flatten()
            shape = (shape[0] * shape[1] * shape[2],)
        module, shape = _build_one(spec, shape, where, params)
        params += sum(p.numel() for p in module.parameters())
        kind = spec.kind
        counts[kind] = counts.get(kind, 0) + 1
        name = kind if kind in ("flatten", "softmax") else f"{kind}{counts[kind]}"
        target = features if (len(shape) == 3 and not head) else head
        if name in target:
            raise SpecError(f"{where}: only one {kind} layer is allowed")
        target[name] = module
    if not head:
        raise SpecError("the network never reaches a classifier: end it with fc<N> (and softmax)")
    return nn.Sequential(features), nn.Sequential(head)


def check_size(where: str, params: int, shape: tuple[int, ...], used: int) -> None:
    """Refuse a layer of more than ``MAX_VALUES`` outputs per image, or one whose ``params``
    weights take the network (``used`` so far) past ``MAX_PARAMS``, before it is allocated.

    Example:
        >>> check_size("layer 2 'fc100000'", 100000 * 100001, (100000,), 102_500_000)
        Traceback (most recent call last):
        ...
        convnet.errors.SpecError: layer 2 'fc100000': 10,000,100,000 weights (10,102,600,000 in \
the network with it) is more than the 500,000,000 a network may have
    """
    values = math.prod(shape)
    if values > MAX_VALUES:
        raise SpecError(f"{where}: {'x'.join(map(str, shape))} = {values:,} values per image, "
                        f"more than the {MAX_VALUES:,} a layer may hold")
    if used + params > MAX_PARAMS:
        raise SpecError(f"{where}: {params:,} weights ({used + params:,} in the network with "
                        f"it) is more than the {MAX_PARAMS:,} a network may have")


def _build_one(spec: LayerSpec, shape: tuple[int, ...], where: str, used: int = 0
               ) -> tuple[nn.Module, tuple[int, ...]]:
    """One module and its output shape; SpecError if it cannot take this input shape, or is
    too large to allocate (``check_size``; ``used``: the weights of the layers before it)."""
    if spec.kind in ("conv",) + POOLS + ("gap",) and len(shape) != 3:
        raise SpecError(f"{where}: needs a (C, H, W) input but gets a flat vector of {shape[0]}")
    if spec.kind == "conv":
        return _build_conv(spec, shape, where, used)
    if spec.kind in POOLS:
        return _build_pool(spec, shape, where)
    if spec.kind == "fc":
        check_size(where, fc_params(shape[0], spec.size, spec.bias), (spec.size,), used)
        return L.Linear(shape[0], spec.size, bias=spec.bias), (spec.size,)
    if spec.kind in ACTIVATIONS:
        return L.get_activation(spec.kind), shape
    if spec.kind == "softmax":
        if len(shape) != 1:
            raise SpecError(f"{where}: softmax needs class scores, add fc<N> before it")
        return L.Softmax(), shape
    if spec.kind == "flatten":
        return L.Flatten(), (math.prod(shape),)
    if spec.kind == "gap":
        return L.GlobalAvgPool2d(), (shape[0],)
    if spec.kind == "dropout":
        return L.Dropout(spec.rate), shape
    if spec.kind == "bn":
        return (L.BatchNorm2d(shape[0]) if len(shape) == 3 else L.BatchNorm1d(shape[0])), shape
    raise SpecError(f"{where}: no builder for layer kind {spec.kind!r}")


def _output_side(size: int, k: int, s: int, pad: tuple[int, int], where: str, what: str) -> int:
    padded = size + pad[0] + pad[1]
    if k > padded:
        raise SpecError(f"{where}: {what} {k}x{k} is larger than its {size}x{size} input"
                        + (f" (padded to {padded})" if padded != size else ""))
    if (padded - k) % s and pad == (0, 0):
        raise SpecError(f"{where}: stride {s} does not tile the {size}x{size} input: "
                        f"({size} - {k})/{s} + 1 = {(padded - k) / s + 1:.3g}; "
                        f"pad it or change the stride")
    return conv_output_size(size, k, s, pad)


def _build_conv(spec: LayerSpec, shape: tuple[int, ...], where: str, used: int = 0):
    c_in, h, w = shape
    k, s = spec.kernel, spec.step
    if spec.padding == "same":
        pads_h, pads_w = same_padding(h, k, s), same_padding(w, k, s)
    else:
        p = int(spec.padding) if spec.padding != "valid" else 0
        pads_h = pads_w = (p, p)
    h_out = _output_side(h, k, s, pads_h, where, "kernel")
    w_out = _output_side(w, k, s, pads_w, where, "kernel")
    padding = 0 if spec.padding == "valid" else spec.padding
    check_size(where, conv_params(k, c_in, spec.size, spec.bias), (spec.size, h_out, w_out), used)
    if spec.table == "c3":
        if (c_in, spec.size) != (6, 16):
            raise SpecError(f"{where}: the C3 connection table joins 6 maps to 16, "
                            f"got {c_in} -> {spec.size}")
        module = L.ConnectionTableConv2d(c_in, spec.size, k, L.lenet_c3_table(), s, padding,
                                         spec.bias)
    else:
        module = L.Conv2d(c_in, spec.size, k, s, padding, spec.bias)
    return module, (spec.size, h_out, w_out)


def _build_pool(spec: LayerSpec, shape: tuple[int, ...], where: str):
    c, h, w = shape
    k, s, p = spec.size, spec.step, int(spec.padding) if spec.padding != "valid" else 0
    if p > k // 2:
        raise SpecError(f"{where}: padding {p} must be at most half the window {k}")
    h_out = _output_side(h, k, s, (p, p), where, "window")
    w_out = _output_side(w, k, s, (p, p), where, "window")
    check_size(where, 0, (c, h_out, w_out), 0)
    if spec.kind == "maxpool":
        module = L.MaxPool2d(k, s, p)
    elif spec.kind == "avgpool":
        module = L.AvgPool2d(k, s, p)
    elif spec.kind == "sumpool":
        module = L.SumPool2d(k, s, p)
    else:
        module = L.Subsample2d(c, k, s, p)
    return module, (c, h_out, w_out)
