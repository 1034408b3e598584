"""Network: ``features`` (convolution, non-linearity, pooling) then ``head`` (fc ... softmax).

The split follows the tutorials' picture (feature extractor, then classifier) and timm's
``forward_features`` / ``forward_head`` (the features alone, e.g. to fit a new head). The
pictures of a network (feature maps, Grad-CAM, the page) need neither: they read every layer
through forward hooks (``viz.capture``), which work on any module.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .. import kinds
from ..errors import ModelError, SpecError
from ..shapes import check_size
from ..spec import LayerSpec, parse, to_text


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
        """The outputs, read off the layers' sizes (no forward pass: any device will do)."""
        shape = kinds.output_shape([*self.features, *self.head], self.input_shape)
        if shape is None or len(shape) != 1:
            raise ModelError(f"cannot tell the number of classes of this network: its layers "
                             f"end in {'an unknown shape' if shape is None else shape}")
        return shape[0]

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
    """Turn LayerSpecs into named modules, each built by its kind (``convnet.kinds``), tracking
    the shape to infer channels and check sizes."""
    features, head = OrderedDict(), OrderedDict()
    counts: dict[str, int] = {}
    shape, params = input_shape, 0
    for position, spec in enumerate(specs, 1):
        where = f"layer {position} {spec.text()!r}"
        kind = kinds.find(spec.kind)
        if kind is None or kind.form is None:
            raise SpecError(f"{where}: no builder for layer kind {spec.kind!r}")
        if kind.flattens and len(shape) == 3:  # the tutorials' fc after a conv: flatten first
            head["flatten"], shape = kinds.FLATTEN.build(spec, shape, where, params)
        module, shape = kind.build(spec, shape, where, params)
        params += sum(p.numel() for p in module.parameters())
        counts[kind.name] = counts.get(kind.name, 0) + 1
        name = f"{kind.name}{counts[kind.name]}" if kind.numbered else kind.name
        target = features if (len(shape) == 3 and not head) else head
        if name in target:
            raise SpecError(f"{where}: only one {kind.name} layer is allowed")
        target[name] = module
    if not head:
        raise SpecError("the network never reaches a classifier: end it with fc<N> (and softmax)")
    return nn.Sequential(features), nn.Sequential(head)
