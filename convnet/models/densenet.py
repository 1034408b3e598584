"""DenseNets (Huang et al. 2016): inside a block, every layer sees the maps of all earlier ones.

Each layer adds only ``growth`` new maps to the running concatenation, so the layers are narrow;
transitions between blocks halve the maps (compression 0.5, "DenseNet-BC") and the size.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .. import layers as L
from .registry import register_model
from .network import Network


def dense_stages(features: OrderedDict, channels: int, depths: tuple[int, ...], growth: int
                 ) -> int:
    """Append denseblock1, transition1, ..., denseblockN, norm5, relu5; return the output maps."""
    for i, depth in enumerate(depths, 1):
        features[f"denseblock{i}"] = L.DenseBlock(depth, channels, growth)
        channels += depth * growth
        if i < len(depths):  # no transition after the last block: global pooling follows
            features[f"transition{i}"] = L.Transition(channels, channels // 2)
            channels //= 2
    # Pre-activation layers leave the last block's output un-normalised: BN + ReLU close it.
    features["norm5"], features["relu5"] = L.BatchNorm2d(channels), L.ReLU()
    return channels


def _head(in_features: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(gap=L.GlobalAvgPool2d(),  # (N, C, H, W) -> (N, C)
                                     fc1=L.Linear(in_features, num_classes),
                                     softmax=L.Softmax()))


@register_model("densenet121", input_shape=(3, 224, 224), num_classes=1000)
def densenet121(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """DenseNet-121 (Huang et al. 2016, Table 1), as torchvision: k = 32, blocks [6, 12, 24, 16].

    Stem: 7x7/2 conv with 64 maps, BN, ReLU, 3x3/2 max pool (224 -> 56); block sizes 56, 28,
    14, 7; 1,024 maps into the classifier.

    >>> sum(p.numel() for p in densenet121().parameters())
    7978856
    """
    features = OrderedDict(conv0=L.Conv2d(in_chans, 64, 7, 2, 3, bias=False),
                           norm0=L.BatchNorm2d(64), relu0=L.ReLU(), pool0=L.MaxPool2d(3, 2, 1))
    channels = dense_stages(features, 64, (6, 12, 24, 16), growth=32)
    return Network(nn.Sequential(features), _head(channels, num_classes), (in_chans, 224, 224))


@register_model("densenet-small", input_shape=(3, 32, 32), recipes={
    "photos": {"epochs": 5},
    "digits": {"epochs": 2, "lr": 3e-3, "shift": 2, "precision": "bf16"},
    "fashion-mnist": {"epochs": 3}})
def densenet_small(num_classes: int = 10, in_chans: int = 3) -> Network:
    """A DenseNet-BC for 32x32 images: 3x3 stem with 32 maps, 2x2 max pool, blocks [6, 8, 8]
    with k = 16 at 16x16, 8x8 and 4x4, then global average pooling.

    Starting the blocks at 16x16 rather than 32x32 (as the paper's CIFAR DenseNets do) cuts the
    multiply-adds by about 4 (36 M per 32x32 image) so an MNIST epoch takes minutes on two CPU
    cores. Any H, W >= 8 works (28x28 too: 14, 7, 3); it is registered at 32x32.

    >>> sum(p.numel() for p in densenet_small().parameters())
    408586
    """
    features = OrderedDict(conv0=L.ConvBNAct(in_chans, 32, 3), pool0=L.MaxPool2d(2))
    channels = dense_stages(features, 32, (6, 8, 8), growth=16)
    return Network(nn.Sequential(features), _head(channels, num_classes), (in_chans, 32, 32))
