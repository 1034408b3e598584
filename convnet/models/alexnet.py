"""AlexNet (Krizhevsky et al. 2012) and ZF Net (Zeiler & Fergus 2013): five convolutions, three
fully connected layers, ReLU, overlapping 3x3/2 max pooling and dropout.

ZF Net is AlexNet retuned after looking at its filters with a deconvnet: a smaller first filter
and stride (7x7/2 instead of 11x11/4) that keep more of the image, and wider layers 1 to 4.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .. import layers as L
from .registry import register_model
from .network import Network

# The classifier both papers share: 256x6x6 = 9,216 inputs into FC 4096-4096-classes.
PAPER_HEAD = "flatten dropout0.5 fc4096 relu dropout0.5 fc4096 relu fc{} softmax"


def insert_after(net: Network, extra: dict[str, tuple[str, nn.Module]]) -> Network:
    """A copy of ``net`` with ``extra[name] = (new_name, module)`` placed after feature ``name``.

    For layers the spec grammar has no token for (local response normalisation); the result
    has ``spec=None`` because the line no longer describes it.

    Example:
        >>> net = Network.from_spec("conv4@3x3 relu fc2 softmax", (1, 8, 8))
        >>> net = insert_after(net, {"relu1": ("lrn1", L.LocalResponseNorm())})
        >>> list(net.features.named_children())[-1][0], net.spec
        ('lrn1', None)
    """
    layers = OrderedDict()
    for name, module in net.features.named_children():
        layers[name] = module
        if name in extra:
            new_name, new_module = extra[name]
            layers[new_name] = new_module
    return Network(nn.Sequential(layers), net.head, net.input_shape, spec=None)


@register_model("alexnet", input_shape=(3, 224, 224), num_classes=1000)
def alexnet(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """AlexNet as torchvision builds it: one tower (64, 192, 384, 256, 256 filters), 224x224.

    This is the single-GPU variant of Krizhevsky's "One weird trick" (2014), without local
    response normalisation. With 2 zeros of padding, 11x11/4 takes 224 to
    floor((224 + 4 - 11)/4) + 1 = 55, as the paper's unpadded 227 does. The pools then give
    27, 13 and 6, so torchvision's adaptive 6x6 average pool is the identity and is left out.

    >>> sum(p.numel() for p in alexnet().parameters())   # 2,469,696 conv + 58,631,144 fc
    61100840
    """
    spec = ("conv64@11x11/s4/p2 relu maxpool3/s2 conv192@5x5/p2 relu maxpool3/s2 "
            "conv384@3x3/p1 relu conv256@3x3/p1 relu conv256@3x3/p1 relu maxpool3/s2 "
            + PAPER_HEAD.format(num_classes))
    return Network.from_spec(spec, (in_chans, 224, 224))


@register_model("zfnet", input_shape=(3, 224, 224), num_classes=1000)
def zfnet(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """ZF Net (Zeiler & Fergus 2013, Figure 3): 96@7x7/2, 256@5x5/2, 384, 384, 256 @3x3,
    each pool 3x3/2 and the first two followed by contrast normalisation across maps (here
    LocalResponseNorm with AlexNet's constants), then FC 4096-4096-classes with dropout.

    Sizes follow the figure: 224 -> 110 -> 55 -> 26 -> 13 -> 6, which needs 1 zero of padding
    on the first conv and the first two pools. It has 62,357,608 parameters, 1,256,768 more
    than torchvision's AlexNet (61,100,840): the classifier is the same (256x6x6 inputs), but
    the convolutions are wider: 96 first-layer filters feeding 256 (AlexNet: 64 feeding 192),
    and 384 -> 384 -> 256 for layers 3 to 5 (AlexNet: 384 -> 256 -> 256). The 7x7 first
    filters are the one saving: 14,208 weights instead of 23,296.

    >>> sum(p.numel() for p in zfnet().parameters())   # 3,726,464 conv + 58,631,144 fc
    62357608
    """
    spec = ("conv96@7x7/s2/p1 relu maxpool3/s2/p1 conv256@5x5/s2 relu maxpool3/s2/p1 "
            "conv384@3x3/p1 relu conv384@3x3/p1 relu conv256@3x3/p1 relu maxpool3/s2 "
            + PAPER_HEAD.format(num_classes))
    net = Network.from_spec(spec, (in_chans, 224, 224))
    return insert_after(net, {"maxpool1": ("lrn1", L.LocalResponseNorm()),
                              "maxpool2": ("lrn2", L.LocalResponseNorm())})


# Small variants: the same five convolutions, batch norm instead of LRN (it trains in a few
# epochs from scratch), FC 1024-1024; the pools take 32x32 to 2x2 (256x2x2 = 1,024 inputs).
SMALL_HEAD = "flatten dropout0.5 fc1024 relu dropout0.5 fc1024 relu fc{} softmax"


@register_model("alexnet-small", input_shape=(3, 32, 32), recipes={
    "photos": {"epochs": 5, "lr": 0.1},  # FC 1024-1024 without BN: half the rate
    "digits": {"epochs": 2, "lr": 3e-3, "shift": 2, "precision": "bf16"},
    "fashion-mnist": {"epochs": 3}})
def alexnet_small(num_classes: int = 10, in_chans: int = 3) -> Network:
    """AlexNet for 32x32 images: the torchvision widths with a 5x5/2 first layer (32 -> 16),
    then pools to 8, 4 and 2. Registered at 32x32; 28x28 also ends at 2x2 (14, 7, 4, 2), so
    unpadded MNIST works too.

    >>> sum(p.numel() for p in alexnet_small().parameters())
    4561866
    """
    spec = ("conv64@5x5/s2/p2/nobias bn relu maxpool3/s2/p1 conv192@5x5/p2/nobias bn relu "
            "maxpool3/s2/p1 conv384@3x3/p1/nobias bn relu conv256@3x3/p1/nobias bn relu "
            "conv256@3x3/p1/nobias bn relu maxpool3/s2/p1 " + SMALL_HEAD.format(num_classes))
    return Network.from_spec(spec, (in_chans, 32, 32))


@register_model("zfnet-small", input_shape=(3, 32, 32), recipes={
    "photos": {"epochs": 5, "lr": 0.1},  # the costliest small model per image
    "digits": {"epochs": 2, "lr": 3e-3, "shift": 2, "precision": "bf16"},
    "fashion-mnist": {"epochs": 3}})
def zfnet_small(num_classes: int = 10, in_chans: int = 3) -> Network:
    """ZF Net for 32x32 images: ZF's change to alexnet-small in miniature, a smaller first
    filter and stride (96@3x3/1, so the first pool sees 32x32 rather than 16x16), the 5x5
    stride moved to layer 2 (256@5x5/2), and ZF's wider 384-384-256 layers 3 to 5.

    >>> sum(p.numel() for p in zfnet_small().parameters())
    5825770
    """
    spec = ("conv96@3x3/p1/nobias bn relu maxpool3/s2/p1 conv256@5x5/s2/p2/nobias bn relu "
            "maxpool3/s2/p1 conv384@3x3/p1/nobias bn relu conv384@3x3/p1/nobias bn relu "
            "conv256@3x3/p1/nobias bn relu maxpool3/s2/p1 " + SMALL_HEAD.format(num_classes))
    return Network.from_spec(spec, (in_chans, 32, 32))
