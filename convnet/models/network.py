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

from .. import kinds, notebook
from ..errors import ModelError, SpecError
from ..shapes import check_size
from ..spec import LayerSpec, parse, to_text
from ..summary import summarize


class Network(nn.Module):
    """A ConvNet: ``features`` then ``head``; ``net(x)`` returns logits, as in PyTorch.

    The head ends in the softmax the tutorials draw (summary, serve and explain show it as the
    last layer), but ``forward`` stops before it: ``net(x)`` gives the class scores that
    ``nn.CrossEntropyLoss`` expects (it applies log-softmax itself; a second softmax would
    flatten the gradients), and ``net.probabilities(x)`` runs the whole head, softmax
    included. ``net.logits(x)`` is ``net(x)``, kept for older callers.

    Every registered model compiles with ``torch.jit.script`` (``forward``, ``probabilities``
    and ``logits``); the ``num_classes`` property stays Python only.

    Args:
        features (nn.Sequential): named layers that keep the (N, C, H, W) layout.
        head (nn.Sequential): named layers from the flatten onwards (fc ..., softmax).
        input_shape (tuple[int, int, int]): (C, H, W) the network was built for.
        spec (str | None): the one-line definition, when the network came from one.

    Shape:
        Input (N, C, H, W) -> Output (N, num_classes): logits from ``net(x)``; rows summing
        to 1 from ``net.probabilities(x)``.

    Example:
        >>> net = Network.from_spec("conv6@5x5 relu maxpool2 fc10 softmax", (1, 32, 32))
        >>> [n for n, _ in net.features.named_children()], [n for n, _ in net.head.named_children()]
        (['conv1', 'relu1', 'maxpool1'], ['flatten', 'fc1', 'softmax'])
        >>> x = torch.zeros(2, 1, 32, 32)
        >>> torch.equal(net.probabilities(x), net(x).softmax(dim=1))
        True
        >>> [round(v, 6) for v in net.probabilities(x).sum(dim=1).tolist()]
        [1.0, 1.0]
    """

    __jit_unused_properties__ = ["num_classes"]  # Python only: torch.jit.script skips it

    def __init__(self, features: nn.Sequential, head: nn.Sequential,
                 input_shape: tuple[int, int, int], spec: str | None = None):
        super().__init__()
        self.features = features
        self.head = head
        self.input_shape = tuple(input_shape)
        self.spec = spec
        self.scripted_logit_layers = logit_layers(head)  # see _logit_layers

    def __prepare_scriptable__(self) -> "Network":
        """torch.jit.script calls this first: the head may have been replaced since __init__."""
        self.scripted_logit_layers = logit_layers(self.head)
        return self

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
        """The head's layers up to, not including, a final softmax: (N, ...) -> (N, K) logits."""
        stop = self._logit_layers()
        for i, module in enumerate(self.head):
            if i < stop:
                x = module(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, K): what ``nn.CrossEntropyLoss`` takes; ``probabilities`` for softmax."""
        return self.forward_head(self.features(x))

    @torch.jit.export
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, K): every layer, the head's softmax included (so forward
        hooks see it, as summaries and feature maps show it), or a softmax added if it has none.
        """
        x = self.head(self.features(x))
        return x if self._logit_layers() < len(self.head) else x.softmax(dim=1)

    def _logit_layers(self) -> int:
        # Eager code looks at the head now (it may have been edited since __init__); a scripted
        # module cannot test a module's class, so it uses the count __prepare_scriptable__ took.
        if torch.jit.is_scripting():
            return self.scripted_logit_layers
        return logit_layers(self.head)

    def train_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``net(x)``, bit for bit, computed faster for training (``max_first``'s order).

        Example:
            >>> net = Network.from_spec("conv6@5x5 relu maxpool2 fc10", (1, 32, 32))
            >>> x = torch.randn(2, 1, 32, 32)
            >>> torch.equal(net.train_logits(x), net(x))
            True
        """
        for layer in max_first(self.features):
            x = layer(x)
        return self.forward_head(x)

    @torch.jit.export
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``net(x)``: the scores before the softmax (the name older code calls)."""
        return self.forward(x)

    def _repr_html_(self) -> str:
        """Jupyter shows the summary table, titled with the registry name or spec line."""
        title = getattr(self, "name", None) or self.spec or type(self).__name__
        return notebook.summary_html(summarize(self), title)


def logit_layers(head: nn.Sequential) -> int:
    """How many of ``head``'s layers give the logits: all but a final softmax.

    Example:
        >>> logit_layers(nn.Sequential(nn.Linear(4, 2), nn.Softmax(dim=1)))
        1
    """
    ends_in_softmax = len(head) > 0 and isinstance(head[-1], nn.Softmax)
    return len(head) - 1 if ends_in_softmax else len(head)


def max_first(layers: nn.Sequential) -> list[nn.Module]:
    """``layers`` with each max pool moved before the ReLU just before it: the same output and
    gradients (relu(max(window)) == max(relu(window)) exactly), with the ReLU, forward and
    backward, on a quarter of the values after a 2x2 pool: LeNet-5's step, 1.03-1.19x faster
    (docs/performance.md). The network itself keeps the tutorials' order, which its pictures show.

    Example:
        >>> net = Network.from_spec("conv6@5x5 relu maxpool2 conv16@5x5 relu fc10", (1, 32, 32))
        >>> [type(m).__name__ for m in max_first(net.features)]
        ['Conv2d', 'MaxPool2d', 'ReLU', 'Conv2d', 'ReLU']
    """
    out = list(layers)
    for i in range(len(out) - 1):
        kind, after = kinds.of(out[i]), kinds.of(out[i + 1])
        if kind is not None and kind.commutes_with_max and after is kinds.MAXPOOL:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


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
