"""GoogLeNet (Szegedy et al. 2014): a stem, then nine Inception modules between max pools.

An Inception module runs 1x1, 3x3 and 5x5 convolutions and a max pool side by side and stacks
their maps; cheap 1x1 convolutions first reduce the maps the 3x3 and 5x5 see, which is how a
22-layer network gets by with 12x fewer parameters than AlexNet.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .. import layers as L
from .registry import register_model
from .network import Network

# Table 1 of the paper: (name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj);
# "maxpoolN" halves the size (3x3, stride 2).
INCEPTION_CFG = [
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    "maxpool3",
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    "maxpool4",
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
]


def inception_stages(features: OrderedDict, channels: int, scale: int = 1, big_kernel: int = 5
                     ) -> int:
    """Append INCEPTION_CFG's modules (widths divided by ``scale``); return the output maps."""
    for item in INCEPTION_CFG:
        if isinstance(item, str):
            features[item] = L.MaxPool2d(3, 2, 1)  # (H + 2 - 3)//2 + 1: 28 -> 14 -> 7
            continue
        name, *widths = item
        c1, c3r, c3, c5r, c5, proj = (w // scale for w in widths)
        features[name] = L.Inception(channels, c1, c3r, c3, c5r, c5, proj, big_kernel)
        channels = c1 + c3 + c5 + proj
    return channels


def _head(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(OrderedDict(gap=L.GlobalAvgPool2d(),  # (N, C, 7, 7) -> (N, C)
                                     dropout1=L.Dropout(dropout),
                                     fc1=L.Linear(in_features, num_classes),
                                     softmax=L.Softmax()))


@register_model("googlenet", input_shape=(3, 224, 224), num_classes=1000)
def googlenet(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """GoogLeNet as torchvision builds it: BN after every conv, no auxiliary classifiers.

    Stem: 7x7/2 conv 64, max pool, 1x1 conv 64, 3x3 conv 192, max pool (224 -> 28); all max
    pools are 3x3/2 with 1 zero of padding (sizes 112, 56, 28, 14, 7, as the paper's table).
    Like torchvision, branch3 uses a 3x3 where the paper has a 5x5 (pytorch/vision#906), which
    is what gives its 6,624,904 parameters; the paper's 5x5 would give 7,005,832.
    Dropout 0.2 before the classifier, as torchvision (the paper used 0.4).

    >>> sum(p.numel() for p in googlenet().parameters())
    6624904
    """
    features = OrderedDict(conv1=L.ConvBNAct(in_chans, 64, 7, 2), maxpool1=L.MaxPool2d(3, 2, 1),
                           conv2=L.ConvBNAct(64, 64, 1), conv3=L.ConvBNAct(64, 192, 3),
                           maxpool2=L.MaxPool2d(3, 2, 1))
    channels = inception_stages(features, 192, big_kernel=3)
    return Network(nn.Sequential(features), _head(channels, num_classes, 0.2),
                   (in_chans, 224, 224))


@register_model("googlenet-small", input_shape=(3, 32, 32), recipes={
    "photos": {"epochs": 5},
    "digits": {"epochs": 2, "lr": 3e-3, "shift": 2, "precision": "bf16"},
    "fashion-mnist": {"epochs": 3}})
def googlenet_small(num_classes: int = 10, in_chans: int = 3) -> Network:
    """GoogLeNet for 32x32 images: the paper's nine Inception modules at a quarter of the width
    (5x5 branches, as the paper), after a 3x3 stem (conv 32, max pool, 1x1 conv 32, 3x3 conv 48).

    The modules run at 16x16, 8x8 and 4x4 (the paper: 28, 14, 7); any H, W >= 8 works (28x28
    too). It is registered at 32x32.

    >>> sum(p.numel() for p in googlenet_small().parameters())
    387122
    """
    features = OrderedDict(conv1=L.ConvBNAct(in_chans, 32, 3), maxpool1=L.MaxPool2d(3, 2, 1),
                           conv2=L.ConvBNAct(32, 32, 1), conv3=L.ConvBNAct(32, 48, 3))
    channels = inception_stages(features, 48, scale=4)
    return Network(nn.Sequential(features), _head(channels, num_classes, 0.2), (in_chans, 32, 32))
